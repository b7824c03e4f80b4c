"""tools/build_extraction_tables.py: numbers copied from the curated evidence, inferred values flagged, coding checked."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest

from livingreview.errors import InputFormatError
from livingreview.extraction import load_outcomes, load_studies

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("build_extraction_tables", ROOT / "tools" / "build_extraction_tables.py")
assert spec and spec.loader
build_tables = importlib.util.module_from_spec(spec)
spec.loader.exec_module(build_tables)


def result(scale: str, value: Any, **kw: Any) -> dict[str, Any]:
    base = {"scale": scale, "timepoint": "week 2", "statistic": "s", "value": value, "ci95_low": None, "ci95_high": None, "se": None, "p": None,
            "inferred": False, "note": None, "sources": ["https://example.org/page"], "report_key": "K1"}
    base.update(kw)
    return base


def evidence(tmp_path: Path, results: list[dict[str, Any]], decision: str = "include") -> Path:
    """A two-report evidence folder for a study coded as Feder2021 in CODING (synthetic values)."""
    study = {
        "study_id": "Feder2021",
        "reports": [{"record_key": "K1", "role": "primary"}, {"record_key": "K2", "role": "secondary"}],
        "facts": {"design": "parallel", "setting_population": "adults", "n_randomized_total": 30, "n_randomized_per_arm": {"ketamine": 15, "midazolam": 15},
                  "ketamine_dose_mg_per_kg": 0.5, "infusions": "6 infusions", "comparator": "midazolam", "registration": "NCT00000001 (inferred link)",
                  "notes": "n", "field_sources": {"x": ["https://example.org/a"]}},
        "reported_results": results,
        "curated_decision": decision,
    }
    excluded = dict(study, study_id="Other2020", curated_decision="exclude", reported_results=[], facts=dict(study["facts"], registration="NCT00000002"))
    records = [{"key": "K1", "pmid": None, "doi": "10.1/ABC", "year": 2021}, {"key": "K2", "pmid": "123", "doi": "10.1/def", "year": 2021},
               {"key": "K3", "pmid": None, "doi": None, "record_kind": "trial_registration"}]
    (tmp_path / "studies.json").write_text(json.dumps([study, excluded]), encoding="utf-8")
    (tmp_path / "records.json").write_text(json.dumps(records), encoding="utf-8")
    # the snapshot coverage tools/build_search_snapshot.py writes beside the resources (K3: no snapshot copy)
    (tmp_path / "out").mkdir(exist_ok=True)
    (tmp_path / "out" / "snapshot_coverage.tsv").write_text("key\trecord_ids\nK1\tpubmed:1\nK2\tpubmed:123\nK3\t\n", encoding="utf-8")
    return tmp_path


FEDER2021_LIKE = [
    result("CAPS-5", -5.5, se=2.0),
    result("CAPS-5", 0.8, ci95_low=0.1, ci95_high=1.5),
    result("CAPS-5", None, p="0.01"),
    result("CAPS-5 response (>=30%)", "60% vs 20%"),
    result("CAPS-5 response", "9/15 vs 3/15", inferred=True),
    result("CAPS-5 response durability", 20.0),
    result("vmPFC-amygdala x", 1.0),
    result("same, interaction y", 0.5, report_key="K2"),
    result("same, adjusted z", 0.4, report_key="K2"),
    result("dACC w", "-1; 2", report_key="K2"),
]


def test_build_copies_numbers_and_flags_inferred(tmp_path: Path) -> None:
    n_studies, n_rows = build_tables.build(evidence(tmp_path, [dict(r) for r in FEDER2021_LIKE]), tmp_path / "out")
    assert (n_studies, n_rows) == (1, 10)  # the excluded study is left out
    studies = load_studies(tmp_path / "out" / "extraction" / "studies.tsv")
    assert studies[0].reports == ("10.1/abc", "123") and studies[0].registration == "NCT00000001" and studies[0].inferred_fields == ("registration",)
    rows = {r.outcome_id: r for r in load_outcomes(tmp_path / "out" / "extraction" / "outcomes.tsv", studies)}
    assert (rows["Feder2021#1"].estimate, rows["Feder2021#1"].se, rows["Feder2021#1"].n_intervention) == (-5.5, 2.0, 15)
    assert (rows["Feder2021#2"].ci_low, rows["Feder2021#2"].ci_high) == (0.1, 1.5)
    assert (rows["Feder2021#5"].events_intervention, rows["Feder2021#5"].events_control, rows["Feder2021#5"].inferred) == (9, 3, True)
    assert rows["Feder2021#8"].report_key == "123" and rows["Feder2021#4"].estimate is None


def test_build_refuses_a_result_the_coding_does_not_match(tmp_path: Path) -> None:
    bad = [dict(r) for r in FEDER2021_LIKE]
    bad[0]["scale"] = "PCL-5"
    with pytest.raises(InputFormatError, match=r"studies.json Feder2021 reported_results\[0\].*does not start with the coded 'CAPS-5'"):
        build_tables.build(evidence(tmp_path, bad), tmp_path / "out")
    assert not (tmp_path / "out" / "extraction" / "studies.tsv").exists()


def test_build_refuses_uncoded_results(tmp_path: Path) -> None:
    with pytest.raises(InputFormatError, match="11 reported results but 10 CODING entries"):
        build_tables.build(evidence(tmp_path, [dict(r) for r in FEDER2021_LIKE] + [result("CAPS-5", 1.0)]), tmp_path / "out")


def test_register_entry_in_the_snapshot_joins_the_studys_reports(tmp_path: Path) -> None:
    """PRISMA 2020 counts a study register entry as a report: the snapshot's ClinicalTrials.gov record
    of the study's registration is listed after its curated reports, keyed by its record_id."""
    folder = evidence(tmp_path, [dict(r) for r in FEDER2021_LIKE])
    (tmp_path / "out" / "snapshot_coverage.tsv").write_text(
        "key\trecord_ids\nK1\tpubmed:1\nK2\tpubmed:123\nK3\tclinicaltrials:NCT00000001\n", encoding="utf-8")
    build_tables.build(folder, tmp_path / "out")
    studies = load_studies(tmp_path / "out" / "extraction" / "studies.tsv")
    assert studies[0].reports == ("10.1/abc", "123", "clinicaltrials:NCT00000001") and studies[0].primary_report == "10.1/abc"


def test_build_without_the_snapshot_coverage_is_refused(tmp_path: Path) -> None:
    folder = evidence(tmp_path, [dict(r) for r in FEDER2021_LIKE])
    (tmp_path / "out" / "snapshot_coverage.tsv").unlink()
    with pytest.raises(InputFormatError, match=r"snapshot_coverage.tsv.*file not found.*build_search_snapshot"):
        build_tables.build(folder, tmp_path / "out")
    assert not (tmp_path / "out" / "extraction" / "studies.tsv").exists()


def _team_row(path: Path) -> bytes:
    """Append a row a review team adds (a copy of the table's last row under a new id) and return the file's bytes."""
    lines = path.read_text(encoding="utf-8").splitlines()
    first = lines[-1].split("\t", 1)
    path.write_text("\n".join(lines + [f"{first[0]}_team\t{first[1]}"]) + "\n", encoding="utf-8")
    return path.read_bytes()


def test_tables_with_the_teams_rows_are_not_overwritten_unless_forced(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Was: `make resources` on a grown review rewrote studies.tsv and outcomes.tsv with the tool's rows
    only, silently dropping the rows the team had added. Now it stops with one line naming the file and
    writes neither table; a table that already equals the tool's is rewritten as it is; --force overwrites."""
    folder = evidence(tmp_path, [dict(r) for r in FEDER2021_LIKE])
    out = tmp_path / "out"
    argv = ["--evidence", str(folder), "--out", str(out)]
    assert build_tables.main(argv) == 0
    shipped = {name: (out / "extraction" / name).read_bytes() for name in ("studies.tsv", "outcomes.tsv")}
    assert build_tables.main(argv) == 0  # equal tables: nothing to lose
    assert {name: (out / "extraction" / name).read_bytes() for name in shipped} == shipped
    capsys.readouterr()

    grown = _team_row(out / "extraction" / "outcomes.tsv")
    (out / "extraction" / "studies.tsv").unlink()  # written only if every table may be
    assert build_tables.main(argv) == 1
    err = [ln for ln in capsys.readouterr().err.splitlines() if not ln.startswith("INFO ")]
    n = len(grown.decode("utf-8").splitlines())
    assert err == [
        f"build_extraction_tables: error: {out / 'extraction' / 'outcomes.tsv'}: 1 line(s) of this table are not what "
        f"tools/build_extraction_tables.py writes (the first at line {n}: rows the team added or edited) and would be lost; "
        "nothing was written; fix: pass --force to overwrite it with the tool's rows only, or move the file away first "
        "(then add the team's rows back to the new table)"
    ]
    assert (out / "extraction" / "outcomes.tsv").read_bytes() == grown
    assert not (out / "extraction" / "studies.tsv").exists()
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no staging folder left behind

    assert build_tables.main([*argv, "--force"]) == 0
    assert {name: (out / "extraction" / name).read_bytes() for name in shipped} == shipped


def test_blank_lines_are_not_rows_the_team_added(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Was: a blank line (an editor's extra newline at the end; the tables' reader skips it) stopped the
    tool with '1 line(s) ... rows the team added or edited ... would be lost'. Only a line with text counts."""
    folder = evidence(tmp_path, [dict(r) for r in FEDER2021_LIKE])
    out = tmp_path / "out"
    argv = ["--evidence", str(folder), "--out", str(out)]
    assert build_tables.main(argv) == 0
    studies = out / "extraction" / "studies.tsv"
    shipped = studies.read_bytes()
    studies.write_bytes(shipped + b"\n \t\n")
    assert len(load_studies(studies)) == len(shipped.splitlines()) - 1  # the reader skips them
    assert build_tables.main(argv) == 0, capsys.readouterr().err
    assert studies.read_bytes() == shipped
    studies.write_bytes(shipped + b"\nTeam2025\n")  # a line with text still stops the tool
    assert build_tables.main(argv) == 1
    assert "1 line(s) of this table are not what tools/build_extraction_tables.py writes (the first at line " in capsys.readouterr().err


def test_outside_population_is_coded_from_the_design_and_checked_against_it() -> None:
    """Dadabayev2020 randomized chronic-pain patients with and without PTSD (facts.design): studies.tsv
    outside_population names the ones without PTSD; no other included study has any. A design that no
    longer says so stops the build."""
    from conftest import EVIDENCE

    studies = json.loads((EVIDENCE / "studies.json").read_text(encoding="utf-8"))
    records = {r["key"]: r for r in json.loads((EVIDENCE / "records.json").read_text(encoding="utf-8"))}
    rows = {s["study_id"]: build_tables.study_row(s, records) for s in studies if s["curated_decision"] == "include"}
    assert len(rows) == 7
    assert {sid: r["outside_population"] for sid, r in rows.items() if r["outside_population"]} == {"Dadabayev2020": "chronic-pain patients without PTSD"}
    dadabayev = next(s for s in studies if s["study_id"] == "Dadabayev2020")
    assert "with or without DSM-5 PTSD" in dadabayev["facts"]["setting_population"]
    changed = {**dadabayev, "facts": {**dadabayev["facts"], "design": "randomized, double-blind trial in veterans with PTSD"}}
    with pytest.raises(InputFormatError, match="study Dadabayev2020: its design no longer says 'chronic-pain patients with and without PTSD'"):
        build_tables.study_row(changed, records)
