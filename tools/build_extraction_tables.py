"""Build resources/extraction/{studies,outcomes}.tsv from the curated evidence (studies.json, records.json).

Usage: python tools/build_extraction_tables.py --evidence ../shared/evidence --out resources

Every number is copied from studies.json (value, CI, SE, p, n per arm); nothing is invented.
What this script adds is the coding a reviewer does when extracting: the outcome domain, the
statistic kind, the sign convention, the timepoint in days, and the reported direction of effect.
That coding is the table CODING below, one entry per reported result, checked against the
result's scale so a changed evidence file stops the build instead of being mis-coded. A study whose
randomized participants include people outside the review's population (people without PTSD) gets
them named in studies.tsv outside_population (OUTSIDE_POPULATION, checked against facts.design).
Only studies with curated_decision "include" go into studies.tsv; the excluded ones are
full-text exclusions recorded by the screening decisions, and are listed in the log.
A study's `reports` are its curated reports (primary first) and then its register entries in the
archived snapshot (a ClinicalTrials.gov record whose NCT id is the study's registration, keyed by its
record_id; tools/registry_links.py, read from <out>/snapshot_coverage.tsv): PRISMA 2020 counts a
register entry as a report. primary_report stays the curated primary report.
A studies.tsv or outcomes.tsv that holds rows this tool would not write (the team's extraction of a
later study) is not overwritten: the tool stops with one line naming the file and writes neither table
(tools/table_guard.py) unless --force.
"""

from __future__ import annotations

import argparse
import logging
import re
import sys
from pathlib import Path
from typing import Any

from livingreview.constants import LIST_SEP
from livingreview.errors import InputFormatError, LivingReviewError
from livingreview.extraction import OUTCOME_FIELDS, STUDY_FIELDS
from livingreview.tables import read_json

sys.path.insert(0, str(Path(__file__).resolve().parent))
from registry_links import COVERAGE, read_coverage, registry_links  # noqa: E402
from table_guard import write_tables  # noqa: E402

LOG = logging.getLogger("build_extraction_tables")
EVIDENCE_FIX = "pass the curated evidence folder (studies.json, records.json) with --evidence"

# Study-level coding (a reviewer's reading of facts.infusions / facts.comparator).
INFUSIONS = {  # single: one infusion (per crossover period); repeated: a course of infusions
    "Abdallah2022": "repeated",
    "Dadabayev2020": "single",
    "Duek2023": "single",
    "Feder2014": "single",
    "Feder2021": "repeated",
    "Pradhan2017_TIMBER": "single",
    "Pradhan2018_TIMBER": "single",
}
COMPARATOR_TYPE = {  # active: a psychoactive/analgesic drug; inactive: saline placebo
    "Abdallah2022": "inactive",
    "Dadabayev2020": "active",
    "Duek2023": "active",
    "Feder2014": "active",
    "Feder2021": "active",
    "Pradhan2017_TIMBER": "inactive",
    "Pradhan2018_TIMBER": "inactive",
}
CROSSOVER = {  # from facts.design; None = design details not retrieved
    "Abdallah2022": False,
    "Dadabayev2020": False,
    "Duek2023": False,
    "Feder2014": True,
    "Feder2021": False,
    "Pradhan2017_TIMBER": True,
    "Pradhan2018_TIMBER": None,
}

OUTSIDE_POPULATION = {  # participants outside the review's population (PTSD) that n_randomized counts:
    # (words that must be in facts.design, the reviewer's reading of them for studies.tsv outside_population)
    "Dadabayev2020": ("chronic-pain patients with and without PTSD", "chronic-pain patients without PTSD"),
}

# Outcome coding, one entry per reported result, in studies.json order:
# (scale prefix that must match, domain, statistic_kind, timepoint_days, primary_endpoint,
#  direction, lower_is_better, favours, significant, parse)
# parse: how the numbers are read from the result: "estimate" (value, CI, SE as given),
# "counts" ("a/n vs c/m"), "means_sd" ("m ± sd vs m ± sd"), "posterior" ("est (sd s)"), None.
CODING: dict[str, list[tuple[Any, ...]]] = {
    "Abdallah2022": [
        ("PCL-5", "ptsd_severity", "direction_only", None, True, "", True, "none", "no", None),
        ("CAPS-5", "ptsd_severity", "direction_only", None, False, "", True, "none", "no", None),
        ("PTSD symptoms", "ptsd_severity", "direction_only", None, False, "", True, "intervention", "yes", None),
        ("MADRS", "depression", "direction_only", None, False, "", True, "intervention", "yes", None),
    ],
    "Dadabayev2020": [
        ("IES-R", "ptsd_severity", "direction_only", None, True, "", True, "none", "", None),
    ],
    "Duek2023": [
        ("PTSD symptoms", "ptsd_severity", "direction_only", None, False, "", True, "none", "", None),
        ("amygdala", "neuroimaging", "other", None, False, "intervention_minus_control", None, "", "", "posterior"),
        ("hippocampus", "neuroimaging", "other", None, False, "intervention_minus_control", None, "", "", "posterior"),
        ("amygdala-hippocampus", "neuroimaging", "other", None, False, "intervention_minus_control", None, "", "", "posterior"),
    ],
    "Feder2014": [
        ("IES-R", "ptsd_severity", "md_ci", 1, True, "control_minus_intervention", True, "intervention", "yes", "estimate"),
        ("IES-R", "ptsd_severity", "md_only", 1, False, "control_minus_intervention", True, "intervention", "yes", "estimate"),
    ],
    "Feder2021": [
        ("CAPS-5", "ptsd_severity", "md_se", 14, True, "intervention_minus_control", True, "intervention", "yes", "estimate"),
        ("CAPS-5", "ptsd_severity", "smd_ci", 14, True, "control_minus_intervention", True, "intervention", "yes", "estimate"),
        ("CAPS-5", "ptsd_severity", "p_only", 14, False, "", True, "intervention", "yes", None),
        ("CAPS-5 response", "ptsd_response", "percent", 14, False, "", False, "intervention", "", None),
        ("CAPS-5 response", "ptsd_response", "counts", 14, False, "", False, "intervention", "", "counts"),
        ("CAPS-5 response durability", "ptsd_response_duration", "other", None, False, "", False, "", "", "estimate"),
        ("vmPFC-amygdala", "neuroimaging", "other", None, False, "", None, "", "", "estimate"),
        ("same, interaction", "neuroimaging", "other", None, False, "", None, "", "", "estimate"),
        ("same, adjusted", "neuroimaging", "other", None, False, "", None, "", "", "estimate"),
        ("dACC", "neuroimaging", "other", None, False, "", None, "", "", None),
    ],
    "Pradhan2017_TIMBER": [],
    "Pradhan2018_TIMBER": [
        ("duration of response", "ptsd_response_duration", "mean_sd", None, False, "", False, "intervention", "yes", "means_sd"),
        ("baseline PTSD severity", "biomarker", "other", None, False, "", None, "", "", "estimate"),
    ],
}
# Per-arm n (ketamine, control) from facts.n_randomized_per_arm, for two-arm trials only.
ARM_KEYS = {"Feder2021": ("ketamine", "midazolam"), "Duek2023": ("ketamine", "midazolam")}


def report_key(record: dict[str, Any]) -> str:
    """PMID when the record has one, else DOI (lower case)."""
    if record.get("pmid"):
        return str(record["pmid"])
    if record.get("doi"):
        return str(record["doi"]).lower()
    raise InputFormatError(f"record {record.get('key')} has neither PMID nor DOI", where="records.json", fix="add an identifier to the curated record")


def _fmt_num(x: Any) -> str:
    if x is None:
        return ""
    return f"{x:g}" if isinstance(x, (int, float)) else str(x)


def study_row(study: dict[str, Any], records: dict[str, dict[str, Any]], register_entries: list[str] | None = None) -> dict[str, Any]:
    """One studies.tsv row from a curated study entry; ``register_entries``: keys of its register
    entries in the snapshot, listed after its curated reports."""
    sid = study["study_id"]
    facts = study["facts"]
    keys = [report_key(records[r["record_key"]]) for r in study["reports"]]
    keys += [k for k in sorted(register_entries or []) if k not in keys]
    primary = records[study["reports"][0]["record_key"]]
    inferred: list[str] = []
    registration = facts.get("registration") or ""
    if "(inferred link)" in registration:
        registration = registration.replace("(inferred link)", "").strip()
        inferred.append("registration")
    dose = facts.get("ketamine_dose_mg_per_kg")
    doses = dose if isinstance(dose, list) else ([dose] if dose is not None else [])
    arms = facts.get("n_randomized_per_arm") or {}
    crossover = CROSSOVER[sid]
    source_pages = sorted({u for urls in (facts.get("field_sources") or {}).values() for u in urls})
    read, outside = OUTSIDE_POPULATION.get(sid, ("", ""))
    if read not in facts["design"]:  # a changed evidence file stops the build instead of being mis-coded
        raise InputFormatError(f"study {sid}: its design no longer says {read!r}", where="studies.json",
                               fix="re-read the design and update OUTSIDE_POPULATION in tools/build_extraction_tables.py")
    return {
        "study_id": sid,
        "reports": LIST_SEP.join(keys),
        "primary_report": keys[0],
        "year": primary.get("year"),
        "design": facts["design"],
        "crossover": "" if crossover is None else crossover,
        "population": facts.get("setting_population", ""),
        "outside_population": outside,
        "n_randomized": facts.get("n_randomized_total"),
        "n_per_arm": LIST_SEP.join(f"{arm}: {n}" for arm, n in arms.items()),
        "dose": LIST_SEP.join(f"{d:g}" for d in doses),
        "infusions": INFUSIONS[sid],
        "infusion_schedule": facts.get("infusions", ""),
        "comparator": facts.get("comparator", ""),
        "comparator_type": COMPARATOR_TYPE[sid],
        "co_intervention": facts.get("co_intervention", ""),
        "registration": registration,
        "inferred_fields": LIST_SEP.join(inferred),
        "notes": facts.get("notes", ""),
        "source": LIST_SEP.join([f"studies.json {sid}"] + source_pages),
    }


def _parse(kind: str | None, result: dict[str, Any], where: str) -> dict[str, Any]:
    value = result.get("value")
    out: dict[str, Any] = {}
    if kind == "estimate":
        if isinstance(value, (int, float)):
            out["estimate"] = value
        out.update(ci_low=result.get("ci95_low"), ci_high=result.get("ci95_high"), se=result.get("se"))
    elif kind == "counts":
        m = re.fullmatch(r"\s*(\d+)/(\d+)\s+vs\s+(\d+)/(\d+)\s*", str(value))
        if not m:
            raise InputFormatError(f"cannot read counts from {value!r}", where=where, fix="update CODING in tools/build_extraction_tables.py")
        out.update(events_intervention=int(m[1]), n_intervention=int(m[2]), events_control=int(m[3]), n_control=int(m[4]))
    elif kind == "means_sd":
        m = re.fullmatch(r"\s*([-\d.]+)\s*±\s*([\d.]+)\s+vs\s+([-\d.]+)\s*±\s*([\d.]+)\s*", str(value))
        if not m:
            raise InputFormatError(f"cannot read means and SDs from {value!r}", where=where, fix="update CODING in tools/build_extraction_tables.py")
        out.update(mean_intervention=float(m[1]), sd_intervention=float(m[2]), mean_control=float(m[3]), sd_control=float(m[4]))
    elif kind == "posterior":
        m = re.fullmatch(r"\s*([-\d.]+)\s*\(sd\s*([\d.]+)\)\s*", str(value))
        if not m:
            raise InputFormatError(f"cannot read a posterior estimate from {value!r}", where=where, fix="update CODING in tools/build_extraction_tables.py")
        out.update(estimate=float(m[1]), ci_low=result.get("ci95_low"), ci_high=result.get("ci95_high"))
    return out


def outcome_rows(study: dict[str, Any], records: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """One outcomes.tsv row per reported result of a curated study, coded by CODING."""
    sid = study["study_id"]
    results = study.get("reported_results") or []
    coding = CODING.get(sid)
    if coding is None or len(coding) != len(results):
        raise InputFormatError(
            f"{len(results)} reported results but {0 if coding is None else len(coding)} CODING entries",
            where=f"studies.json {sid}",
            fix="code every result in CODING of tools/build_extraction_tables.py",
        )
    arms = (study["facts"].get("n_randomized_per_arm") or {})
    rows = []
    for i, (result, code) in enumerate(zip(results, coding)):
        where = f"studies.json {sid} reported_results[{i}]"
        prefix, domain, kind, days, primary, direction, lower_better, favours, significant, parse = code
        if not str(result["scale"]).startswith(prefix):
            raise InputFormatError(f"scale {result['scale']!r} does not start with the coded {prefix!r}", where=where, fix="re-code this result in CODING")
        row: dict[str, Any] = {
            "outcome_id": f"{sid}#{i + 1}",
            "study_id": sid,
            "report_key": report_key(records[result["report_key"]]),
            "domain": domain,
            "scale": result["scale"],
            "timepoint": result.get("timepoint") or "",
            "timepoint_days": days,
            "primary_endpoint": primary,
            "statistic_kind": kind,
            "statistic": result.get("statistic") or "",
            "value_text": _fmt_num(result.get("value")),
            "p": result.get("p") or "",
            "direction": direction,
            "lower_is_better": "" if lower_better is None else lower_better,
            "favours": favours,
            "significant": significant,
            "inferred": bool(result.get("inferred")),
            "note": result.get("note") or "",
            "sources": LIST_SEP.join(result.get("sources") or []),
            "location": where,
        }
        row.update(_parse(parse, result, where))
        if sid in ARM_KEYS and kind in ("md_se", "md_ci", "smd_ci", "p_only"):
            k_arm, c_arm = ARM_KEYS[sid]
            row.update(n_intervention=arms[k_arm], n_control=arms[c_arm])
            row["note"] = (row["note"] + " " if row["note"] else "") + "n per arm = randomized per arm (facts.n_randomized_per_arm)."
        rows.append(row)
    return rows


def build(evidence: Path, out: Path, *, force: bool = False) -> tuple[int, int]:
    """Write <out>/extraction/studies.tsv and outcomes.tsv; returns (studies, outcome rows)."""
    studies = read_json(evidence / "studies.json", fix=EVIDENCE_FIX)
    record_list = read_json(evidence / "records.json", fix=EVIDENCE_FIX)
    records = {r["key"]: r for r in record_list}
    coverage_path = out / COVERAGE
    if not coverage_path.exists():
        raise InputFormatError("file not found", where=str(coverage_path), fix="build the snapshot first (tools/build_search_snapshot.py --out with the same folder)")
    entries: dict[str, list[str]] = {}
    for link in registry_links(record_list, studies, read_coverage(coverage_path), source=str(evidence / "studies.json")).values():
        entries.setdefault(link.study_id, []).append(link.key)
        LOG.info("register entry %s (%s) is a report of %s", link.key, link.evidence_key, link.study_id)
    included = [s for s in studies if s["curated_decision"] == "include"]
    for s in studies:
        if s["curated_decision"] != "include":
            LOG.info("not in studies.tsv: %s (curated_decision %s; a full-text exclusion)", s["study_id"], s["curated_decision"])
    srows = sorted((study_row(s, records, entries.get(s["study_id"], [])) for s in included), key=lambda r: r["study_id"])
    orows = [row for s in sorted(included, key=lambda s: s["study_id"]) for row in outcome_rows(s, records)]
    n_results = sum(len(s.get("reported_results") or []) for s in included)
    if len(orows) != n_results:
        raise InputFormatError(f"{len(orows)} outcome rows for {n_results} reported results", where="studies.json", fix="code every result")
    write_tables(
        [(out / "extraction" / "studies.tsv", STUDY_FIELDS, srows), (out / "extraction" / "outcomes.tsv", OUTCOME_FIELDS, orows)],
        out=out, tool="tools/build_extraction_tables.py", force=force,
    )
    LOG.info("wrote %d studies (%d randomized) and %d outcome rows", len(srows), sum(int(r["n_randomized"] or 0) for r in srows), len(orows))
    return len(srows), len(orows)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--evidence", type=Path, required=True, help="folder with studies.json and records.json")
    parser.add_argument("--out", type=Path, default=Path("resources"), help="resources folder (writes extraction/*.tsv)")
    parser.add_argument("--force", action="store_true", help="overwrite tables that hold rows this tool would not write (the team's)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    try:
        build(args.evidence, args.out, force=args.force)
    except LivingReviewError as err:
        print(f"build_extraction_tables: error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
