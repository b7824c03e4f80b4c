"""End to end: `snakemake` on the shipped config and archived search reproduces the published review."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path

import pytest

from livingreview.constants import FINAL_OUTCOMES, LEDGER_FIELDS, RECORD_FIELDS, STAGES
from livingreview.runs import list_runs, load_manifest
from livingreview.tables import read_tsv

from conftest import EVIDENCE, copy_project_inputs, default_review_reports, run_snakemake

pytestmark = pytest.mark.e2e



def _curated_included() -> dict[str, int]:
    studies = json.loads((EVIDENCE / "studies.json").read_text(encoding="utf-8"))
    return {s["study_id"]: s["facts"]["n_randomized_total"] for s in studies if s["curated_decision"] == "include"}


def test_records_equal_the_manifests_counts_and_name_file_and_line(default_review: Path) -> None:
    records = read_tsv(default_review / "results/records/records.tsv")
    expected = sum(f.count_in_file for run in list_runs(default_review / "resources/searches") for f in load_manifest(run).files)
    assert len(records) == expected
    assert list(records[0])[: len(RECORD_FIELDS)] == list(RECORD_FIELDS)
    for r in records:
        assert r["source_file"].startswith("resources/searches/") and int(r["source_line"]) >= 1
        assert (default_review / r["source_file"]).exists()


def test_the_seven_curated_studies_and_their_reports_are_included(default_review: Path) -> None:
    included = read_tsv(default_review / "results/studies/included_studies.tsv")
    curated = _curated_included()
    assert sorted(s["study_id"] for s in included) == sorted(curated)
    assert sum(int(s["n_randomized"]) for s in included) == sum(curated.values()) == 327
    reports = read_tsv(default_review / "results/studies/reports.tsv")
    # the 8 curated reports and the snapshot's register entries of Feder 2014, Feder 2021, Duek 2023
    # and Dadabayev 2020 (PRISMA 2020 counts a register entry as a report)
    assert Counter(r["study_id"] for r in reports) == default_review_reports()
    assert {r["record_id"] for r in reports if r["record_id"].startswith("clinicaltrials:")} == {
        "clinicaltrials:NCT00749203", "clinicaltrials:NCT02397889", "clinicaltrials:NCT02727998", "clinicaltrials:NCT04322968"}
    assert all(r["role"] == "secondary" for r in reports if r["record_id"].startswith("clinicaltrials:"))


def test_ledger_invariants(default_review: Path) -> None:
    ledger = read_tsv(default_review / "results/audit/ledger.tsv", required=LEDGER_FIELDS)
    records = {r["record_id"] for r in read_tsv(default_review / "results/records/records.tsv")}
    rows = defaultdict(list)
    for row in ledger:
        rows[row["record_id"]].append(row)
    assert set(rows) == records
    rank = {s: i for i, s in enumerate(STAGES)}
    for record_id, rs in rows.items():
        stages = [r["stage"] for r in rs]
        assert stages.count("identification") == 1, record_id
        assert [rank[s] for s in stages] == sorted(rank[s] for s in stages), record_id
        assert len(set(stages)) == len(stages), record_id
        assert rs[-1]["outcome"] in FINAL_OUTCOMES, (record_id, rs[-1])
        assert all(r["cluster_id"] for r in rs), record_id
        if rs[-1]["outcome"] == "excluded":
            assert rs[-1]["reason"], f"{record_id} excluded without a reason"
    finals = Counter(rs[-1]["outcome"] for rs in rows.values())
    assert finals["awaiting_decision"] == 0, "every record of the default review is decided"
    assert finals["included"] == sum(default_review_reports().values())


def test_prisma_counts_come_from_the_ledger(default_review: Path) -> None:
    counts = json.loads((default_review / "results/prisma/counts.json").read_text(encoding="utf-8"))
    ledger = read_tsv(default_review / "results/audit/ledger.tsv")
    n = Counter((r["stage"], r["outcome"]) for r in ledger)
    identified = sum(v for (s, _), v in n.items() if s == "identification")
    assert counts["database_results"] + counts["register_results"] == identified
    assert counts["duplicates"] == n[("dedup", "duplicate")]
    assert counts["records_screened"] == sum(v for (s, _), v in n.items() if s == "title_abstract")
    assert counts["new_studies"] == 7 and counts["new_reports"] == sum(default_review_reports().values())
    # reports sought = assessed = included + excluded at full text; screened = excluded + sought
    assert counts["dbr_sought_reports"] == counts["dbr_assessed"] == counts["new_reports"] + counts["dbr_excluded_total"] + counts["dbr_awaiting"]
    assert counts["records_screened"] == counts["records_excluded"] + counts["dbr_sought_reports"] + counts["records_awaiting"]


def test_report_is_self_contained_and_explains_327_vs_323(default_review: Path) -> None:
    html = (default_review / "results/report/index.html").read_text(encoding="utf-8")
    assert "<script src" not in html and "<link " not in html and "http://" not in html.replace("http://www.w3.org", "")
    for needle in ("327", "323", "Feder", "PRISMA", "reconstruct"):
        assert needle in html, needle


def test_trace_follows_an_included_report_to_its_study(default_review: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "livingreview.cli", "trace", "24740528", "--json", "--results", str(default_review / "results")],
        capture_output=True, text=True, cwd=default_review, check=True,
    ).stdout
    path = json.loads(out)
    text = json.dumps(path)
    assert "pubmed.xml.gz" in text and "Feder2014" in text


def _digest(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted((root / "results").rglob("*"))
        if p.is_file()
    }


def test_same_inputs_give_byte_identical_results(default_review: Path, tmp_path: Path) -> None:
    """A second build elsewhere, on what could be a colleague's machine: another folder, time zone,
    locale, hash seed and core count, their own matplotlibrc and fontconfig settings (full hinting,
    subpixel colour). Every file under results/ has the same bytes."""
    again = copy_project_inputs(tmp_path / "a colleague's copy")
    (tmp_path / "matplotlibrc").write_text("axes.grid: True\nlines.linewidth: 2.5\nsavefig.bbox: tight\nsvg.fonttype: path\n", encoding="utf-8")
    (tmp_path / "fonts.conf").write_text(
        '<fontconfig><include ignore_missing="yes">/etc/fonts/fonts.conf</include><match target="font">'
        '<edit name="hintstyle" mode="assign"><const>hintfull</const></edit><edit name="rgba" mode="assign"><const>rgb</const></edit>'
        "</match></fontconfig>\n",
        encoding="utf-8",
    )
    colleague = {
        "TZ": "Pacific/Kiritimati",
        "LC_ALL": "C",
        "LANG": "C",
        "PYTHONHASHSEED": "4242",
        "MATPLOTLIBRC": str(tmp_path / "matplotlibrc"),
        "FONTCONFIG_FILE": str(tmp_path / "fonts.conf"),
    }
    run_snakemake(again, cores=1, env_extra=colleague)
    assert _digest(again) == _digest(default_review)


def _trace(default_review: Path, key: str, *, as_json: bool = True) -> str:
    args = [sys.executable, "-m", "livingreview.cli", "trace", key, "--results", str(default_review / "results")]
    return subprocess.run(args + (["--json"] if as_json else []), capture_output=True, text=True, cwd=default_review, check=True).stdout


def test_trace_shows_a_register_entry_as_a_report_of_its_study(default_review: Path) -> None:
    """Dadabayev 2020's n = 41 comes from its ClinicalTrials.gov record: that register entry is a
    report of the study, included at title/abstract and full text and counted among its reports."""
    path = json.loads(_trace(default_review, "clinicaltrials:NCT04322968"))
    (cluster,) = path["clusters"]
    assert cluster["final"]["stage"] == "study" and cluster["final"]["outcome"] == "included"
    assert cluster["final"]["reference"] == "Dadabayev2020" and cluster["final"]["reason"] == "secondary report of study Dadabayev2020"
    (member,) = cluster["members"]
    stages = {step["stage"]: step for step in member["own_path"]}
    assert stages["title_abstract"]["outcome"] == stages["full_text"]["outcome"] == "included"
    assert "register entry NCT04322968" in stages["full_text"]["evidence"] and "Dadabayev2020" in stages["full_text"]["evidence"]
    text = _trace(default_review, "clinicaltrials:NCT04322968", as_json=False)
    assert "study: Dadabayev2020 (secondary report; reports pubmed:33426410, clinicaltrials:NCT04322968)" in text


def test_trace_follows_every_kind_of_record(default_review: Path) -> None:
    ledger = read_tsv(default_review / "results/audit/ledger.tsv")
    last = {}
    for row in ledger:
        last[row["record_id"]] = row
    clusters = {c["record_id"]: c for c in read_tsv(default_review / "results/dedup/clusters.tsv")}

    # an OVID duplicate of a PubMed record: its cluster, the rule that linked it, the canonical record
    feder = clusters["pubmed:24740528"]["cluster_id"]
    ovid = sorted(r for r, c in clusters.items() if c["cluster_id"] == feder and r.startswith(("embase:", "psycinfo:")))
    assert ovid
    text = _trace(default_review, ovid[0])
    assert f'"record_id": "{ovid[0]}"' in text and '"reference": "pubmed:24740528"' in text and ".ris:" in text

    # a record the rules excluded: rule id and the matched text
    rule_excluded = sorted(r for r, row in last.items() if row["stage"] == "automation" and row["outcome"] == "excluded")[0]
    row = last[rule_excluded]
    text = _trace(default_review, rule_excluded, as_json=False)
    assert row["reference"] in text and row["evidence"].split(";")[0] in text

    # a report excluded at full text, with its reason and decisions.tsv line
    (ft,) = [r for r, row in last.items() if row["stage"] == "full_text" and row["outcome"] == "excluded"][:1]
    text = _trace(default_review, ft, as_json=False)
    assert last[ft]["reason"] in text and "decisions.tsv:" in text

    # an included study: every plotted number walks back to its outcomes.tsv row
    text = _trace(default_review, "Feder2021", as_json=False)
    assert "outcomes.tsv:" in text and "ptsd_severity_md" in text and "11.88" in text
