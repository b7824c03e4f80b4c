"""Extraction tables: the committed studies/outcomes tables, their schemas, and errors naming file:line."""

from __future__ import annotations

from pathlib import Path

import pytest

from livingreview.errors import InputFormatError
from livingreview.extraction import OUTCOME_FIELDS, STUDY_FIELDS, load_outcomes, load_studies
from livingreview.tables import read_tsv, write_tsv

from conftest import shipped_resources

ROOT = Path(__file__).resolve().parents[1]
STUDIES = shipped_resources() / "extraction" / "studies.tsv"  # the default review as shipped (conftest)
OUTCOMES = shipped_resources() / "extraction" / "outcomes.tsv"


def test_committed_studies_are_the_seven_included_trials() -> None:
    studies = load_studies(STUDIES)
    by_id = {s.study_id: s for s in studies}
    assert sorted(by_id) == ["Abdallah2022", "Dadabayev2020", "Duek2023", "Feder2014", "Feder2021", "Pradhan2017_TIMBER", "Pradhan2018_TIMBER"]
    assert sum(s.n_randomized or 0 for s in studies) == 327
    # the curated reports (primary first), then the study's register entry in the snapshot
    assert by_id["Feder2021"].reports == ("10.1176/appi.ajp.2020.20050596", "34333555", "clinicaltrials:NCT02397889")
    assert by_id["Feder2021"].primary_report == "10.1176/appi.ajp.2020.20050596"
    assert by_id["Feder2014"].crossover is True and by_id["Feder2021"].infusions == "repeated"
    assert by_id["Abdallah2022"].dose == (0.2, 0.5) and by_id["Abdallah2022"].comparator_type == "inactive"
    assert by_id["Duek2023"].inferred_fields == ("registration",)
    assert by_id["Pradhan2018_TIMBER"].dose == () and by_id["Pradhan2018_TIMBER"].crossover is None


def test_committed_outcomes_hold_the_reported_numbers() -> None:
    rows = {r.outcome_id: r for r in load_outcomes(OUTCOMES, load_studies(STUDIES))}
    f14 = rows["Feder2014#1"]
    assert (f14.statistic_kind, f14.estimate, f14.ci_low, f14.ci_high, f14.direction) == ("md_ci", 12.7, 2.5, 22.8, "control_minus_intervention")
    f21 = rows["Feder2021#1"]
    assert (f21.estimate, f21.se, f21.direction, f21.timepoint_days) == (-11.88, 3.96, "intervention_minus_control", 14.0)
    d = rows["Feder2021#2"]
    assert (d.statistic_kind, d.estimate, d.ci_low, d.ci_high) == ("smd_ci", 1.13, 0.36, 1.91)
    resp = rows["Feder2021#5"]
    assert (resp.events_intervention, resp.n_intervention, resp.events_control, resp.n_control, resp.inferred) == (10, 15, 3, 15, True)
    assert sum(r.inferred for r in rows.values()) == 1
    assert all(r.location.startswith("studies.json ") for r in rows.values())
    assert rows["Feder2021#7"].report_key == "34333555"  # the imaging report's numbers point at that report


def copy_with(tmp_path: Path, src: Path, fields: tuple[str, ...], line_index: int, **changes: str) -> Path:
    rows = read_tsv(src)
    rows[line_index].update(changes)
    out = tmp_path / src.name
    write_tsv(out, fields, rows)
    return out


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"crossover": "yes"}, r"studies.tsv:3: column 'crossover'"),
        ({"infusions": "several"}, r"studies.tsv:3: column 'infusions'"),
        ({"n_randomized": "41.5"}, r"studies.tsv:3: column 'n_randomized'"),
        ({"primary_report": "999"}, r"studies.tsv:3: primary_report '999' is not one of the reports"),
        ({"study_id": "Abdallah2022"}, r"studies.tsv:3: duplicate study_id 'Abdallah2022'"),
        # a report key of Abdallah2022 (line 2) also in Dadabayev2020's reports: was refused only when linking, after dedup and screening
        ({"reports": "33426410; clinicaltrials:NCT04322968; 35046508"},
         r"studies.tsv:3: report 35046508 is listed by study Dadabayev2020 and by study Abdallah2022 \(line 2\); fix: a report belongs to one study"),
        # keys match in any letter case (as linking resolves them): Feder2021 (line 6) names the DOI as Dadabayev2020's row does not
        ({"reports": "33426410; clinicaltrials:NCT04322968; 10.1176/APPI.AJP.2020.20050596"},
         r"studies.tsv:6: report 10.1176/appi.ajp.2020.20050596 is listed by study Feder2021 and by study Dadabayev2020 \(line 3\)"),
    ],
)
def test_bad_study_cells_name_file_line_and_column(tmp_path: Path, change: dict[str, str], message: str) -> None:
    path = copy_with(tmp_path, STUDIES, STUDY_FIELDS, 1, **change)
    with pytest.raises(InputFormatError, match=message):
        load_studies(path)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"study_id": "Nobody2020"}, r"outcomes.tsv:11: study_id 'Nobody2020' is not in studies.tsv"),
        ({"estimate": "30"}, r"outcomes.tsv:11: estimate 30 is outside its CI 2.5 to 22.8"),
        ({"ci_low": ""}, r"outcomes.tsv:11: statistic_kind md_ci needs ci_low"),
        ({"se": "-1"}, r"outcomes.tsv:11: column 'se'"),
        ({"report_key": "34333555"}, r"outcomes.tsv:11: report_key '34333555' is not one of Feder2014's reports"),
        ({"domain": "Mood score"}, r"outcomes.tsv:11: column 'domain'"),
        # a value not of its column's form is named with what the column takes, not jsonschema's regex
        ({"timepoint_days": "12 weeks"}, r"outcomes.tsv:11: column 'timepoint_days': '12 weeks' is not in the form this takes: A non-negative "
                                         r"decimal number, or empty; fix: write the value in that form \(see workflow/schemas/outcomes.schema.yaml\)$"),
        # a row copied from another study keeps that study's outcome_id: the id (shown in effects.tsv
        # `how` and traces) would name the wrong study
        ({"outcome_id": "Feder2021#99"}, r"outcomes.tsv:11: outcome_id 'Feder2021#99' does not start with its study_id 'Feder2014#'.*fix: .*Feder2014#"),
    ],
)
def test_bad_outcome_cells_name_file_line(tmp_path: Path, change: dict[str, str], message: str) -> None:
    # line 11 of outcomes.tsv is Feder2014#1 (the header and 9 rows before it)
    assert read_tsv(OUTCOMES)[9]["outcome_id"] == "Feder2014#1"
    path = copy_with(tmp_path, OUTCOMES, OUTCOME_FIELDS, 9, **change)
    with pytest.raises(InputFormatError, match=message):
        load_outcomes(path, load_studies(STUDIES))


def test_a_schema_error_names_the_schema_by_its_path_in_the_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A review in another folder (README "Starting another review") finds the schema a fix points at:
    workflow/schemas/X.schema.yaml beside the Snakefile it runs, not a bare file name."""
    monkeypatch.chdir(tmp_path)
    schema = "workflow/schemas/studies.schema.yaml"
    assert (ROOT / schema).is_file()
    for change, fix in [
        ({"crossover": "yes"}, f"fix: true for a crossover trial, false for parallel groups, empty when not reported. (see {schema})"),
        ({"n_randomized": "41.5"}, f"fix: write the value in that form (see {schema})"),  # a pattern: the form is in the message
    ]:
        path = copy_with(tmp_path, STUDIES, STUDY_FIELDS, 1, **change)
        with pytest.raises(InputFormatError) as err:
            load_studies(path)
        assert str(err.value).startswith(f"{path}:3: column '{next(iter(change))}': ") and str(err.value).endswith(fix)
        assert "\n" not in str(err.value)


def test_missing_column_is_reported_on_the_header_line(tmp_path: Path) -> None:
    path = tmp_path / "studies.tsv"
    path.write_text("study_id\treports\nA\t1\n", encoding="utf-8")
    with pytest.raises(InputFormatError, match=r"studies.tsv:1: missing column\(s\) primary_report"):
        load_studies(path)


def test_a_table_with_the_first_ketamine_only_column_names_gets_the_rename(tmp_path: Path) -> None:
    text = OUTCOMES.read_text(encoding="utf-8")
    header, rest = text.split("\n", 1)
    old = tmp_path / "outcomes.tsv"
    old.write_text(header.replace("\tn_intervention\t", "\tn_ketamine\t").replace("\tsd_intervention\t", "\tsd_ketamine\t") + "\n" + rest, encoding="utf-8")
    with pytest.raises(InputFormatError) as err:
        load_outcomes(old, load_studies(STUDIES))
    line = err.value.one_line()
    assert line.startswith(f"{old}:1: column(s) n_ketamine, sd_ketamine were renamed when the tables became protocol-neutral; fix: rename n_ketamine -> n_intervention, sd_ketamine -> sd_intervention")
    studies = tmp_path / "studies.tsv"
    studies.write_text(STUDIES.read_text(encoding="utf-8").replace("\tdose\t", "\tketamine_dose_mg_per_kg\t", 1), encoding="utf-8")
    with pytest.raises(InputFormatError, match=r"studies.tsv:1: column\(s\) ketamine_dose_mg_per_kg were renamed .* fix: rename ketamine_dose_mg_per_kg -> dose"):
        load_studies(studies)
