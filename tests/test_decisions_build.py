"""tools/build_screening_tables.py: the default review's decisions follow the curated evidence, same bytes twice."""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
from collections import defaultdict
from pathlib import Path

import pytest

from livingreview.decisions import load_decisions
from livingreview.errors import InputFormatError
from livingreview.screening import load_rules
from livingreview.tables import read_tsv

from conftest import EVIDENCE, ROOT, shipped_project, shipped_resources

SHIPPED = shipped_resources()  # the default review as shipped: `make resources` run on the evidence (conftest)


def _tool():
    spec = importlib.util.spec_from_file_location("build_screening_tables", ROOT / "tools/build_screening_tables.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("resources")
    shutil.copytree(SHIPPED / "searches", out / "searches")
    shutil.copy(SHIPPED / "snapshot_coverage.tsv", out / "snapshot_coverage.tsv")
    assert _tool().main(["--evidence", str(EVIDENCE), "--out", str(out)]) == 0
    return out / "screening/decisions.tsv"


def test_build_is_reproducible_and_matches_the_shipped_table(built: Path, tmp_path: Path) -> None:
    """Same bytes twice, and the same as `make resources` writes (the shipped copy). That the committed
    table holds these rows (the team's rows added) is tests/test_committed_resources.py's."""
    shutil.copytree(SHIPPED / "searches", tmp_path / "searches")
    shutil.copy(SHIPPED / "snapshot_coverage.tsv", tmp_path / "snapshot_coverage.tsv")
    assert _tool().main(["--evidence", str(EVIDENCE), "--out", str(tmp_path)]) == 0
    assert (tmp_path / "screening/decisions.tsv").read_bytes() == built.read_bytes()
    assert (SHIPPED / "screening/decisions.tsv").read_bytes() == built.read_bytes()


NCT = re.compile(r"\bNCT\d{8}\b", re.IGNORECASE)


def _evidence() -> tuple[dict, list, dict]:
    records = {r["key"]: r for r in json.loads((EVIDENCE / "records.json").read_text(encoding="utf-8"))}
    studies = json.loads((EVIDENCE / "studies.json").read_text(encoding="utf-8"))
    coverage = {r["key"]: [x for x in r["record_ids"].split("; ") if x] for r in read_tsv(SHIPPED / "snapshot_coverage.tsv")}
    return records, studies, coverage


def _register_entries(studies: list, coverage: dict) -> dict[str, tuple[str, str]]:
    """Evidence key -> (study, NCT id): ClinicalTrials.gov records of the snapshot whose NCT id is a
    curated study's registration (read here from studies.json, not from the tool)."""
    owner = {n.upper(): s for s in studies for n in NCT.findall(str(s["facts"].get("registration") or ""))}
    listed = {rep["record_key"] for s in studies for rep in s["reports"]}
    out = {}
    for ek, ids in coverage.items():
        for rid in ids:
            if rid.startswith("clinicaltrials:") and rid.split(":", 1)[1].upper() in owner and ek not in listed:
                out[ek] = (owner[rid.split(":", 1)[1].upper()], rid.split(":", 1)[1].upper())
    return out


def test_decisions_follow_the_curated_studies(built: Path) -> None:
    rules = load_rules(ROOT / "config/screening.yaml")
    decisions = load_decisions(built, rules.reasons)
    assert {d.reviewer for d in decisions} == {"curation (shared/evidence)"}
    records, studies, coverage = _evidence()
    by_key = defaultdict(dict)
    for d in decisions:
        by_key[d.key][d.stage] = d

    def key_of(ek: str) -> str:
        rec = records[ek]
        return rec.get("pmid") or (rec.get("doi") or "").lower() or coverage[ek][0]

    entries = _register_entries(studies, coverage)
    included_reports = [rep["record_key"] for s in studies if s["curated_decision"] == "include" for rep in s["reports"]]
    included_reports += [ek for ek, (s, _) in entries.items() if s["curated_decision"] == "include"]
    # PRISMA 2020 counts a study register entry as a report: the curated reports plus the register entries.
    assert {k for k, d in by_key.items() if "full_text" in d and d["full_text"].decision == "include"} == {key_of(ek) for ek in included_reports}
    for ek in included_reports:
        got = by_key[key_of(ek)]
        assert got["title_abstract"].decision == "include" and got["full_text"].decision == "include", ek
    for s in studies:
        if s["curated_decision"] != "exclude":
            continue
        design = (s["facts"].get("design") or "").lower()
        reason = "protocol_only" if "protocol" in design else "open_label"
        for ek in [rep["record_key"] for rep in s["reports"]] + [ek for ek, (st, _) in entries.items() if st is s]:
            if not coverage.get(ek):
                assert key_of(ek) not in by_key  # not in the snapshot: nothing to decide
                continue
            got = by_key[key_of(ek)]
            assert got["title_abstract"].decision == "include" and got["full_text"].decision == "exclude", ek
            assert got["full_text"].reason == reason, ek
    in_studies = {rep["record_key"] for s in studies for rep in s["reports"]} | set(entries)
    for ek, rec in records.items():
        if ek in in_studies or not coverage.get(ek):
            continue
        got = by_key[key_of(ek)]
        assert set(got) == {"title_abstract"} and got["title_abstract"].decision == "exclude", ek
        assert got["title_abstract"].note.startswith(ek), ek
        expected = {"animal_preclinical": "animal", "case_report_series": "case_report", "dissertation_thesis": "thesis", "trial_protocol": "protocol_only", "non_randomized_open_label": "open_label"}
        if rec["record_kind"] in expected:
            assert got["title_abstract"].reason == expected[rec["record_kind"]], ek
        elif rec["record_kind"] == "trial_registration":
            # a register entry of no curated study: excluded for what it is, never as a mere registration
            # when its design or route already excludes it
            design = rec["study_design"].lower()
            if "open-label" in design or "single-arm" in design:
                assert got["title_abstract"].reason == "open_label", ek
            elif "intranasal" in rec["ketamine_route"].lower():
                assert got["title_abstract"].reason == "not_intravenous", ek
            else:
                assert got["title_abstract"].reason == "registry_record", ek
        elif rec["record_kind"].endswith("review") or rec["record_kind"].startswith("systematic_review"):
            assert got["title_abstract"].reason == "publication_type", ek
        elif rec["record_kind"] == "observational_retrospective":
            assert got["title_abstract"].reason in {"observational", "prevention_or_anaesthesia"}, ek


def test_register_entries_of_included_trials_are_reports_of_their_study(built: Path) -> None:
    """The snapshot's ClinicalTrials.gov record of an included trial is a report of it (PRISMA 2020):
    included at both stages with a note naming the study, and listed in the study's reports in
    studies.tsv with the primary report unchanged."""
    rows = defaultdict(dict)
    for r in read_tsv(built):
        rows[r["key"]][r["stage"]] = r
    records, studies, coverage = _evidence()
    entries = _register_entries(studies, coverage)
    study_rows = {r["study_id"]: r for r in read_tsv(SHIPPED / "extraction/studies.tsv")}
    linked = set()
    for ek, (s, nct) in entries.items():
        if s["curated_decision"] != "include":
            continue
        key = f"clinicaltrials:{nct}"
        assert rows[key]["title_abstract"]["decision"] == rows[key]["full_text"]["decision"] == "include", key
        assert f"register entry {nct}" in rows[key]["full_text"]["note"] and s["study_id"] in rows[key]["full_text"]["note"], key
        reports = study_rows[s["study_id"]]["reports"].split("; ")
        assert key in reports and reports[0] == study_rows[s["study_id"]]["primary_report"] != key
        linked.add(s["study_id"])
    # the four registrations of included trials in the snapshot (Feder 2014, Feder 2021, Duek 2023,
    # Dadabayev 2020); Abdallah 2022 (NCT02655692) and the Pradhan pilots have no snapshot record
    assert linked == {"Feder2014", "Feder2021", "Duek2023", "Dadabayev2020"}
    for sid, row in study_rows.items():
        assert [k for k in row["reports"].split("; ") if k.startswith("clinicaltrials:")] == sorted(f"clinicaltrials:{n}" for ek, (s, n) in entries.items() if s["study_id"] == sid)


def _study(sid: str, decision: str, registration: str, keys: list[str], design: str = "randomized, double-blind") -> dict:
    return {"study_id": sid, "curated_decision": decision, "reports": [{"record_key": k, "role": "primary report"} for k in keys],
            "facts": {"design": design, "registration": registration}}


def test_build_decisions_makes_a_register_entry_a_report_of_its_study() -> None:
    tool = _tool()
    records = [
        {"key": "R1", "pmid": "111", "record_kind": "rct"},
        {"key": "R2", "record_kind": "trial_registration", "study_design": "randomized", "ketamine_route": "IV"},
        {"key": "R3", "record_kind": "trial_registration", "study_design": "open-label randomized", "ketamine_route": "IV"},
        {"key": "R4", "pmid": "444", "record_kind": "trial_protocol"},
        {"key": "R5", "record_kind": "trial_registration", "study_design": "randomized parallel (withdrawn)", "ketamine_route": "intranasal"},
        {"key": "R6", "record_kind": "trial_registration", "study_design": "single-arm pilot", "ketamine_route": "oral"},
        {"key": "R7", "record_kind": "trial_registration", "study_design": "non-randomised dose-ranging", "ketamine_route": "IV infusions"},
        {"key": "R8", "record_kind": "trial_registration", "study_design": "randomized parallel Phase 2", "ketamine_route": "IV (0.5 mg/kg)"},
    ]
    studies = [_study("A2020", "include", "NCT00000001 (inferred link)", ["R1"]),
               _study("B2021", "exclude", "NCT00000003; IRRID X", ["R4"], design="open-label randomized (protocol)")]
    coverage = {"R1": ["pubmed:111"], "R2": ["clinicaltrials:NCT00000001"], "R3": ["clinicaltrials:NCT00000003"], "R4": ["pubmed:444"],
                "R5": ["clinicaltrials:NCT00000005"], "R6": ["clinicaltrials:NCT00000006"], "R7": ["clinicaltrials:NCT00000007"],
                "R8": ["clinicaltrials:NCT00000008"]}
    rows, _ = tool.build_decisions(records, studies, coverage, date="2025-01-01")
    got = {(r["key"], r["stage"]): (r["decision"], r["reason"]) for r in rows}
    assert got[("clinicaltrials:NCT00000001", "title_abstract")] == got[("clinicaltrials:NCT00000001", "full_text")] == ("include", "")
    note = next(r["note"] for r in rows if r["key"] == "clinicaltrials:NCT00000001" and r["stage"] == "full_text")
    assert note == "R2: report of included study A2020 (its register entry NCT00000001; registration curated as an inferred link)"
    # a register entry of an excluded study: like the study's reports
    assert got[("clinicaltrials:NCT00000003", "title_abstract")] == ("include", "")
    assert got[("clinicaltrials:NCT00000003", "full_text")] == got[("444", "full_text")] == ("exclude", "protocol_only")
    # register entries of no curated study: what the evidence says they are
    assert got[("clinicaltrials:NCT00000005", "title_abstract")] == ("exclude", "not_intravenous")
    assert got[("clinicaltrials:NCT00000006", "title_abstract")] == ("exclude", "open_label")
    assert got[("clinicaltrials:NCT00000007", "title_abstract")] == ("exclude", "not_randomized")
    assert got[("clinicaltrials:NCT00000008", "title_abstract")] == ("exclude", "registry_record")
    assert ("clinicaltrials:NCT00000008", "full_text") not in got


def test_a_register_entry_of_two_studies_is_refused() -> None:
    tool = _tool()
    studies = [_study("A2020", "include", "NCT00000001", ["R1"]), _study("B2021", "include", "NCT00000001 (inferred link)", ["R2"])]
    records = [{"key": "R1", "pmid": "1"}, {"key": "R2", "pmid": "2"}, {"key": "R3", "record_kind": "trial_registration"}]
    coverage = {"R1": ["pubmed:1"], "R2": ["pubmed:2"]}
    assert len(tool.build_decisions(records, studies, coverage, date="2025-01-01")[0]) == 4  # no register entry in the snapshot: nothing to decide
    coverage["R3"] = ["clinicaltrials:NCT00000001"]
    with pytest.raises(InputFormatError, match=r"studies.json facts.registration: register entry R3 \(NCT00000001\) is the registration of 2 studies: A2020, B2021"):
        tool.build_decisions(records, studies, coverage, date="2025-01-01")


def test_registry_reason_text_says_what_the_exclusion_is() -> None:
    rules = load_rules(ROOT / "config/screening.yaml")
    assert rules.reasons["registry_record"] == "Trial registration without results or publication"


def _later_run(searches: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Archive a monthly run after the snapshot with add-run: the snapshot's first two Embase records,
    copied byte for byte (as an export overlapping the snapshot would hold them)."""
    from livingreview.cli import main as cli_main

    text = (searches / "2025-09-30/embase.ris").read_text(encoding="utf-8")
    export = searches.parent / "export.ris"
    export.write_text("".join(text.split("ER  - \n")[i] + "ER  - \n" for i in range(2)), encoding="utf-8")
    monkeypatch.chdir(shipped_project())  # add-run reads config/config.yaml (the platform)
    assert cli_main(["add-run", "--database", "embase", "--file", str(export), "--date", "2025-10-31", "--query", "q",
                     "--date-from", "2025/09/30", "--date-to", "2025/10/31", "--count-reported", "2", "--root", str(searches)]) == 0
    export.unlink()


def test_a_later_run_changes_nothing_and_the_teams_rows_are_not_overwritten(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A grown review: a monthly run after the snapshot, and a decision the team added. Was: the tool
    dated every row with the newest run's date (2025-10-31) and rewrote decisions.tsv with its own rows
    only, silently dropping the team's. Now the rows keep the snapshot run's date, and a table holding
    rows the tool would not write stops the tool with one line naming the file (unless --force)."""
    out = tmp_path / "resources"
    shutil.copytree(SHIPPED / "searches", out / "searches")
    shutil.copy(SHIPPED / "snapshot_coverage.tsv", out / "snapshot_coverage.tsv")
    _later_run(out / "searches", monkeypatch)
    assert sorted(p.name for p in (out / "searches").iterdir()) == ["2025-09-30", "2025-10-31"]
    argv = ["--evidence", str(EVIDENCE), "--out", str(out)]
    target = out / "screening/decisions.tsv"
    assert _tool().main(argv) == 0
    assert target.read_bytes() == (SHIPPED / "screening/decisions.tsv").read_bytes()
    assert _tool().main(argv) == 0  # equal: rewritten as it is
    assert target.read_bytes() == (SHIPPED / "screening/decisions.tsv").read_bytes()
    capsys.readouterr()

    team = "embase:2025-10-31#1\ttitle_abstract\texclude\tpublication_type\tsecond reviewer\t2025-11-05\tsecond screen\n"
    grown = target.read_bytes() + team.encode("utf-8")
    target.write_bytes(grown)
    assert _tool().main(argv) == 1
    err = capsys.readouterr().err.strip().splitlines()
    n = len(grown.splitlines())
    assert err == [
        f"build_screening_tables: error: {target}: 1 line(s) of this table are not what tools/build_screening_tables.py writes "
        f"(the first at line {n}: rows the team added or edited) and would be lost; nothing was written; fix: pass --force to "
        "overwrite it with the tool's rows only, or move the file away first (then add the team's rows back to the new table)"
    ]
    assert target.read_bytes() == grown
    assert _tool().main([*argv, "--force"]) == 0
    assert target.read_bytes() == (SHIPPED / "screening/decisions.tsv").read_bytes()
