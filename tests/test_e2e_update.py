"""End to end (issue 7): a second search run joins the review; only what is new is screened.

The second run's records are SYNTHETIC TEST DATA written in a temp dir (never in resources/):
a copy of an archived record (overlap), an erratum of an included study, an animal study and a
new RCT candidate. The overlap copy is rebuilt from the first run's own records.tsv row.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from livingreview.records import Record
from livingreview.search import run_pubmed_search
from livingreview.tables import read_tsv
from livingreview.trace import format_trace, trace
from livingreview.writers import ovid_ris

from conftest import default_review_reports, run_snakemake
from fake_eutils import FakeEutils, FakeRecord, route_entrez

pytestmark = pytest.mark.e2e

FEDER2014_PMID = "24740528"
NEW_RUN = "2025-10-31"


def _row(work: Path, record_id: str) -> dict[str, str]:
    return next(r for r in read_tsv(work / "results/records/records.tsv") if r["record_id"] == record_id)


def _second_run_records(work: Path) -> dict[str, Record]:
    feder = Record.from_row(_row(work, f"pubmed:{FEDER2014_PMID}"))
    overlap = Record.from_row(_row(work, f"pubmed:{FEDER2014_PMID}"))
    overlap.record_id = overlap.native_id = overlap.pmid = ""
    erratum = Record(
        title=f"Erratum: {feder.title}",
        authors=(),
        journal=feder.journal,
        year="2025",
        publication_types=("Published Erratum",),
        abstract="Synthetic test record: correction notice for an included trial report.",
    )
    animal = Record(
        title="Synthetic test record: ketamine and fear extinction in rats exposed to footshock stress",
        authors=("Testauthor A",),
        journal="Journal of Synthetic Test Data",
        year="2025",
        publication_types=("Journal Article",),
        abstract="Design: preclinical experiment. Population: male rats. Ketamine route: intraperitoneal. Comparator: saline.",
    )
    rct = Record(
        title="Synthetic test record: intravenous ketamine versus midazolam for posttraumatic stress disorder, a randomized controlled trial",
        authors=("Testauthor B", "Testauthor C"),
        journal="Journal of Synthetic Test Data",
        year="2025",
        publication_types=("Journal Article", "Randomized Controlled Trial"),
        abstract="Design: randomized double-blind trial. Population: adults with chronic PTSD. Ketamine route: intravenous infusion. Comparator: midazolam.",
    )
    return {"overlap": overlap, "erratum": erratum, "animal": animal, "rct": rct}


@pytest.fixture()
def reviewed(default_review: Path, tmp_path: Path) -> Path:
    """A private copy of the built default review (results and Snakemake metadata included)."""
    work = tmp_path / "review"
    shutil.copytree(default_review, work, symlinks=True)
    return work


def _new_clusters(work: Path, run_id: str) -> dict[str, str]:
    """record title -> cluster id, for the records of ``run_id``."""
    cluster = {c["record_id"]: c["cluster_id"] for c in read_tsv(work / "results/dedup/clusters.tsv")}
    return {r["title"]: cluster[r["record_id"]] for r in read_tsv(work / "results/records/records.tsv") if r["run_id"] == run_id}


def _check_previous_column(work: Path, *, new_identified: int) -> dict:
    counts = json.loads((work / "results/prisma/counts.json").read_text(encoding="utf-8"))
    text = json.dumps(counts)
    assert "2025-09-30" in text and NEW_RUN in text
    assert counts["previous_studies"] == 7 and counts["previous_reports"] == sum(default_review_reports().values())
    assert counts["database_results"] + counts["register_results"] == new_identified
    screened = counts["database_results"] + counts["register_results"] - counts["duplicates"] - counts["excluded_automatic"] - counts["excluded_other"]
    assert counts["records_screened"] == screened
    assert counts["total_studies"] == counts["previous_studies"] + counts["new_studies"] == 7
    return counts


# Per-cluster tables whose earlier rows an update must never change, with the column keying them.
EARLIER_TABLES = (("dedup/clusters.tsv", "record_id"), ("dedup/canonical.tsv", "cluster_id"), ("screening/screening.tsv", "cluster_id"))


def _earlier_rows(work: Path) -> dict[str, dict[str, dict[str, str]]]:
    """Each of EARLIER_TABLES as {key: row} (without the reader's _line)."""
    return {name: {r[key]: {k: v for k, v in r.items() if k != "_line"} for r in read_tsv(work / f"results/{name}")} for name, key in EARLIER_TABLES}


def _check_earlier_rows_unchanged(work: Path, earlier: dict[str, dict[str, dict[str, str]]]) -> None:
    """Every row of ``earlier`` (_earlier_rows before the update) is still there, unchanged."""
    after = _earlier_rows(work)
    for name, rows in earlier.items():
        changed = sorted(k for k, row in rows.items() if after[name].get(k) != row)
        assert changed == [], f"{name}: earlier rows changed by the update: {changed[:5]}"


def _md_prisma_table(md: str) -> tuple[list[str], dict[str, list[int]]]:
    """Header and rows (label -> numbers) of the PRISMA table in report.md."""
    section = md.split("## PRISMA 2020 flow", 1)[1].split("\n## ", 1)[0]
    lines = [line for line in section.splitlines() if line.startswith("| ")]
    header = [c.strip() for c in lines[0].strip("|").split("|")][1:]
    rows = {}
    for line in lines[1:]:
        label, *cells = (c.strip() for c in line.strip("|").split("|"))
        rows[label] = [int(c) for c in cells]
    return header, rows


def _check_report_prisma_table(work: Path, counts: dict) -> None:
    """The report's PRISMA table shows the previous version, this update and the total, all from counts.json."""
    md = (work / "results/report/report.md").read_text(encoding="utf-8")
    header, rows = _md_prisma_table(md)
    assert header == ["Previous version", "This update", "Total"]
    total = counts["all_runs"]
    prev_runs = [r for r in counts["runs"] if r["previous"]]
    assert [r["run_id"] for r in prev_runs] == counts["previous"]["runs"] == ["2025-09-30"]
    assert counts["newest_runs"] == [NEW_RUN]
    assert f"Previous version: search run 2025-09-30. This update: search run {NEW_RUN}." in md
    update_keys = {
        "Duplicate records removed": "duplicates",
        "Records marked ineligible by automation tools": "excluded_automatic",
        "Records screened": "records_screened",
        "Records excluded": "records_excluded",
        "Reports sought for retrieval": "dbr_sought_reports",
        "Reports not retrieved": "dbr_notretrieved_reports",
        "Reports assessed for eligibility": "dbr_assessed",
    }
    if counts["records_awaiting"] or total["records_awaiting"]:
        update_keys["Records awaiting a decision (title/abstract)"] = "records_awaiting"
    else:
        assert "Records awaiting a decision (title/abstract)" not in rows
    if counts["dbr_awaiting"] or total["dbr_awaiting"]:
        update_keys["Reports awaiting a decision (full text)"] = "dbr_awaiting"
    else:
        assert "Reports awaiting a decision (full text)" not in rows
    for label, key in update_keys.items():
        assert rows[label] == [total[key] - counts[key], counts[key], total[key]], label
    identified = rows["Records identified from databases"]
    registers = rows["Records identified from registers"]
    assert identified[1] == counts["database_results"] and registers[1] == counts["register_results"]
    assert identified[0] + registers[0] == counts["previous"]["records_identified"] == prev_runs[0]["identified"]
    assert identified[2] + registers[2] == total["records_identified"] == sum(r["identified"] for r in counts["runs"])
    assert rows["Studies included"] == [counts["previous_studies"], counts["new_studies"], counts["total_studies"]]
    assert rows["Reports of included studies"] == [counts["previous_reports"], counts["new_reports"], counts["total_reports"]]
    assert counts["total_reports"] == total["reports"]
    # the previous-version column is the total minus this update
    assert rows["Records screened"][0] == total["records_screened"] - counts["records_screened"]
    html = (work / "results/report/index.html").read_text(encoding="utf-8")
    table = html.split('<table id="prisma-table">', 1)[1].split("</table>", 1)[0]
    html_rows = dict(re.findall(r"<tr><td>([^<]+)</td>((?:<td class=\"n\">\d+</td>){3})</tr>", table))
    assert {k: [int(n) for n in re.findall(r"\d+", v)] for k, v in html_rows.items()} == rows


def test_add_run_adds_only_new_clusters(reviewed: Path, tmp_path: Path) -> None:
    before = (reviewed / "results/studies/included_studies.tsv").read_bytes()
    first_md = (reviewed / "results/report/report.md").read_text(encoding="utf-8")
    earlier = _earlier_rows(reviewed)
    recs = _second_run_records(reviewed)
    export = tmp_path / "embase_update.ris"
    export.write_text(ovid_ris(list(recs.values()), database="embase"), encoding="utf-8")
    subprocess.run(
        [sys.executable, "-m", "livingreview.cli", "add-run", "--database", "embase", "--file", str(export),
         "--date", NEW_RUN, "--query", "same strategy as config/config.yaml", "--root", "resources/searches"],
        cwd=reviewed, check=True, capture_output=True, text=True,
    )
    run_snakemake(reviewed)

    by_title = _new_clusters(reviewed, NEW_RUN)
    assert len(by_title) == 4
    feder_cluster = {c["record_id"]: c["cluster_id"] for c in read_tsv(reviewed / "results/dedup/clusters.tsv")}[f"pubmed:{FEDER2014_PMID}"]
    overlap_cluster = next(c for t, c in by_title.items() if t.rstrip(".") == recs["overlap"].title.rstrip("."))
    assert overlap_cluster == feder_cluster, "the copy of an archived record joins its cluster"

    new = read_tsv(reviewed / f"results/update/{NEW_RUN}/new_records.tsv")
    expected_new = {c for t, c in by_title.items() if c != feder_cluster}
    assert {r["cluster_id"] for r in new} == expected_new and len(expected_new) == 3
    decisions = {r["title"].rstrip("."): r["decision"] for r in new}
    assert decisions[recs["erratum"].title.rstrip(".")] == "excluded"
    assert decisions[recs["animal"].title.rstrip(".")] == "excluded"

    todo = read_tsv(reviewed / f"results/update/{NEW_RUN}/todo.tsv")
    assert [(t["title"].rstrip("."), t["stage"]) for t in todo] == [(recs["rct"].title.rstrip("."), "title_abstract")]

    summary = json.loads((reviewed / f"results/update/{NEW_RUN}/summary.json").read_text(encoding="utf-8"))
    assert summary["records_retrieved"] == 4 and summary["duplicates_of_earlier_runs"] == 1 and summary["new_clusters"] == 3

    counts = _check_previous_column(reviewed, new_identified=4)
    assert counts["duplicates"] == 1
    assert counts["records_awaiting"] == 1, "the new RCT candidate awaits a title/abstract decision"
    _check_report_prisma_table(reviewed, counts)
    first_header, first_rows = _md_prisma_table(first_md)
    assert first_header == ["n"]
    _, rows = _md_prisma_table((reviewed / "results/report/report.md").read_text(encoding="utf-8"))
    previous_column = {label: cells[0] for label, cells in rows.items() if label != "Records awaiting a decision (title/abstract)"}
    assert previous_column == {label: n for label, (n,) in first_rows.items()}, "the previous version is the first build's table"

    assert (reviewed / "results/studies/included_studies.tsv").read_bytes() == before
    # Earlier work untouched: every earlier record keeps its cluster (id, canonical record, rule),
    # every earlier cluster its merged record and its screening row.
    _check_earlier_rows_unchanged(reviewed, earlier)
    ledger = read_tsv(reviewed / "results/audit/ledger.tsv")
    finals = Counter()
    last = {}
    for row in ledger:
        last[row["record_id"]] = row
    finals.update(r["outcome"] for r in last.values())
    assert finals["included"] == sum(default_review_reports().values()) and finals["awaiting_decision"] == 1

    html = (reviewed / "results/report/index.html").read_text(encoding="utf-8")
    assert "What" in html and "new" in html and NEW_RUN in html


def test_search_since_last_through_the_fake_server(reviewed: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # the shipped config has no contact address: NCBI_EMAIL gives one (a reserved .test domain)
    monkeypatch.setenv("NCBI_EMAIL", "reviewer@university.test")
    recs = _second_run_records(reviewed)
    feder = Record.from_row(_row(reviewed, f"pubmed:{FEDER2014_PMID}"))
    served = [
        FakeRecord(FEDER2014_PMID, dt.date(2025, 10, 2), record=feder),  # already archived: left out
        FakeRecord("990000001", dt.date(2025, 10, 5), record=_with_pmid(recs["rct"], "990000001")),
        FakeRecord("990000002", dt.date(2025, 10, 9), record=_with_pmid(recs["erratum"], "990000002")),
    ]
    with FakeEutils(served) as server, route_entrez(server.base_url):
        run_dir = run_pubmed_search(
            config_path=reviewed / "config/config.yaml",
            root=reviewed / "resources/searches",
            since="last",
            today=dt.date(2025, 10, 31),
            sleep=lambda s: None,
        ).path
        # running the update again on the same day adds nothing
        again = run_pubmed_search(
            config_path=reviewed / "config/config.yaml",
            root=reviewed / "resources/searches",
            since="last",
            today=dt.date(2025, 10, 31),
            sleep=lambda s: None,
        ).path
    assert run_dir is not None and run_dir.name == NEW_RUN
    assert again is None
    assert {r.params.get("email") for r in server.requests} == {"reviewer@university.test"}
    manifest = json.loads((run_dir / "manifest.json").read_text(encoding="utf-8"))
    (entry,) = manifest["files"]
    assert entry["count_reported"] == 3 and entry["count_in_file"] == 2
    assert entry["found_again"] == {f"pubmed:{FEDER2014_PMID}": "2025-09-30"}

    run_snakemake(reviewed)
    new = read_tsv(reviewed / f"results/update/{NEW_RUN}/new_records.tsv")
    assert sorted(r["record_id"] for r in new) == ["pubmed:990000001", "pubmed:990000002"]
    todo = read_tsv(reviewed / f"results/update/{NEW_RUN}/todo.tsv")
    assert [t["record_id"] for t in todo] == ["pubmed:990000001"]
    counts = _check_previous_column(reviewed, new_identified=2)
    _check_report_prisma_table(reviewed, counts)
    assert entry["date_limits"]["datetype"] == "edat"  # update searches select by Entrez date, and the report says so
    html = (reviewed / "results/report/index.html").read_text(encoding="utf-8")
    assert f"{entry['date_limits']['from']} to {entry['date_limits']['to']} (edat)" in html
    # the search's own note on the archived record it left out reaches the report (search table and What's new)
    left_out = "1 of 3 records found are already archived and left out of this file: 2025-09-30 (1)"
    assert left_out in entry["notes"]
    assert f"{left_out} (not records identified by this run).</li>" in html
    assert html.count(left_out) == 2
    # the record the search found again is traced to the run that archives it and to the later search
    traced = format_trace(trace(FEDER2014_PMID, results_dir=reviewed / "results", studies_table=reviewed / "resources/extraction/studies.tsv",
                                outcomes_table=reviewed / "resources/extraction/outcomes.tsv", runs_root=reviewed / "resources/searches"))
    assert (f"met again by run {NEW_RUN} (pubmed.xml.gz: found by the search; not written to the file, as run 2025-09-30 archives it)") in traced


def _with_pmid(record: Record, pmid: str) -> Record:
    return Record(**{**{f: getattr(record, f) for f in record.__dataclass_fields__ if f != "extra"},
                     "record_id": f"pubmed:{pmid}", "database": "pubmed", "native_id": pmid, "pmid": pmid})


def _ris_with_pmids(records: dict[str, Record]) -> str:
    """A PubMed export in RIS whose records carry their PMID as the accession number (AN): SYNTHETIC
    records, or copies of archived ones, written by the Ovid writer (its DB line dropped) in the given order."""
    parts = []
    for pmid, record in records.items():
        text = ovid_ris([record], database="medline")
        lines = [line for line in text.splitlines(keepends=True) if not line.startswith("DB  - ")]
        assert lines[0].startswith("TY  - ")
        parts.append(lines[0] + f"AN  - {pmid}\n" + "".join(lines[1:]))
    return "".join(parts)


def test_add_run_of_an_export_overlapping_the_first_run_leaves_the_archived_records_out(reviewed: Path, tmp_path: Path) -> None:
    """A monthly export holding records the first run archived (same PMIDs) is archived byte for byte;
    its manifest lists them and the build leaves them out of the new run: only the new records are
    identified, screened and listed as new, and the first run's outputs do not change."""
    before = (reviewed / "results/studies/included_studies.tsv").read_bytes()
    earlier = _earlier_rows(reviewed)
    archived_rows = sorted((r for r in read_tsv(reviewed / "results/records/records.tsv") if r["database"] == "pubmed" and r["pmid"]), key=lambda r: r["record_id"])
    overlap = {FEDER2014_PMID: Record.from_row(_row(reviewed, f"pubmed:{FEDER2014_PMID}"))}
    other = next(r for r in archived_rows if r["pmid"] != FEDER2014_PMID)
    overlap[other["pmid"]] = Record.from_row(other)
    recs = _second_run_records(reviewed)
    new = {"990000011": recs["animal"], "990000012": recs["rct"]}
    export = tmp_path / "pubmed_update.ris"
    # the boundary day searched again: the archived records come first, as the database sorted them
    export.write_text(_ris_with_pmids({**overlap, **new}), encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, "-m", "livingreview.cli", "add-run", "--database", "pubmed", "--file", str(export), "--date", NEW_RUN,
         "--query", "same strategy as config/config.yaml", "--date-from", "2025/09/30", "--date-to", "2025/10/31",
         "--count-reported", "4", "--root", "resources/searches"],
        cwd=reviewed, check=True, capture_output=True, text=True,
    )
    assert "2 already archived, left out by the import (2025-09-30 (2))" in proc.stdout
    run_dir = reviewed / "resources/searches" / NEW_RUN
    assert (run_dir / export.name).read_bytes() == export.read_bytes()  # archived as the database returned it
    (entry,) = json.loads((run_dir / "manifest.json").read_text(encoding="utf-8"))["files"]
    assert entry["already_archived"] == {f"pubmed:{pmid}": "2025-09-30" for pmid in sorted(overlap)}
    assert (entry["count_in_file"], entry["count_reported"]) == (4, 4)

    run_snakemake(reviewed)

    # the new run holds only the new records; the archived ones stay the first run's, at their lines there
    records = read_tsv(reviewed / "results/records/records.tsv")
    assert sorted(r["record_id"] for r in records if r["run_id"] == NEW_RUN) == ["pubmed:990000011", "pubmed:990000012"]
    for pmid in overlap:
        row = _row(reviewed, f"pubmed:{pmid}")
        assert row["run_id"] == "2025-09-30" and row["source_file"].startswith("resources/searches/2025-09-30/")
    # `livingreview trace` (run in the review's folder, its default paths) shows the export met it again
    traced = subprocess.run([sys.executable, "-m", "livingreview.cli", "trace", FEDER2014_PMID], cwd=reviewed, check=True, capture_output=True, text=True).stdout
    assert f"met again by run {NEW_RUN} (pubmed_update.ris: in the file; left out by the import, as run 2025-09-30 archives it)" in traced
    identification = [r for r in read_tsv(reviewed / "results/audit/ledger.tsv") if r["stage"] == "identification" and r["evidence"] == NEW_RUN]
    assert sorted(r["record_id"] for r in identification) == ["pubmed:990000011", "pubmed:990000012"]

    new_rows = read_tsv(reviewed / f"results/update/{NEW_RUN}/new_records.tsv")
    by_title = _new_clusters(reviewed, NEW_RUN)
    assert {r["cluster_id"] for r in new_rows} == set(by_title.values()) and len(new_rows) == 2
    assert sorted(r["record_id"] for r in new_rows) == ["pubmed:990000011", "pubmed:990000012"]
    summary = json.loads((reviewed / f"results/update/{NEW_RUN}/summary.json").read_text(encoding="utf-8"))
    assert (summary["records_retrieved"], summary["duplicates_of_earlier_runs"], summary["new_clusters"]) == (2, 0, 2)
    todo = read_tsv(reviewed / f"results/update/{NEW_RUN}/todo.tsv")
    assert [t["record_id"] for t in todo] == ["pubmed:990000012"]  # the RCT candidate; the animal study is excluded by its rule

    # PRISMA: the update identified 2 records, and every column adds up
    counts = _check_previous_column(reviewed, new_identified=2)
    assert counts["duplicates"] == 0
    _check_report_prisma_table(reviewed, counts)

    # the first run's outputs are unchanged
    assert (reviewed / "results/studies/included_studies.tsv").read_bytes() == before
    _check_earlier_rows_unchanged(reviewed, earlier)

    # the report's search table notes the records left out
    note = f"resources/searches/{NEW_RUN}/pubmed_update.ris`: 2 of 4 records in this file are already archived and left out: 2025-09-30 (2) (not records identified by this run)."
    assert note in (reviewed / "results/report/report.md").read_text(encoding="utf-8")
    # ... and What's new says its "records retrieved" (2) leaves them out, naming the file and the note
    md = (reviewed / "results/report/report.md").read_text(encoding="utf-8")
    whats_new = md.split("## What's new", 1)[1].split("\n## ", 1)[0]
    summary = json.loads((reviewed / f"results/update/{NEW_RUN}/summary.json").read_text(encoding="utf-8"))
    assert summary["records_retrieved"] == 2
    assert ("are left out before that count (they are neither retrieved nor identified again): "
            f"run {NEW_RUN}, `resources/searches/{NEW_RUN}/pubmed_update.ris`: 2 of 4 records in this file are already archived "
            "and left out: 2025-09-30 (2).") in whats_new
