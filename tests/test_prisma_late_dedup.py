"""The previous-version column of an updated review counts the previous version as it stood, also
for human DEDUP decisions: a link or keep-apart in resources/dedup/decisions.tsv dated on or after
this update's first search changes the clusters of this update, not those of the previous version.

Each case builds a two-run review through the library stages (dedup, screening, study linking,
ledger, PRISMA counts, as the pipeline chains them) and checks the previous-version column against a
build of run 1 alone with only the decisions (screening and dedup) dated before the cut.

Every record here is SYNTHETIC TEST DATA: titles say "SYNTHETIC", PMIDs are >= 900000000 and DOIs
use the 10.5555 test prefix.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import pytest

from livingreview.decisions import build_index, load_decisions, resolve_decisions
from livingreview.dedup import deduplicate, load_dedup_decisions
from livingreview.ledger import assemble_ledger
from livingreview.prisma import run_prisma_counts, to_prisma_csv
from livingreview.records import Record
from livingreview.report import prisma_table
from livingreview.screen_stage import screen_clusters
from livingreview.screening import load_rules, screen_record
from livingreview.studies import link_studies
from livingreview.tables import read_tsv, write_tsv
from livingreview.constants import LEDGER_FIELDS

RULES = str(Path(__file__).resolve().parents[1] / "config/screening.yaml")
SOURCES = [
    {"database": "pubmed", "kind": "database", "platform": "PubMed"},
    {"database": "embase", "kind": "database", "platform": "Ovid Embase"},
    {"database": "psycinfo", "kind": "database", "platform": "Ovid APA PsycInfo"},
]
RUN1, RUN2 = "2025-09-30", "2025-10-31"
LATE, EARLY = "2025-11-05", "2025-10-02"
RCT = "SYNTHETIC TEST RECORD: {} a randomized double-blind placebo-controlled trial of intravenous ketamine in adults with chronic posttraumatic stress disorder"
ABSTRACT = "SYNTHETIC abstract. Adults with chronic PTSD were randomized to intravenous ketamine infusion or saline placebo."


def _rec(record_id: str, run_id: str, title: str, *, year: str, author: str, doi: str = "", types: tuple[str, ...] = ("Journal Article",)) -> Record:
    database, _, native = record_id.partition(":")
    pmid = native if database == "pubmed" else ""
    return Record(record_id=record_id, run_id=run_id, database=database, native_id=native, pmid=pmid, doi=doi, title=title, abstract=ABSTRACT,
                  authors=(author,), journal="Journal of Synthetic Test Data", year=year, publication_types=types, language="English",
                  source_file=f"resources/searches/{run_id}/{database}.x", source_line=1)


A = _rec("pubmed:900000101", RUN1, RCT.format("Alpha trial:"), year="2024", author="Aatest A", doi="10.5555/audit.a")
# A's conference-style copy: a title and author spelled so that no automatic rule links them; people link them
A_COPY_RUN1 = _rec(f"embase:{RUN1}#1", RUN1, "SYNTHETIC TEST RECORD: repeated infusions in veterans, first results", year="2024", author="Zztest Z")
A_COPY_RUN2 = _rec(f"embase:{RUN2}#2", RUN2, "SYNTHETIC TEST RECORD: repeated infusions in veterans, first results", year="2024", author="Zztest Z")
B = _rec("pubmed:900000102", RUN1, RCT.format("Bravo trial:"), year="2023", author="Bbtest B", doi="10.5555/audit.b")
B_COPY = _rec(f"embase:{RUN2}#1", RUN2, RCT.format("Bravo trial:"), year="2023", author="Bbtest B", doi="10.5555/audit.b")
REVIEW = _rec("pubmed:900000103", RUN1, "SYNTHETIC TEST RECORD: ketamine for posttraumatic stress disorder, a narrative review", year="2024",
              author="Cctest C", types=("Review",))
D = _rec("pubmed:900000104", RUN1, RCT.format("Delta trial:"), year="2022", author="Ddtest D", doi="10.5555/audit.d")
D_COPY = _rec(f"psycinfo:{RUN1}#1", RUN1, RCT.format("Delta trial:"), year="2022", author="Ddtest D", doi="10.5555/audit.d")
E = _rec("pubmed:900000105", RUN2, RCT.format("Echo trial:"), year="2025", author="Eetest E", doi="10.5555/audit.e")

# (key, stage, decision, reason, date)
SCREENING = [
    ("900000101", "title_abstract", "include", "", RUN1),
    ("900000101", "full_text", "include", "", EARLY),
    ("900000102", "title_abstract", "exclude", "other", EARLY),
    ("900000104", "title_abstract", "include", "", RUN1),
    ("900000104", "full_text", "exclude", "open_label", EARLY),
    ("900000105", "title_abstract", "include", "", "2025-11-06"),
]
STUDIES = [{"study_id": "Alpha2024", "reports": "900000101", "primary_report": "900000101"}]

CASES: dict[str, tuple[list[Record], list[tuple[str, str, str]]]] = {
    # a link dated after the update's search joins two records of run 1 (separate clusters in the previous version)
    "link_run1_run1": ([A, A_COPY_RUN1, B, REVIEW, D, D_COPY, B_COPY, E], [(A.record_id, A_COPY_RUN1.record_id, "link")]),
    # ... joins a record of run 1 with one of run 2
    "link_run1_run2": ([A, B, REVIEW, D, D_COPY, B_COPY, E, A_COPY_RUN2], [(A.record_id, A_COPY_RUN2.record_id, "link")]),
    # a keep-apart dated after the update's search splits two records of run 1 that the previous version had as one (same DOI)
    "keep_apart_run1": ([A, A_COPY_RUN1, B, REVIEW, D, D_COPY, B_COPY, E], [(D.record_id, D_COPY.record_id, "keep_apart")]),
}


def _build(folder: Path, records: list[Record], dedup: list[tuple[str, str, str, str]], screening: list[tuple[str, ...]],
           studies: list[dict[str, str]] = STUDIES) -> dict[str, Any]:
    """Build a review from records and decisions through the library stages; return its counts.json.
    A screening row is (key, stage, decision, reason, date) and optionally the reviewer and the note."""
    folder.mkdir(parents=True)
    write_tsv(folder / "dedup.tsv", ("record_a", "record_b", "decision", "reviewer", "date", "note"),
              [{"record_a": a, "record_b": b, "decision": d, "reviewer": "R1", "date": date, "note": ""} for a, b, d, date in dedup])
    write_tsv(folder / "decisions.tsv", ("key", "stage", "decision", "reason", "reviewer", "date", "note"),
              [{"key": k, "stage": s, "decision": d, "reason": r, "date": date, "reviewer": "R1", "note": "", **dict(zip(("reviewer", "note"), more))}
               for k, s, d, r, date, *more in screening])
    write_tsv(folder / "studies.tsv", ("study_id", "reports", "primary_report"), studies)
    write_tsv(folder / "records.tsv", list(records[0].to_row()), [r.to_row() for r in records])
    result = deduplicate(records, decisions=load_dedup_decisions(folder / "dedup.tsv"))
    write_tsv(folder / "canonical.tsv", list(result.canonical[0]), result.canonical)
    canonical = [Record.from_row(r) for r in result.canonical]
    index = build_index(canonical, result.clusters)
    ruleset = load_rules(RULES)
    settled = resolve_decisions(load_decisions(folder / "decisions.tsv", ruleset.reasons), index)
    screened = screen_clusters(canonical, index, ruleset, settled, screen=screen_record)
    included = {r["cluster_id"]: r["record_id"] for r in screened.screening if r["stage"] == "full_text" and r["decision"] == "included"}
    links = link_studies(included, read_tsv(folder / "studies.tsv"), index, source=str(folder / "studies.tsv"))
    ident = [{"record_id": r.record_id, "cluster_id": "", "stage": "identification", "outcome": "identified", "reason": r.database,
              "reference": f"{r.source_file}:{r.source_line}", "evidence": r.run_id} for r in records]
    write_tsv(folder / "ledger.tsv", LEDGER_FIELDS, assemble_ledger([ident, result.ledger, screened.ledger, links.ledger], result.cluster_of))
    config = {"screening": {"rules": RULES}, "searches": {"sources": SOURCES}}
    return run_prisma_counts(ledger=folder / "ledger.tsv", config=config, counts_out=folder / "counts.json", csv_out=folder / "PRISMA.csv",
                             decisions=folder / "decisions.tsv", records=folder / "records.tsv", dedup_decisions=folder / "dedup.tsv",
                             studies=folder / "studies.tsv", canonical=folder / "canonical.tsv")


FLOW = ("excluded_automatic", "excluded_other", "records_screened", "records_excluded", "records_awaiting", "dbr_sought_reports",
        "dbr_notretrieved_reports", "dbr_assessed", "dbr_awaiting", "dbr_excluded_total")


@pytest.mark.parametrize("case", sorted(CASES))
def test_previous_version_ignores_dedup_decisions_made_since(case: str, tmp_path: Path) -> None:
    records, late = CASES[case]
    dedup = [(a, b, d, LATE) for a, b, d in late]
    counts = _build(tmp_path / "review", records, dedup, [s for s in SCREENING])
    # the previous version as a build of run 1 alone, with the decisions dated before this update's search
    run1 = [r for r in records if r.run_id == RUN1]
    before = _build(tmp_path / "run1", run1, [d for d in dedup if d[3] < RUN2], [s for s in SCREENING if s[4] < RUN2])
    previous = counts["previous"]
    assert previous["decided_before"] == RUN2
    assert previous["records_identified"] == before["records_identified"] == len(run1)
    for key in FLOW:
        assert previous["flow"][key] == before[key], key
    assert previous["flow"]["dbr_excluded"] == before["dbr_excluded"]
    assert (counts["previous_studies"], counts["previous_reports"]) == (before["total_studies"], before["total_reports"])
    # duplicates: the previous version's are the total minus this update's
    assert counts["all_runs"]["duplicates"] - counts["duplicates"] == before["duplicates"]
    # this update's column adds up (counts in = counts out), and the columns add up to the total
    new = counts
    assert new["records_identified"] - new["duplicates"] - new["excluded_automatic"] - new["excluded_other"] == new["records_screened"]
    assert new["records_screened"] - new["records_excluded"] - new["records_awaiting"] == new["dbr_sought_reports"]
    assert new["dbr_sought_reports"] - new["dbr_notretrieved_reports"] == new["dbr_assessed"]
    for key in FLOW:
        assert previous["flow"][key] + counts[key] == counts["all_runs"][key], key
    assert counts["total_reports"] == counts["all_runs"]["reports"]
    table = {r["label"]: r["cells"] for r in prisma_table(counts, SOURCES)["rows"]}  # the report's checks pass
    assert table["Duplicate records removed"][0] == before["duplicates"]
    csv_n = {row["data"]: row["n"] for row in csv.DictReader(io.StringIO(to_prisma_csv(counts)))}
    assert csv_n["duplicates"] == str(counts["duplicates"])
    if case != "link_run1_run2":  # a link to a record of run 2 leaves the previous version's clusters as they were
        assert [d["reference"] for d in previous["dedup_since"]] == [f"{tmp_path / 'review' / 'dedup.tsv'}:2"]


def test_cli_counts_the_previous_version_with_the_dedup_decisions_it_had(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`livingreview prisma --json --dedup-decisions --records` prints what the pipeline step writes."""
    import json

    from livingreview.cli import main as cli_main

    records, late = CASES["link_run1_run1"]
    counts = _build(tmp_path / "review", records, [(a, b, d, LATE) for a, b, d in late], list(SCREENING))
    review = tmp_path / "review"
    args = ["prisma", str(review / "ledger.tsv"), "--config", str(tmp_path / "none.yaml"), "--decisions", str(review / "decisions.tsv"), "--rules", RULES,
            "--records", str(review / "records.tsv"), "--studies", str(review / "studies.tsv"), "--json"]
    assert cli_main([*args, "--dedup-decisions", str(review / "dedup.tsv")]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["previous"]["flow"] == json.loads(json.dumps(counts["previous"]["flow"]))
    assert printed["duplicates"] == counts["duplicates"] and printed["previous"]["dedup_since"] == counts["previous"]["dedup_since"] != []
    # without the dedup decisions file the previous version takes today's clusters (one fewer record screened then)
    assert cli_main([*args, "--dedup-decisions", str(tmp_path / "absent.tsv")]) == 0
    plain = json.loads(capsys.readouterr().out)
    assert plain["previous"]["flow"]["records_screened"] == counts["previous"]["flow"]["records_screened"] - 1


# Screening rows (key, stage, decision, reason, date, reviewer) added to SCREENING, where a stage of a
# record of run 1 has rows on both sides of the update's search (RUN2): the previous version settles
# each stage with the screening stage's own rule (decisions.resolve_decisions) on the rows dated
# before it, as a build of run 1 alone with those rows does.
SCREENING_CASES: dict[str, list[tuple[str, ...]]] = {
    # no dual review is required (config screening has no such setting; resolve_decisions takes a lone
    # reviewer's last row as final): R1's exclusion before the search settled Bravo; R2 agreed since
    "second_reviewer_agrees_since": [("900000102", "title_abstract", "exclude", "other", LATE, "R2")],
    # ... and at full text: R1's open-label exclusion of Delta settled it; R2 agreed since
    "second_reviewer_agrees_since_full_text": [("900000104", "full_text", "exclude", "open_label", LATE, "R2")],
    # R1 excluded Bravo before the search and changed to include since: the previous version had it excluded
    "reviewer_changed_since": [("900000102", "title_abstract", "include", "", LATE, "R1")],
    # R1 included Alpha at full text before the search and excluded it since: the previous version
    # included it (its study, Alpha2024, too)
    "reviewer_changed_since_full_text": [("900000101", "full_text", "exclude", "open_label", LATE, "R1")],
}


@pytest.mark.parametrize("case", sorted(SCREENING_CASES))
def test_previous_version_settles_each_stage_with_the_rows_dated_before(case: str, tmp_path: Path) -> None:
    records = [A, B, REVIEW, D, D_COPY, B_COPY, E]
    screening = [*SCREENING, *SCREENING_CASES[case]]
    counts = _build(tmp_path / "review", records, [], screening)
    run1 = [r for r in records if r.run_id == RUN1]
    before = _build(tmp_path / "run1", run1, [], [s for s in screening if s[4] < RUN2])
    previous = counts["previous"]
    for key in FLOW:
        assert previous["flow"][key] == before[key], key
    assert previous["flow"]["dbr_excluded"] == before["dbr_excluded"]
    assert previous["flow"]["records_excluded_reasons"] == before["records_excluded_reasons"]
    assert (counts["previous_studies"], counts["previous_reports"]) == (before["total_studies"], before["total_reports"])
    # the columns add up to the total, and this update's column adds up (counts in = counts out + explained)
    for key in FLOW:
        assert previous["flow"][key] + counts[key] == counts["all_runs"][key], key
    new = counts
    assert new["records_identified"] - new["duplicates"] - new["excluded_automatic"] - new["excluded_other"] == new["records_screened"]
    assert new["records_screened"] - new["records_excluded"] - new["records_awaiting"] == new["dbr_sought_reports"]
    assert new["dbr_sought_reports"] - new["dbr_notretrieved_reports"] == new["dbr_assessed"]
    prisma_table(counts, SOURCES)  # the report's checks pass
    moved = [d["record_id"] for d in previous["decided_since"]]
    if case.startswith("second_reviewer_agrees_since"):  # an agreement since moved no record
        assert moved == [] and previous["changed_since"]["decisions"] == {}
    else:
        assert moved == [f"pubmed:{SCREENING_CASES[case][0][0]}"] and [d["date"] for d in previous["decided_since"]] == [LATE]


def test_previous_version_reviewer_change_without_dedup_decisions_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`livingreview prisma` with no dedup decisions file settles the previous version's stages the same way."""
    import json

    from livingreview.cli import main as cli_main

    records = [A, B, REVIEW, D, D_COPY, B_COPY, E]
    screening = [*SCREENING, *SCREENING_CASES["reviewer_changed_since"]]
    counts = _build(tmp_path / "review", records, [], screening)
    review = tmp_path / "review"
    assert cli_main(["prisma", str(review / "ledger.tsv"), "--config", str(tmp_path / "none.yaml"), "--decisions", str(review / "decisions.tsv"),
                     "--rules", RULES, "--records", str(review / "records.tsv"), "--studies", str(review / "studies.tsv"),
                     "--dedup-decisions", str(tmp_path / "absent.tsv"), "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["previous"]["flow"] == json.loads(json.dumps(counts["previous"]["flow"]))
    assert printed["previous"]["flow"]["records_excluded"] == 1  # Bravo, by R1 then (the review is excluded by a rule)


# A keep-apart made since splits Delta's cluster of the previous version (D and its PsycInfo copy,
# one DOI) into two reports that studies.tsv now lists under two studies: Delta2022 (D, the record
# the previous version counted as the report) and Delta2022b (the copy, screened in since).
# SCREENING's decisions, but D included at full text then (SCREENING excludes it), and its copy since.
assert SCREENING[4] == ("900000104", "full_text", "exclude", "open_label", EARLY)
KEEP_APART_SCREENING = [
    *SCREENING[:4],
    ("900000104", "full_text", "include", "", EARLY),
    (D_COPY.record_id, "title_abstract", "include", "", LATE),
    (D_COPY.record_id, "full_text", "include", "", LATE),
    *SCREENING[5:],
]
DELTA = {"study_id": "Delta2022", "reports": "900000104", "primary_report": "900000104"}
DELTA_B = {"study_id": "Delta2022b", "reports": D_COPY.record_id, "primary_report": D_COPY.record_id}


@pytest.mark.parametrize("order", ["delta_first", "delta_b_first"])
def test_keep_apart_since_splitting_a_previous_report_into_two_studies(order: str, tmp_path: Path) -> None:
    """The previous version counts the cluster as it was then (one record, one report) with the study
    of the record it counted as the report (its canonical record, D): as a build of run 1 alone with
    the decisions dated before the update and the studies.tsv of then (Delta2022 alone). The row order
    of studies.tsv does not matter (it used to keep the study of the last row naming the cluster)."""
    records = [A, B, REVIEW, D, D_COPY, B_COPY, E]
    studies = [*STUDIES, DELTA, DELTA_B] if order == "delta_first" else [*STUDIES, DELTA_B, DELTA]
    dedup = [(D.record_id, D_COPY.record_id, "keep_apart", LATE)]
    counts = _build(tmp_path / "review", records, dedup, KEEP_APART_SCREENING, studies)
    run1 = [r for r in records if r.run_id == RUN1]
    before = _build(tmp_path / "run1", run1, [], [s for s in KEEP_APART_SCREENING if s[4] < RUN2], [*STUDIES, DELTA])
    previous = counts["previous"]
    for key in FLOW:
        assert previous["flow"][key] == before[key], key
    assert (counts["previous_studies"], counts["previous_reports"]) == (before["total_studies"], before["total_reports"]) == (2, 2)
    assert before["included_studies"] == ["Alpha2024", "Delta2022"]
    # Delta2022b is the update's new study, its report the update's one new report; no report of then is lost
    assert counts["included_studies"] == ["Alpha2024", "Delta2022", "Delta2022b"]
    assert (counts["new_studies"], counts["new_reports"], counts["new_reports_of_previous_studies"]) == (1, 1, 0)
    assert previous["reports_not_carried"] == []
    assert [d["decision"] for d in previous["dedup_since"]] == ["keep_apart"]


def test_keep_apart_since_when_no_study_names_the_previous_report(tmp_path: Path) -> None:
    """Delta's cluster of the previous version held D (its report), its PsycInfo copy and an Embase
    copy; a keep-apart made since parts the two copies, so D and the Embase copy are one cluster now
    and the PsycInfo copy another. D was excluded at full text since, so no study includes D's cluster
    today, and studies.tsv lists only the copies (Delta2022: the Embase copy; Delta2022b: the PsycInfo
    copy). Which study D was a report of then cannot be told: one line naming the keep-apart; once
    studies.tsv lists D under Delta2022 too, the previous version counts it there."""
    from livingreview.errors import ReconciliationError

    embase_copy = _rec(f"embase:{RUN1}#3", RUN1, RCT.format("Delta trial:"), year="2022", author="Ddtest D", doi="10.5555/audit.d")
    records = [A, B, REVIEW, D, D_COPY, embase_copy, B_COPY, E]
    dedup = [(embase_copy.record_id, D_COPY.record_id, "keep_apart", LATE)]
    screening = [*KEEP_APART_SCREENING, ("900000104", "full_text", "exclude", "open_label", LATE, "R1")]
    delta = {"study_id": "Delta2022", "reports": embase_copy.record_id, "primary_report": embase_copy.record_id}
    with pytest.raises(ReconciliationError) as err:
        _build(tmp_path / "review", records, dedup, screening, [*STUDIES, delta, DELTA_B])
    message = str(err.value)
    assert "\n" not in message
    assert f"{tmp_path / 'review' / 'dedup.tsv'}:2" in message and "report pubmed:900000104" in message
    assert "Delta2022 (" in message and "Delta2022b (" in message and "list pubmed:900000104" in message
    assert not (tmp_path / "review" / "counts.json").exists()
    counts = _build(tmp_path / "fixed", records, dedup, screening, [*STUDIES, {**delta, "reports": f"{embase_copy.record_id}; 900000104"}, DELTA_B])
    assert (counts["previous_studies"], counts["previous_reports"]) == (2, 2)
    assert counts["included_studies"] == ["Alpha2024", "Delta2022", "Delta2022b"]
    assert counts["total_studies"] == 2 and counts["new_studies"] == 1  # Delta2022 is no longer included; Delta2022b is new
    # D excluded at full text before the update: the previous version had no report there, so no study to tell
    then_excluded = [s for s in KEEP_APART_SCREENING if s[:2] != ("900000104", "full_text")]
    then_excluded.append(("900000104", "full_text", "exclude", "open_label", EARLY))
    counts = _build(tmp_path / "excluded", records, dedup, then_excluded, [*STUDIES, delta, DELTA_B])
    assert (counts["previous_studies"], counts["previous_reports"], counts["previous"]["flow"]["dbr_excluded_total"]) == (1, 1, 1)
    assert counts["included_studies"] == ["Alpha2024", "Delta2022b"]


# Two conference abstracts in Embase carry one DOI, the journal supplement's. Foxtrot's is a copy of
# its PubMed record (which has no DOI: the cluster's merged canonical record takes the supplement's);
# Golf's was linked by a person to Golf's PubMed record (its own DOI) and kept apart from Foxtrot's.
# So the supplement DOI names Foxtrot's cluster for the screening stage (canonical.tsv), but it is a
# member's DOI in two clusters of records.tsv.
SUPPLEMENT = "10.5555/audit.supplement"
FOXTROT = _rec("pubmed:900000106", RUN1, RCT.format("Foxtrot trial:"), year="2024", author="Fftest F")
FOXTROT_ABSTRACT = _rec(f"embase:{RUN1}#4", RUN1, RCT.format("Foxtrot trial:"), year="2024", author="Fftest F", doi=SUPPLEMENT)
GOLF = _rec("pubmed:900000107", RUN1, RCT.format("Golf trial:"), year="2024", author="Ggtest G", doi="10.5555/audit.g")
GOLF_ABSTRACT = _rec(f"embase:{RUN1}#5", RUN1, "SYNTHETIC TEST RECORD: Golf conference abstract", year="2024", author="Ggtest G", doi=SUPPLEMENT)


def test_a_key_the_ledger_does_not_cite_resolves_as_the_screening_stage_resolved_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """R1 excluded Foxtrot by the supplement DOI before the update and included it by its PMID since:
    the ledger cites only the PMID row. Settling the previous version used to look the DOI up in
    records.tsv, found it on a member of two clusters and stopped; the screening stage had resolved it
    to Foxtrot's cluster with canonical.tsv, and so does the settling now."""
    records = [A, B, REVIEW, D, D_COPY, FOXTROT, FOXTROT_ABSTRACT, GOLF, GOLF_ABSTRACT, B_COPY, E]
    dedup = [(FOXTROT_ABSTRACT.record_id, GOLF_ABSTRACT.record_id, "keep_apart", RUN1), (GOLF.record_id, GOLF_ABSTRACT.record_id, "link", RUN1)]
    screening = [*SCREENING, (SUPPLEMENT, "title_abstract", "exclude", "other", EARLY), ("900000107", "title_abstract", "exclude", "other", EARLY),
                 ("900000106", "title_abstract", "include", "", LATE)]
    counts = _build(tmp_path / "review", records, dedup, screening)
    run1 = [r for r in records if r.run_id == RUN1]
    before = _build(tmp_path / "run1", run1, dedup, [s for s in screening if s[4] < RUN2])
    previous = counts["previous"]
    for key in FLOW:
        assert previous["flow"][key] == before[key], key
    assert previous["flow"]["records_excluded"] == 3  # Bravo, Foxtrot (by the supplement DOI) and Golf
    assert [(d["record_id"], d["date"]) for d in previous["decided_since"]] == [(FOXTROT.record_id, LATE)]
    for key in FLOW:
        assert previous["flow"][key] + counts[key] == counts["all_runs"][key], key
    # `livingreview prisma --canonical` counts the same; without canonical.tsv it stops with one line saying to pass it
    import json

    from livingreview.cli import main as cli_main

    review = tmp_path / "review"
    args = ["prisma", str(review / "ledger.tsv"), "--config", str(tmp_path / "none.yaml"), "--decisions", str(review / "decisions.tsv"), "--rules", RULES,
            "--records", str(review / "records.tsv"), "--studies", str(review / "studies.tsv"), "--dedup-decisions", str(review / "dedup.tsv"), "--json"]
    assert cli_main([*args, "--canonical", str(review / "canonical.tsv")]) == 0
    assert json.loads(capsys.readouterr().out)["previous"]["flow"] == json.loads(json.dumps(previous["flow"]))
    assert cli_main([*args, "--canonical", str(tmp_path / "absent.tsv")]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert [ln for ln in captured.err.splitlines() if not ln.startswith("INFO ")] == [
        f"livingreview: error: {tmp_path / 'absent.tsv'}: counting the previous version needs canonical.tsv (a decisions.tsv key is no record_id "
        "or PMID the ledger names); fix: pass the canonical.tsv of the build (`livingreview prisma --canonical`; run_prisma_counts canonical=)"]


def test_counting_with_no_decision_dated_since_loads_no_other_stage(tmp_path: Path) -> None:
    """With no dedup or screening decision dated on or after the update's search (the usual monthly
    update), the prisma_counts step imports neither the matcher (livingreview.dedup, with rapidfuzz
    and numpy) nor the screening and study stages it needs only to rebuild the previous version
    (about 0.2 s of a 100,000-record update's job); its counts are those of the same call here."""
    from fresh_interpreter import run_fresh

    records, _late = CASES["link_run1_run1"]
    review = tmp_path / "review"
    counts = _build(review, records, [], [s for s in SCREENING if s[4] < RUN2])
    assert counts["previous"]["decided_before"] == RUN2 and counts["previous"]["decided_since"] == []
    files = {name: str(review / name) for name in ("ledger.tsv", "decisions.tsv", "records.tsv", "dedup.tsv", "studies.tsv")}
    out = run_fresh(
        "from livingreview.prisma import run_prisma_counts",
        f"config = {{'screening': {{'rules': {RULES!r}}}, 'searches': {{'sources': {SOURCES!r}}}}}",
        f"run_prisma_counts(ledger={files['ledger.tsv']!r}, config=config, counts_out={str(tmp_path / 'counts.json')!r}, "
        f"csv_out={str(tmp_path / 'PRISMA.csv')!r}, decisions={files['decisions.tsv']!r}, records={files['records.tsv']!r}, "
        f"dedup_decisions={files['dedup.tsv']!r}, studies={files['studies.tsv']!r})",
        "print(sorted(m for m in ('numpy', 'rapidfuzz', 'livingreview.dedup', 'livingreview.screen_stage', 'livingreview.studies') if m in sys.modules))",
    )
    assert out == "[]"
    assert (tmp_path / "counts.json").read_bytes() == (review / "counts.json").read_bytes()
    assert (tmp_path / "PRISMA.csv").read_bytes() == (review / "PRISMA.csv").read_bytes()


def test_the_step_reads_the_screening_rules_and_decisions_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """run_prisma_counts reads config/screening.yaml and decisions.tsv once, for the decisions' dates
    and for the previous version's clusters (each was read twice: the rules cost ~0.1 s a read)."""
    import livingreview.decisions
    import livingreview.screening

    records, late = CASES["link_run1_run1"]
    review = tmp_path / "review"
    counts = _build(review, records, [(a, b, d, LATE) for a, b, d in late], list(SCREENING))
    calls: list[str] = []

    def counted(name: str, func: Any) -> Any:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            calls.append(name)
            return func(*args, **kwargs)

        return wrapper

    monkeypatch.setattr(livingreview.screening, "load_rules", counted("rules", livingreview.screening.load_rules))
    monkeypatch.setattr(livingreview.decisions, "load_decisions", counted("decisions", livingreview.decisions.load_decisions))
    config = {"screening": {"rules": RULES}, "searches": {"sources": SOURCES}}
    again = run_prisma_counts(ledger=review / "ledger.tsv", config=config, counts_out=tmp_path / "counts.json", csv_out=tmp_path / "PRISMA.csv",
                              decisions=review / "decisions.tsv", records=review / "records.tsv", dedup_decisions=review / "dedup.tsv",
                              studies=review / "studies.tsv")
    assert sorted(calls) == ["decisions", "rules"]
    assert again == counts and again["previous"]["dedup_since"] != []  # the previous version rebuilt with its clusters, as before
    assert (tmp_path / "counts.json").read_bytes() == (review / "counts.json").read_bytes()
