"""Extraction tables (studies.tsv, outcomes.tsv): typed rows, schema-validated, errors naming file:line."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any


from .config import SCHEMA_DIR, error_path, first_schema_error, load_yaml, schema_label, schema_message, schema_validator
from .constants import LIST_SEP
from .errors import ConfigError, InputFormatError
from .records import split_list
from .tables import read_tsv, tsv_header

STUDIES_SCHEMA = SCHEMA_DIR / "studies.schema.yaml"
OUTCOMES_SCHEMA = SCHEMA_DIR / "outcomes.schema.yaml"

STUDY_FIELDS: tuple[str, ...] = (
    "study_id",
    "reports",  # report keys joined by LIST_SEP: PMID when the report has one, else DOI
    "primary_report",
    "year",  # publication year of the primary report (cumulative meta-analysis order)
    "design",
    "crossover",  # true | false | "" (not reported)
    "population",
    "outside_population",  # optional: participants counted in n_randomized who are outside the review's population, in words
    "n_randomized",
    "n_per_arm",  # "arm: n; arm: n" as reported
    "dose",  # "0.5", or "0.2; 0.5" for multi-dose trials, "" when not reported
    "infusions",  # single | repeated
    "infusion_schedule",
    "comparator",
    "comparator_type",  # active | inactive
    "co_intervention",
    "registration",
    "inferred_fields",  # columns whose value was inferred by the curators, not read
    "notes",
    "source",
)

OUTCOME_FIELDS: tuple[str, ...] = (
    "outcome_id",  # "<study_id>#<n>" (n = 1-based position in the study's reported results)
    "study_id",
    "report_key",  # PMID or DOI of the report the number comes from
    "domain",  # an outcome domain id of the protocol (the default review: ptsd_severity, ptsd_response, depression, ...)
    "scale",
    "timepoint",
    "timepoint_days",  # days after the start of the intervention (the first infusion); "" when not one point in time
    "primary_endpoint",  # true when this is the trial's primary endpoint for the review's question
    "statistic_kind",  # see STATISTIC_KINDS
    "statistic",  # the statistic as the report words it
    "value_text",  # the value exactly as read
    "estimate",
    "ci_low",
    "ci_high",
    "se",
    "p",  # as read, may be "<.001"
    "t",
    "n_intervention",
    "n_control",
    "mean_intervention",
    "sd_intervention",
    "mean_control",
    "sd_control",
    "events_intervention",
    "events_control",
    "direction",  # sign convention of `estimate`: intervention_minus_control | control_minus_intervention | ""
    "lower_is_better",  # true when lower scale values mean fewer symptoms
    "favours",  # direction as reported: intervention | control | none | mixed | "" (not a comparison)
    "significant",  # yes | no | "" (as reported)
    "inferred",  # true when the number was inferred (e.g. by arithmetic), not read
    "note",
    "sources",  # pages the number was read from, joined by LIST_SEP
    "location",  # where in the curated evidence: studies.json <study_id> reported_results[<i>]
)

STATISTIC_KINDS: tuple[str, ...] = (
    "mean_sd",  # arm means, SDs and n at follow-up
    "change_sd",  # arm mean changes from baseline, SDs of change and n
    "md_ci",  # mean difference with 95% CI
    "md_se",  # mean difference with SE
    "md_only",  # mean difference without a precision
    "smd_ci",  # SMD / Cohen's d with 95% CI
    "t_n",  # t statistic with n per arm
    "p_n",  # exact two-sided p with n per arm (sign from `direction`/`favours`)
    "counts",  # events and n per arm (2x2 table)
    "percent",  # percentages per arm (not usable without n)
    "p_only",  # a p value alone
    "direction_only",  # direction / significance in words, no numbers
    "other",  # a statistic not used for between-arm effect sizes (betas, HDIs, correlations)
)


@dataclass(frozen=True)
class Study:
    """One included study (a row of studies.tsv)."""

    study_id: str
    reports: tuple[str, ...]
    primary_report: str
    year: int | None
    design: str
    crossover: bool | None
    population: str
    n_randomized: int | None
    n_per_arm: str
    dose: tuple[float, ...]
    infusions: str
    infusion_schedule: str
    comparator: str
    comparator_type: str
    co_intervention: str
    registration: str
    inferred_fields: tuple[str, ...]
    notes: str
    source: str
    line: int = 0

    def dose_label(self, unit: str = "") -> str:
        """Dose subgroup label: "0.5 mg/kg", "0.2 and 0.5 mg/kg", "0.2, 0.5 and 1 mg/kg" (``unit`` "mg/kg")
        or "not reported". The doses are joined with words, not LIST_SEP: the label stands in sentences
        whose parts are separated by "; " (the report's subgroup results), where "0.2; 0.5 mg/kg" would
        read as two subgroups."""
        if not self.dose:
            return "not reported"
        doses = [f"{d:g}" for d in self.dose]
        text = doses[0] if len(doses) == 1 else f"{', '.join(doses[:-1])} and {doses[-1]}"
        return text + (f" {unit}" if unit else "")


@dataclass(frozen=True)
class OutcomeRow:
    """One reported number (a row of outcomes.tsv); numeric cells are None when empty."""

    outcome_id: str
    study_id: str
    report_key: str
    domain: str
    scale: str
    timepoint: str
    timepoint_days: float | None
    primary_endpoint: bool
    statistic_kind: str
    statistic: str
    value_text: str
    estimate: float | None
    ci_low: float | None
    ci_high: float | None
    se: float | None
    p: str
    t: float | None
    n_intervention: int | None
    n_control: int | None
    mean_intervention: float | None
    sd_intervention: float | None
    mean_control: float | None
    sd_control: float | None
    events_intervention: int | None
    events_control: int | None
    direction: str
    lower_is_better: bool | None
    favours: str
    significant: str
    inferred: bool
    note: str
    sources: str
    location: str
    line: int = 0

    @property
    def where(self) -> str:
        """A short pointer for messages and plots: outcome_id (outcomes.tsv:line)."""
        return f"{self.outcome_id} (outcomes.tsv:{self.line})"

    @property
    def p_value(self) -> float | None:
        """The p value as a number when it was reported exactly, else None."""
        try:
            val = float(self.p)
        except ValueError:
            return None
        return val if 0 < val <= 1 else None


def _schema(path: Path) -> dict[str, Any]:
    data = load_yaml(path)
    if not isinstance(data, dict):
        raise ConfigError("schema is not a mapping", where=str(path), fix="restore the schema file")
    return data


def _validate_rows(rows: list[dict[str, str]], schema_path: Path, path: str | os.PathLike[str]) -> None:
    """Check each row of a table against its schema (``schema_path``); raise on the first bad cell,
    naming file:line, the column and, in the fix, the schema by its path in the project."""
    schema = _schema(schema_path)
    see = f"see {schema_label(schema_path)}"
    validator = schema_validator(schema)
    for row in rows:
        cells = {k: v for k, v in row.items() if k != "_line"}
        err = first_schema_error(validator, cells)
        if err is not None:
            column = error_path(err, empty="(row)")
            desc = ""
            if err.absolute_path:
                prop = schema.get("properties", {}).get(str(err.absolute_path[0]), {})
                desc = prop.get("description", "")
            raise InputFormatError(
                f"column '{column}': {schema_message(err)}",
                where=f"{path}:{row['_line']}",
                fix=(f"write the value in that form ({see})" if err.validator == "pattern" and desc else f"{desc} ({see})" if desc else see),
            )


# studies.tsv columns a protocol may leave out (empty when absent).
OPTIONAL_STUDY_FIELDS: tuple[str, ...] = ("outside_population", "infusions", "infusion_schedule")


# Column names of the first (ketamine-only) extraction tables, renamed when the tables became
# protocol-neutral: a table still using one gets the rename in its error.
RENAMED_COLUMNS: dict[str, str] = {
    "ketamine_dose_mg_per_kg": "dose",
    "n_ketamine": "n_intervention",
    "mean_ketamine": "mean_intervention",
    "sd_ketamine": "sd_intervention",
    "events_ketamine": "events_intervention",
}


def read_table(path: str | os.PathLike[str], required: tuple[str, ...]) -> list[dict[str, str]]:
    """``read_tsv`` of a human-edited table (a byte that is not UTF-8, e.g. from a spreadsheet saved
    as latin-1, is an InputFormatError naming file:line), after checking its header: no unnamed
    column and no column name of the first, ketamine-only tables (RENAMED_COLUMNS)."""
    if Path(path).is_file():
        check_column_names(path)
        old = [c for c in tsv_header(path) if c in RENAMED_COLUMNS]
        if old:
            raise InputFormatError(
                f"column(s) {', '.join(old)} were renamed when the tables became protocol-neutral",
                where=f"{path}:1",
                fix="rename " + ", ".join(f"{c} -> {RENAMED_COLUMNS[c]}" for c in old)
                + " (and in outcomes.tsv the values ketamine -> intervention in favours, ketamine_minus_control -> intervention_minus_control,"
                " control_minus_ketamine -> control_minus_intervention in direction)",
            )
    return read_tsv(path, required=required)


def check_column_names(path: str | os.PathLike[str]) -> None:
    """Refuse a header column without a name (usually a tab at the end of the header line, as some
    spreadsheets export): extra columns are carried into the results, so it would become an unnamed
    column there and the results would differ from the same table without the tab."""
    header = tsv_header(path)
    blank = [i for i, name in enumerate(header, start=1) if not name.strip()]
    if blank:
        trailing = " (a tab at the end of the header line)" if blank[-1] == len(header) else ""
        raise InputFormatError(
            f"column {blank[0]} of {len(header)} in the header has no name{trailing}",
            where=f"{path}:1",
            fix="delete the trailing tab(s) of the header line (and of the rows), or give the column a name",
        )


# Columns of outcomes.tsv read as decimal numbers (the schema's number / positive cells).
OUTCOME_NUMBER_COLUMNS: tuple[str, ...] = (
    "timepoint_days",
    "estimate",
    "ci_low",
    "ci_high",
    "se",
    "t",
    "mean_intervention",
    "sd_intervention",
    "mean_control",
    "sd_control",
)


def _check_finite(row: dict[str, str], columns: tuple[str, ...], where: str) -> None:
    """Refuse a cell the schema's pattern allows but that reads as infinity (e.g. '1e999'):
    it would otherwise become "not reported" without a word."""
    for column in columns:
        for part in _split(row[column]) if row[column] else ():
            if not math.isfinite(float(part)):
                raise InputFormatError(
                    f"column '{column}': {part!r} is too large to be a number (it reads as infinity)",
                    where=where,
                    fix="write the value as reported, as an ordinary decimal number",
                )


def _num(text: str) -> float | None:
    if text == "":
        return None
    val = float(text)
    return val if math.isfinite(val) else None


def _int(text: str) -> int | None:
    return None if text == "" else int(float(text))


def _bool(text: str) -> bool | None:
    return None if text == "" else text.lower() == "true"


def _split(text: str) -> tuple[str, ...]:
    return tuple(split_list(text))


def load_studies(path: str | os.PathLike[str]) -> list[Study]:
    """Read and validate studies.tsv (workflow/schemas/studies.schema.yaml).

    Raises InputFormatError naming file:line and column on the first bad cell, a duplicate
    study_id, a report key (any letter case) listed by two studies, or a primary_report that is not
    among the study's reports. (Two different keys of one report, a PMID and a DOI, are found only
    when linking resolves them to records.)
    """
    rows = read_table(path, tuple(f for f in STUDY_FIELDS if f not in OPTIONAL_STUDY_FIELDS))
    for row in rows:  # columns a review may leave out (the ketamine review's infusions; outside_population: none)
        for name in OPTIONAL_STUDY_FIELDS:
            row.setdefault(name, "")
    _validate_rows(rows, STUDIES_SCHEMA, path)
    seen: dict[str, str] = {}
    listed: dict[str, tuple[str, str]] = {}  # report key (lower case) -> (study_id, line) of the first study listing it
    studies: list[Study] = []
    for row in rows:
        where = f"{path}:{row['_line']}"
        sid = row["study_id"]
        _check_finite(row, ("dose",), where)
        if sid in seen:
            raise InputFormatError(f"duplicate study_id {sid!r} (first at line {seen[sid]})", where=where, fix="give each study one row")
        seen[sid] = row["_line"]
        reports = _split(row["reports"])
        for key in reports:
            # linking (studies.link_studies) refuses a report two studies list, but only after dedup and screening ran;
            # the same key (in any letter case, as linking matches keys) is visible here
            first = listed.setdefault(key.lower(), (sid, row["_line"]))
            if first[0] != sid:
                raise InputFormatError(
                    f"report {key} is listed by study {sid} and by study {first[0]} (line {first[1]})",
                    where=where,
                    fix="a report belongs to one study; remove it from one of them",
                )
        if row["primary_report"] not in reports:
            raise InputFormatError(
                f"primary_report {row['primary_report']!r} is not one of the reports ({row['reports']})", where=where, fix="name one of the study's reports as primary"
            )
        studies.append(
            Study(
                study_id=sid,
                reports=reports,
                primary_report=row["primary_report"],
                year=_int(row["year"]),
                design=row["design"],
                crossover=_bool(row["crossover"]),
                population=row["population"],
                n_randomized=_int(row["n_randomized"]),
                n_per_arm=row["n_per_arm"],
                dose=tuple(float(x) for x in _split(row["dose"])),
                infusions=row["infusions"],
                infusion_schedule=row["infusion_schedule"],
                comparator=row["comparator"],
                comparator_type=row["comparator_type"],
                co_intervention=row["co_intervention"],
                registration=row["registration"],
                inferred_fields=_split(row["inferred_fields"]),
                notes=row["notes"],
                source=row["source"],
                line=int(row["_line"]),
            )
        )
    return studies


def load_outcomes(path: str | os.PathLike[str], studies: list[Study]) -> list[OutcomeRow]:
    """Read and validate outcomes.tsv against its schema and the studies.

    Raises InputFormatError naming file:line on a bad cell, a duplicate outcome_id, an unknown
    study_id, a report_key that is not one of the study's reports, a CI that does not contain its
    estimate, or a statistic kind whose required numbers are missing.
    """
    rows = read_table(path, OUTCOME_FIELDS)
    _validate_rows(rows, OUTCOMES_SCHEMA, path)
    by_id = {s.study_id: s for s in studies}
    seen: dict[str, str] = {}
    out: list[OutcomeRow] = []
    need: dict[str, tuple[str, ...]] = {
        "mean_sd": ("mean_intervention", "sd_intervention", "mean_control", "sd_control"),
        "change_sd": ("mean_intervention", "sd_intervention", "mean_control", "sd_control"),
        "md_ci": ("estimate", "ci_low", "ci_high"),
        "md_se": ("estimate", "se"),
        "smd_ci": ("estimate", "ci_low", "ci_high"),
        "t_n": ("t", "n_intervention", "n_control"),
        "p_n": ("p", "n_intervention", "n_control"),
        "counts": ("events_intervention", "n_intervention", "events_control", "n_control"),
    }
    for row in rows:
        where = f"{path}:{row['_line']}"
        oid = row["outcome_id"]
        _check_finite(row, OUTCOME_NUMBER_COLUMNS, where)
        if oid in seen:
            raise InputFormatError(f"duplicate outcome_id {oid!r} (first at line {seen[oid]})", where=where, fix="give each reported number its own id")
        seen[oid] = row["_line"]
        study = by_id.get(row["study_id"])
        if study is None:
            raise InputFormatError(f"study_id {row['study_id']!r} is not in studies.tsv", where=where, fix="add the study to studies.tsv or correct the id")
        if oid.rpartition("#")[0] != study.study_id:
            # The documented form is <study_id>#<n>; a row copied from another study and given a new
            # study_id would otherwise keep an id naming the wrong study in effects.tsv and traces.
            raise InputFormatError(
                f"outcome_id {oid!r} does not start with its study_id {study.study_id + '#'!r}",
                where=where,
                fix=f"name it {study.study_id}#<n> (a number unused in that study), or correct study_id",
            )
        if row["report_key"] not in study.reports:
            raise InputFormatError(
                f"report_key {row['report_key']!r} is not one of {study.study_id}'s reports ({LIST_SEP.join(study.reports)})", where=where, fix="use a key listed in studies.tsv"
            )
        missing = [c for c in need.get(row["statistic_kind"], ()) if row[c] == ""]
        if missing:
            raise InputFormatError(
                f"statistic_kind {row['statistic_kind']} needs {', '.join(missing)}", where=where, fix="fill the missing value(s) or use a statistic_kind that fits what was reported"
            )
        est, lo, hi = _num(row["estimate"]), _num(row["ci_low"]), _num(row["ci_high"])
        if est is not None and lo is not None and hi is not None and not (lo <= est <= hi):
            raise InputFormatError(f"estimate {est:g} is outside its CI {lo:g} to {hi:g}", where=where, fix="check the sign convention (column direction) and the CI")
        out.append(
            OutcomeRow(
                outcome_id=oid,
                study_id=row["study_id"],
                report_key=row["report_key"],
                domain=row["domain"],
                scale=row["scale"],
                timepoint=row["timepoint"],
                timepoint_days=_num(row["timepoint_days"]),
                primary_endpoint=row["primary_endpoint"] == "true",
                statistic_kind=row["statistic_kind"],
                statistic=row["statistic"],
                value_text=row["value_text"],
                estimate=est,
                ci_low=lo,
                ci_high=hi,
                se=_num(row["se"]),
                p=row["p"],
                t=_num(row["t"]),
                n_intervention=_int(row["n_intervention"]),
                n_control=_int(row["n_control"]),
                mean_intervention=_num(row["mean_intervention"]),
                sd_intervention=_num(row["sd_intervention"]),
                mean_control=_num(row["mean_control"]),
                sd_control=_num(row["sd_control"]),
                events_intervention=_int(row["events_intervention"]),
                events_control=_int(row["events_control"]),
                direction=row["direction"],
                lower_is_better=_bool(row["lower_is_better"]),
                favours=row["favours"],
                significant=row["significant"],
                inferred=row["inferred"] == "true",
                note=row["note"],
                sources=row["sources"],
                location=row["location"],
                line=int(row["_line"]),
            )
        )
    return out


def study_fields() -> tuple[str, ...]:
    """Names of the Study dataclass fields (for tests and the report)."""
    return tuple(f.name for f in fields(Study))
