"""End to end: a review team keeps the default review alive over three monthly updates.

Every record, decision, study and number this test adds is SYNTHETIC TEST DATA written in a temp
copy of config/ and resources/ (never in the project's resources/): titles say "SYNTHETIC", PMIDs
are >= 900000000 (beyond real PMIDs), DOIs are under the 10.5555 test prefix, and the extracted
numbers of the synthetic study are made up for the test. The one exception is month 1's copy of an
already-included report, rebuilt from the first run's own records.tsv row (a duplicate must carry
the archived record's real title and DOI to be one).

- Month 1 (2025-10-31): the team archives a hand-written Embase RIS export with `livingreview
  add-run` (the copy, one IV-ketamine RCT candidate, one narrative review) and rebuilds.
- Between months: title/abstract and full-text includes for the candidate in decisions.tsv (dated
  2025-11-10), a study row in studies.tsv and two outcomes rows (arm means/SDs, responder counts)
  in outcomes.tsv; rebuild: month 1's version now includes the study (the team screens a run's
  records after its search, so these decisions are month 1's version, not month 2's).
- Month 2 (2025-11-30): `livingreview search pubmed --since last` against the fake E-utilities
  server, which serves the candidate again (a duplicate, by DOI) and an erratum of it (new).
- Month 3 (2025-12-31): the live search finds nothing new (no run), and the Embase export of the
  month holds only a record seen before; rebuild: nothing earlier changes.
- `livingreview trace` of the candidate goes from its run to the forest plots.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from livingreview.records import Record
from livingreview.tables import read_tsv

from conftest import default_review_reports, run_snakemake
from fake_eutils import FakeEutils, FakeRecord, route_entrez

pytestmark = pytest.mark.e2e

FIRST_RUN = "2025-09-30"
MONTH1, MONTH2, MONTH3 = "2025-10-31", "2025-11-30", "2025-12-31"
COPIED_PMID = "24740528"  # Feder 2014, an included report of the archived first run
RCT_DOI = "10.5555/synthetic.ketamine-ptsd.2025.001"
REVIEW_DOI = "10.5555/synthetic.ketamine-ptsd.2025.002"
RCT_PMID, ERRATUM_PMID = "900000001", "900000002"
RCT_TITLE = "SYNTHETIC TEST RECORD: intravenous ketamine versus saline placebo for chronic posttraumatic stress disorder, a randomized controlled trial"
REVIEW_TITLE = "SYNTHETIC TEST RECORD: ketamine for posttraumatic stress disorder, a narrative review"
ERRATUM_TITLE = f"Erratum: {RCT_TITLE}"
STUDY = "Synthetic2025"
# SYNTHETIC extracted numbers (not data): CAPS-5 at day 14 and responders, 20 per arm.
N_ARM = 20
MEAN_K, SD_K, MEAN_P, SD_P = 30.0, 10.0, 40.0, 12.0
EVENTS_K, EVENTS_P = 12, 5


def _env() -> dict[str, str]:
    return dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")


def _cli(work: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([sys.executable, "-m", "livingreview.cli", *args], cwd=work, capture_output=True, text=True, env=_env())
    if check and proc.returncode != 0:
        raise AssertionError(f"livingreview {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


def _json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def _rows(path: Path, key: str) -> dict[str, dict[str, str]]:
    return {r[key]: {k: v for k, v in r.items() if k != "_line"} for r in read_tsv(path)}


def _screening(path: Path) -> dict[tuple[str, str], dict[str, str]]:
    return {(r["cluster_id"], r["stage"]): {k: v for k, v in r.items() if k != "_line"} for r in read_tsv(path)}


def _snapshot(work: Path) -> dict[str, Any]:
    """What a build says, kept to compare with the next month's build."""
    res = work / "results"
    return {
        "counts": _json(res / "prisma/counts.json"),
        "clusters": _rows(res / "dedup/clusters.tsv", "record_id"),
        "canonical": _rows(res / "dedup/canonical.tsv", "cluster_id"),
        "screening": _screening(res / "screening/screening.tsv"),
        "studies": _rows(res / "studies/included_studies.tsv", "study_id"),
        "analyses": {p.stem: _json(p) for p in sorted((res / "synthesis").glob("*.json"))},
        "md": (res / "report/report.md").read_text(encoding="utf-8"),
        "update": {p.name: {f: (p / f).read_bytes() for f in ("new_records.tsv", "todo.tsv", "summary.json")} for p in sorted((res / "update").iterdir())},
    }


def _md_table(md: str, heading: str) -> tuple[list[str], list[list[str]]]:
    section = md.split(f"## {heading}", 1)[1].split("\n## ", 1)[0]
    lines = [line for line in section.splitlines() if line.startswith("| ")]
    split = [[c.strip() for c in line.strip().strip("|").split("|")] for line in lines]
    return split[0], [row for row in split[1:] if not set("".join(row)) <= set("-:")]


def _prisma_rows(md: str) -> tuple[list[str], dict[str, list[int]]]:
    header, rows = _md_table(md, "PRISMA 2020 flow")
    return header[1:], {r[0]: [int(c) for c in r[1:]] for r in rows}


def _whats_new(md: str) -> dict[str, dict[str, str]]:
    header, rows = _md_table(md, "What's new")
    return {r[0]: dict(zip(header, r)) for r in rows}


def _ris(fields: list[tuple[str, str]]) -> str:
    """One hand-written Ovid Embase RIS record."""
    return "".join(f"{tag}  - {value}\n" for tag, value in [("TY", "JOUR"), ("DB", "Embase"), *fields]) + "ER  - \n\n"


def _copy_of_included_report(work: Path) -> str:
    row = next(r for r in read_tsv(work / "results/records/records.tsv") if r["record_id"] == f"pubmed:{COPIED_PMID}")
    return _ris([("T1", row["title"]), *[("A1", a) for a in row["authors"].split("; ")], ("Y1", f"{row['year']}//"),
                 ("JF", row["journal"]), ("VL", row["volume"]), ("IS", row["issue"]), ("M3", "Article"), ("DO", row["doi"])])


def _rct_ris() -> str:
    return _ris([
        ("T1", RCT_TITLE), ("A1", "Testauthor, S."), ("A1", "Testauthor, T."), ("Y1", "2025//"),
        ("N2", "SYNTHETIC abstract for a test. Design: randomized double-blind placebo-controlled trial. Population: adults with chronic PTSD. "
               "Intervention: intravenous ketamine infusion. Comparator: saline placebo."),
        ("JF", "Journal of Synthetic Test Data"), ("M3", "Article"), ("LA", "English"), ("DO", RCT_DOI),
    ])


def _review_ris() -> str:
    return _ris([
        ("T1", REVIEW_TITLE), ("A1", "Testauthor, R."), ("Y1", "2025//"),
        ("N2", "SYNTHETIC abstract for a test: a narrative review of ketamine for PTSD."),
        ("JF", "Journal of Synthetic Test Data"), ("M3", "Review"), ("LA", "English"), ("DO", REVIEW_DOI),
    ])


def _add_run(work: Path, tmp: Path, run_id: str, text: str, count: int) -> None:
    export = tmp / f"embase_{run_id}.ris"
    export.write_text(text, encoding="utf-8")
    prev = {MONTH1: "2025/09/30", MONTH3: "2025/10/31"}[run_id]
    _cli(work, "add-run", "--database", "embase", "--file", str(export), "--date", run_id,
         "--query", "same strategy as config/config.yaml (SYNTHETIC test export)",
         "--date-from", prev, "--date-to", run_id.replace("-", "/"), "--count-reported", str(count))


def _pubmed_record(pmid: str, title: str, pub_types: tuple[str, ...], doi: str) -> Record:
    return Record(record_id=f"pubmed:{pmid}", database="pubmed", native_id=pmid, pmid=pmid, doi=doi, title=title,
                  abstract="SYNTHETIC abstract for a test." if "Erratum" in title else "SYNTHETIC abstract for a test. Randomized trial of intravenous ketamine in adults with chronic PTSD.",
                  authors=("Testauthor S",), journal="Journal of Synthetic Test Data", year="2025", language="eng",
                  publication_types=pub_types)


def _append_tsv(path: Path, rows: list[dict[str, str]]) -> list[int]:
    """Append rows in the file's own column order; returns their line numbers."""
    header = path.read_text(encoding="utf-8").splitlines()[0].split("\t")
    text = path.read_text(encoding="utf-8")
    if not text.endswith("\n"):
        text += "\n"
    first = len(text.splitlines()) + 1
    for row in rows:
        assert set(row) <= set(header), set(row) - set(header)
        text += "\t".join(row.get(c, "") for c in header) + "\n"
    path.write_text(text, encoding="utf-8")
    return list(range(first, first + len(rows)))


def _record_team_work(work: Path) -> None:
    """Between months 1 and 2: decisions, the study and its SYNTHETIC numbers (config/README.md columns)."""
    decided = {"reviewer": "Reviewer A (synthetic test)", "date": "2025-11-10"}
    _append_tsv(work / "resources/screening/decisions.tsv", [
        {"key": RCT_DOI, "stage": "title_abstract", "decision": "include", **decided, "note": "SYNTHETIC test decision"},
        {"key": RCT_DOI, "stage": "full_text", "decision": "include", **decided, "note": "SYNTHETIC test decision"},
    ])
    _append_tsv(work / "resources/extraction/studies.tsv", [{
        "study_id": STUDY, "reports": RCT_DOI, "primary_report": RCT_DOI, "year": "2025",
        "design": "SYNTHETIC test study: randomized, double-blind, placebo-controlled, parallel", "crossover": "false",
        "population": "SYNTHETIC: adults with chronic PTSD", "n_randomized": str(2 * N_ARM), "n_per_arm": f"ketamine: {N_ARM}; placebo: {N_ARM}",
        "dose": "0.5", "infusions": "single", "infusion_schedule": "single 40-minute infusion", "comparator": "saline placebo",
        "comparator_type": "inactive", "notes": "SYNTHETIC test study: every number is made up", "source": "tests/test_e2e_living_scenario.py",
    }])
    common = {"study_id": STUDY, "report_key": RCT_DOI, "scale": "CAPS-5", "timepoint": "day 14", "timepoint_days": "14",
              "primary_endpoint": "true", "n_intervention": str(N_ARM), "n_control": str(N_ARM), "favours": "intervention",
              "inferred": "false", "note": "SYNTHETIC test numbers, not data", "sources": "tests/test_e2e_living_scenario.py", "location": "SYNTHETIC"}
    _append_tsv(work / "resources/extraction/outcomes.tsv", [
        {**common, "outcome_id": f"{STUDY}#1", "domain": "ptsd_severity", "statistic_kind": "mean_sd", "statistic": "CAPS-5 total, mean (SD) per arm",
         "value_text": f"{MEAN_K} ({SD_K}) vs {MEAN_P} ({SD_P})", "mean_intervention": str(MEAN_K), "sd_intervention": str(SD_K),
         "mean_control": str(MEAN_P), "sd_control": str(SD_P), "lower_is_better": "true", "significant": "yes"},
        {**common, "outcome_id": f"{STUDY}#2", "domain": "ptsd_response", "scale": "CAPS-5 response", "statistic_kind": "counts",
         "statistic": "responders n/N", "value_text": f"{EVENTS_K}/{N_ARM} vs {EVENTS_P}/{N_ARM}", "events_intervention": str(EVENTS_K),
         "events_control": str(EVENTS_P), "lower_is_better": "false", "significant": "no"},
    ])


def _hedges_g() -> tuple[float, float]:
    """Hedges' g (positive favours ketamine: lower CAPS-5) and its variance, as metafor's escalc('SMD')."""
    df = 2 * N_ARM - 2
    sp = math.sqrt(((N_ARM - 1) * SD_K**2 + (N_ARM - 1) * SD_P**2) / df)
    j = math.exp(math.lgamma(df / 2) - math.log(math.sqrt(df / 2)) - math.lgamma((df - 1) / 2))
    g = j * (MEAN_P - MEAN_K) / sp
    return g, 2 / N_ARM + g**2 / (2 * 2 * N_ARM)


def _log_rr() -> tuple[float, float]:
    return math.log((EVENTS_K / N_ARM) / (EVENTS_P / N_ARM)), 1 / EVENTS_K - 1 / N_ARM + 1 / EVENTS_P - 1 / N_ARM


def _unchanged(before: dict[str, Any], after: dict[str, Any], name: str, keys: set[Any] | None = None) -> None:
    keys = set(before[name]) if keys is None else keys
    changed = sorted(str(k) for k in keys if after[name].get(k) != before[name][k])
    assert changed == [], f"{name}: earlier rows changed: {changed[:5]}"


def _same_estimates(before: dict[str, Any], after: dict[str, Any]) -> None:
    """Every analysis is unchanged, and its estimate after each earlier run too: the later build's
    ``by_run`` only adds an entry per new run, with the same k and estimate as the run before."""
    assert set(after["analyses"]) == set(before["analyses"])
    for name, then in before["analyses"].items():
        now = after["analyses"][name]
        assert {k: v for k, v in now.items() if k != "by_run"} == {k: v for k, v in then.items() if k != "by_run"}, name
        old_steps = then["by_run"]
        assert now["by_run"][: len(old_steps)] == old_steps, name
        for step in now["by_run"][len(old_steps):]:
            assert step["added"] == [] and (step["k"], step["estimate"]) == (old_steps[-1]["k"], old_steps[-1]["estimate"]), name


def _clusters_unchanged(before: dict[str, Any], after: dict[str, Any]) -> None:
    """Every earlier record keeps its cluster, canonical record, rule and score; the one change allowed is
    a record that was alone ("unique") becoming its cluster's "canonical" once a later record joins it."""
    changed = []
    for rid, row in before["clusters"].items():
        now = after["clusters"].get(rid)
        allowed = dict(row, rule="canonical") if row["rule"] == "unique" else row
        if now != row and now != allowed:
            changed.append(rid)
    assert changed == [], f"clusters: earlier rows changed: {changed[:5]}"


def _check_prisma_columns(snap: dict[str, Any], previous_build: dict[str, Any]) -> dict[str, list[int]]:
    """The previous-version column is the build before's total column; the total is previous + this update."""
    header, rows = _prisma_rows(snap["md"])
    assert header == ["Previous version", "This update", "Total"]
    prev_header, prev_rows = _prisma_rows(previous_build["md"])
    prev_total = {label: cells[-1] for label, cells in prev_rows.items()}
    for label, (previous, update, total) in rows.items():
        assert previous + update == total, label
        assert previous == prev_total.get(label, 0), f"{label}: previous version {previous}, but the build before said {prev_total.get(label, 0)}"
    counts, before = snap["counts"], previous_build["counts"]
    assert counts["previous_studies"] == before["total_studies"] and counts["previous_reports"] == before["total_reports"]
    return rows


@pytest.fixture()
def living(default_review: Path, tmp_path: Path) -> Path:
    work = tmp_path / "review"
    shutil.copytree(default_review, work, symlinks=True)
    return work


def test_three_monthly_updates(living: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    work = living
    month0 = _snapshot(work)
    c0 = month0["counts"]
    reports0 = sum(default_review_reports().values())
    assert c0["total_studies"] == 7 and c0["total_reports"] == reports0 and c0["previous"] is None
    feder_cluster = month0["clusters"][f"pubmed:{COPIED_PMID}"]["cluster_id"]

    # ---- Month 1: an Embase export archived with add-run ---------------------------------------
    _add_run(work, tmp_path, MONTH1, _copy_of_included_report(work) + _rct_ris() + _review_ris(), 3)
    run_snakemake(work)
    month1 = _snapshot(work)
    rec1 = {r["record_id"]: r for r in read_tsv(work / "results/records/records.tsv") if r["run_id"] == MONTH1}
    assert len(rec1) == 3
    by_title = {r["title"].rstrip("."): rid for rid, r in rec1.items()}
    rct_id, review_id = by_title[RCT_TITLE], by_title[REVIEW_TITLE]
    copy_id = next(rid for rid in rec1 if rid not in (rct_id, review_id))
    assert month1["clusters"][copy_id]["cluster_id"] == feder_cluster, "the copy joins the included report's cluster"
    rct_cluster = month1["clusters"][rct_id]["cluster_id"]
    review_cluster = month1["clusters"][review_id]["cluster_id"]

    new1 = read_tsv(work / f"results/update/{MONTH1}/new_records.tsv")
    assert sorted(r["cluster_id"] for r in new1) == sorted([rct_cluster, review_cluster])
    state = {r["cluster_id"]: (r["last_stage"], r["decision"]) for r in new1}
    assert state[review_cluster] == ("automation", "excluded")
    assert state[rct_cluster] == ("automation", "passed") or state[rct_cluster][1] == "awaiting_decision"
    todo1 = read_tsv(work / f"results/update/{MONTH1}/todo.tsv")
    assert [(t["cluster_id"], t["stage"]) for t in todo1] == [(rct_cluster, "title_abstract")]
    summary1 = _json(work / f"results/update/{MONTH1}/summary.json")
    assert summary1 == {"run_id": MONTH1, "records_retrieved": 3, "duplicates_of_earlier_runs": 1, "duplicates_within_run": 0,
                        "new_clusters": 2, "awaiting_decision": 1, "new_included_studies": [], "included_studies_total": 7}

    c1 = month1["counts"]
    assert c1["newest_runs"] == [MONTH1] and c1["previous"]["runs"] == [FIRST_RUN]
    assert (c1["database_results"], c1["register_results"], c1["duplicates"], c1["excluded_automatic"]) == (3, 0, 1, 1)
    assert (c1["records_screened"], c1["records_awaiting"], c1["new_studies"]) == (1, 1, 0)
    rows1 = _check_prisma_columns(month1, month0)
    assert rows1["Records identified from databases"] == [c0["database_results"], 3, c0["database_results"] + 3]
    assert rows1["Records awaiting a decision (title/abstract)"] == [0, 1, 1]
    assert rows1["Studies included"] == [7, 0, 7]
    new_row = _whats_new(month1["md"])[MONTH1]
    assert (new_row["Records retrieved"], new_row["Already seen"], new_row["New records"], new_row["Awaiting a decision"]) == ("3", "1", "2", "1")
    assert (new_row["New included studies"], new_row["Included studies"]) == ("none", "7")
    # the first run's outputs are untouched by month 1
    _clusters_unchanged(month0, month1)
    _unchanged(month0, month1, "canonical")
    _unchanged(month0, month1, "screening")
    assert month1["studies"] == month0["studies"]
    _same_estimates(month0, month1)

    # ---- Between months: the team's decisions and extraction, and a rebuild ------------------------
    _record_team_work(work)
    _cli(work, "validate")
    run_snakemake(work)
    screened = _snapshot(work)
    assert read_tsv(work / f"results/update/{MONTH1}/todo.tsv") == [], "month 1's to-do list shrinks once decided"
    assert set(screened["studies"]) == set(month1["studies"]) | {STUDY}
    assert screened["studies"][STUDY]["record_ids"] == rct_id
    for sid, row in month1["studies"].items():
        assert screened["studies"][sid] == row, sid
    wn1 = _whats_new(screened["md"])[MONTH1]
    assert (wn1["Awaiting a decision"], wn1["New included studies"], wn1["Included studies"]) == ("0", STUDY, "8")
    # the primary analysis (MD) stays unpooled (two scales); the SMD is pooled from month 1 on
    md_reason = {e["run_id"]: e for e in screened["analyses"]["ptsd_severity_md"]["by_run"]}[MONTH1]["reason"]
    assert md_reason.startswith("a mean difference needs one scale, the 3 studies used")
    assert wn1["Pooled estimate"] == f"not pooled, k = 3: {md_reason}; was not pooled, k = 2"
    smd = screened["analyses"]["ptsd_severity_smd"]
    steps = {e["run_id"]: e for e in smd["by_run"]}
    assert (steps[FIRST_RUN]["k"], steps[FIRST_RUN]["pooled"], steps[MONTH1]["added"], steps[MONTH1]["k"]) == (1, False, [STUDY], 2)
    assert (steps[MONTH1]["estimate"], steps[MONTH1]["ci_low"], steps[MONTH1]["ci_high"]) == (smd["estimate"], smd["ci_low"], smd["ci_high"])
    # pooled estimates: SMD and RR go from one study (not pooled) to two (pooled)
    g, vg = _hedges_g()
    lrr, vlrr = _log_rr()
    for analysis, (yi, vi) in {"ptsd_severity_smd": (g, vg), "ptsd_response_rr": (lrr, vlrr)}.items():
        before, after = month1["analyses"][analysis], screened["analyses"][analysis]
        assert before["pooled"] is False and before["k"] == 1
        assert after["pooled"] is True and after["k"] == 2
        mine = next(s for s in after["studies"] if s["study"] == STUDY)
        assert mine["yi"] == pytest.approx(yi, abs=1e-6) and mine["vi"] == pytest.approx(vi, abs=1e-6)
    md_before, md_after = month1["analyses"]["ptsd_severity_md"], screened["analyses"]["ptsd_severity_md"]
    assert md_before["pooled"] is False and md_after["pooled"] is False, "two scales (IES-R, CAPS-5): no MD is pooled"
    mine = next(s for s in md_after["studies"] if s["study"] == STUDY)
    assert mine["yi"] == pytest.approx(MEAN_P - MEAN_K) and mine["vi"] == pytest.approx(SD_K**2 / N_ARM + SD_P**2 / N_ARM)
    # month 1's version, screened: the first run's version is unchanged; the study is this update's
    rows1s = _check_prisma_columns(screened, month0)
    assert rows1s["Studies included"] == [7, 1, 8] and rows1s["Reports of included studies"] == [reports0, 1, reports0 + 1]
    assert "Records awaiting a decision (title/abstract)" not in rows1s
    _clusters_unchanged(month1, screened)
    _unchanged(month1, screened, "canonical")
    _unchanged(month1, screened, "screening", {k for k in month1["screening"] if k[0] != rct_cluster})
    assert screened["screening"][(rct_cluster, "full_text")]["decision"] == "included"

    # ---- Month 2: the live PubMed update through the fake E-utilities server --------------------
    monkeypatch.setenv("NCBI_EMAIL", "reviewer@university.test")
    served = [
        FakeRecord(RCT_PMID, dt.date(2025, 10, 20), record=_pubmed_record(RCT_PMID, RCT_TITLE, ("Journal Article", "Randomized Controlled Trial"), RCT_DOI)),
        FakeRecord(ERRATUM_PMID, dt.date(2025, 11, 15), record=_pubmed_record(ERRATUM_PMID, ERRATUM_TITLE, ("Published Erratum",), "")),
    ]
    with FakeEutils(served) as server, route_entrez(server.base_url):
        from livingreview.search import run_pubmed_search

        run_dir = run_pubmed_search(config_path=work / "config/config.yaml", root=work / "resources/searches", since="last",
                                    today=dt.date(2025, 11, 30), sleep=lambda s: None).path
    assert run_dir is not None and run_dir.name == MONTH2
    (entry,) = _json(run_dir / "manifest.json")["files"]
    assert entry["date_limits"]["from"] == "2025/09/30" and entry["count_in_file"] == 2
    run_snakemake(work)
    month2 = _snapshot(work)

    rec2 = {r["record_id"] for r in read_tsv(work / "results/records/records.tsv") if r["run_id"] == MONTH2}
    assert rec2 == {f"pubmed:{RCT_PMID}", f"pubmed:{ERRATUM_PMID}"}
    assert month2["clusters"][f"pubmed:{RCT_PMID}"]["cluster_id"] == rct_cluster, "the PubMed copy of the candidate joins it by DOI"
    erratum_cluster = month2["clusters"][f"pubmed:{ERRATUM_PMID}"]["cluster_id"]
    new2 = read_tsv(work / f"results/update/{MONTH2}/new_records.tsv")
    assert [(r["cluster_id"], r["decision"]) for r in new2] == [(erratum_cluster, "excluded")]
    assert read_tsv(work / f"results/update/{MONTH2}/todo.tsv") == []
    summary2 = _json(work / f"results/update/{MONTH2}/summary.json")
    assert (summary2["records_retrieved"], summary2["duplicates_of_earlier_runs"], summary2["new_clusters"], summary2["awaiting_decision"]) == (2, 1, 1, 0)

    # the duplicate and the erratum change no study and no estimate
    assert month2["studies"] == screened["studies"]
    _same_estimates(screened, month2)
    # earlier runs' rows untouched (a singleton becomes 'canonical' when a later record joins it)
    _clusters_unchanged(screened, month2)
    assert (screened["clusters"][rct_id]["rule"], month2["clusters"][rct_id]["rule"]) == ("unique", "canonical")
    _unchanged(screened, month2, "canonical")
    _unchanged(screened, month2, "screening")
    c2 = month2["counts"]
    assert c2["newest_runs"] == [MONTH2] and c2["previous"]["runs"] == [FIRST_RUN, MONTH1]
    assert c2["total_studies"] == 8 and c2["total_reports"] == reports0 + 1
    # the previous version is month 1's as screened before this search (decisions dated 2025-11-10)
    rows2 = _check_prisma_columns(month2, screened)
    assert rows2["Studies included"] == [8, 0, 8] and rows2["Reports of included studies"] == [reports0 + 1, 0, reports0 + 1]
    assert (c2["previous_studies"], c2["new_studies"], c2["previous_reports"], c2["new_reports"]) == (8, 0, reports0 + 1, 0)
    assert c2["previous"]["decided_before"] == MONTH2 and c2["previous"]["decided_since"] == []
    assert f"counted as it stood when this update's search ran, with the decisions dated before {MONTH2}.\n\n| |" in month2["md"]
    wn2 = _whats_new(month2["md"])
    assert wn2[MONTH2]["Records retrieved"] == "2" and wn2[MONTH2]["New records"] == "1" and wn2[MONTH2]["Included studies"] == "8"
    assert wn2[MONTH1] == _whats_new(screened["md"])[MONTH1] and wn2[MONTH2]["Pooled estimate"] == "unchanged"
    # the prisma command counts as the pipeline does (it reads the config's dated decisions too)
    assert json.loads(_cli(work, "prisma", "--json").stdout) == c2
    participants = sum(int(s["n_randomized"]) for s in month2["studies"].values())
    assert participants == 327 + 2 * N_ARM

    # ---- Month 3: nothing new -----------------------------------------------------------------
    with FakeEutils(served) as server, route_entrez(server.base_url):
        none = run_pubmed_search(config_path=work / "config/config.yaml", root=work / "resources/searches", since="last",
                                 today=dt.date(2025, 12, 31), sleep=lambda s: None).path
    assert none is None
    _add_run(work, tmp_path, MONTH3, _rct_ris(), 1)  # the month's Embase export holds only the candidate again
    run_snakemake(work)
    month3 = _snapshot(work)
    summary3 = _json(work / f"results/update/{MONTH3}/summary.json")
    assert (summary3["records_retrieved"], summary3["duplicates_of_earlier_runs"], summary3["new_clusters"], summary3["awaiting_decision"]) == (1, 1, 0, 0)
    assert summary3["new_included_studies"] == [] and summary3["included_studies_total"] == 8
    _clusters_unchanged(month2, month3)
    for name in ("canonical", "screening", "studies"):
        _unchanged(month2, month3, name)
    _same_estimates(month2, month3)
    for run_id, files in month2["update"].items():
        assert month3["update"][run_id] == files, f"update files of {run_id} changed"
    rows3 = _check_prisma_columns(month3, month2)
    assert rows3["Records identified from databases"][1] == 1 and rows3["Duplicate records removed"][1] == 1
    assert rows3["Records screened"][1] == 0 and rows3["Studies included"] == [8, 0, 8]
    wn3 = _whats_new(month3["md"])
    assert (wn3[MONTH3]["Records retrieved"], wn3[MONTH3]["New records"], wn3[MONTH3]["New included studies"]) == ("1", "0", "none")
    for run_id in (FIRST_RUN, MONTH1, MONTH2):
        assert wn3[run_id] == wn2[run_id], f"What's new row of {run_id} changed"

    # ---- trace: from the database and run to the forest plot ----------------------------------
    out = _cli(work, "trace", RCT_DOI).stdout
    assert f"resources/searches/{MONTH1}/embase.ris" in out or f"resources/searches/{MONTH1}/" in out
    assert f"run {MONTH1}" in out and f"run {MONTH2}" in out
    assert f"study: {STUDY}" in out
    assert f"results/synthesis/ptsd_severity_smd_forest.svg [ptsd_severity_smd]: SMD {g:.2f}" in out
    assert f"results/synthesis/ptsd_response_rr_forest.svg [ptsd_response_rr]: log RR {lrr:.2f}" in out
    assert re.search(rf"{re.escape(STUDY)}#1 resources/extraction/outcomes.tsv:\d+", out)
