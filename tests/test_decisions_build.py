"""tools/build_screening_tables.py: the default review's decisions follow the curated evidence, same bytes twice."""

from __future__ import annotations

import importlib.util
import json
import shutil
from collections import defaultdict
from pathlib import Path

import pytest

from livingreview.decisions import load_decisions
from livingreview.screening import load_rules
from livingreview.tables import read_tsv

from conftest import EVIDENCE, ROOT


def _tool():
    spec = importlib.util.spec_from_file_location("build_screening_tables", ROOT / "tools/build_screening_tables.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("resources")
    shutil.copytree(ROOT / "resources/searches", out / "searches")
    shutil.copy(ROOT / "resources/snapshot_coverage.tsv", out / "snapshot_coverage.tsv")
    assert _tool().main(["--evidence", str(EVIDENCE), "--out", str(out)]) == 0
    return out / "screening/decisions.tsv"


def test_build_is_reproducible_and_matches_the_committed_table(built: Path, tmp_path: Path) -> None:
    shutil.copytree(ROOT / "resources/searches", tmp_path / "searches")
    shutil.copy(ROOT / "resources/snapshot_coverage.tsv", tmp_path / "snapshot_coverage.tsv")
    assert _tool().main(["--evidence", str(EVIDENCE), "--out", str(tmp_path)]) == 0
    assert (tmp_path / "screening/decisions.tsv").read_bytes() == built.read_bytes()
    assert (ROOT / "resources/screening/decisions.tsv").read_bytes() == built.read_bytes()


def test_decisions_follow_the_curated_studies(built: Path) -> None:
    rules = load_rules(ROOT / "config/screening.yaml")
    decisions = load_decisions(built, rules.reasons)
    assert {d.reviewer for d in decisions} == {"curation (shared/evidence)"}
    records = {r["key"]: r for r in json.loads((EVIDENCE / "records.json").read_text(encoding="utf-8"))}
    studies = json.loads((EVIDENCE / "studies.json").read_text(encoding="utf-8"))
    coverage = {r["key"]: [x for x in r["record_ids"].split("; ") if x] for r in read_tsv(ROOT / "resources/snapshot_coverage.tsv")}
    by_key = defaultdict(dict)
    for d in decisions:
        by_key[d.key][d.stage] = d

    def key_of(ek: str) -> str:
        rec = records[ek]
        return rec.get("pmid") or (rec.get("doi") or "").lower() or coverage[ek][0]

    included_reports = [rep["record_key"] for s in studies if s["curated_decision"] == "include" for rep in s["reports"]]
    assert len(included_reports) == 8
    for ek in included_reports:
        got = by_key[key_of(ek)]
        assert got["title_abstract"].decision == "include" and got["full_text"].decision == "include", ek
    for s in studies:
        if s["curated_decision"] != "exclude":
            continue
        for rep in s["reports"]:
            ek = rep["record_key"]
            if not coverage.get(ek):
                assert key_of(ek) not in by_key  # not in the snapshot: nothing to decide
                continue
            got = by_key[key_of(ek)]
            assert got["title_abstract"].decision == "include" and got["full_text"].decision == "exclude", ek
            design = (s["facts"].get("design") or "").lower()
            assert got["full_text"].reason == ("protocol_only" if "protocol" in design else "open_label"), ek
    in_studies = {rep["record_key"] for s in studies for rep in s["reports"]}
    for ek, rec in records.items():
        if ek in in_studies or not coverage.get(ek):
            continue
        got = by_key[key_of(ek)]
        assert set(got) == {"title_abstract"} and got["title_abstract"].decision == "exclude", ek
        assert got["title_abstract"].note.startswith(ek), ek
        expected = {"animal_preclinical": "animal", "trial_registration": "registry_record", "case_report_series": "case_report", "dissertation_thesis": "thesis", "trial_protocol": "protocol_only", "non_randomized_open_label": "open_label"}
        if rec["record_kind"] in expected:
            assert got["title_abstract"].reason == expected[rec["record_kind"]], ek
        elif rec["record_kind"].endswith("review") or rec["record_kind"].startswith("systematic_review"):
            assert got["title_abstract"].reason == "publication_type", ek
        elif rec["record_kind"] == "observational_retrospective":
            assert got["title_abstract"].reason in {"observational", "prevention_or_anaesthesia"}, ek


def test_registrations_of_included_trials_name_the_study(built: Path) -> None:
    rows = {r["key"]: r for r in read_tsv(built)}
    studies = json.loads((EVIDENCE / "studies.json").read_text(encoding="utf-8"))
    for s in studies:
        if s["curated_decision"] != "include":
            continue
        nct = str(s["facts"].get("registration") or "").split(" ")[0]
        key = f"clinicaltrials:{nct}"
        if key in rows:
            assert rows[key]["reason"] == "registry_record"
            assert f"registration of {s['study_id']}" in rows[key]["note"]
