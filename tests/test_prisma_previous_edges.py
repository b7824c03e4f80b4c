"""Edge cases of the previous-version column when a person's dedup link or keep-apart is dated on or
after this update's first search (prisma._previous_clusters): the previous version is then counted
with the clusters it had, and a cluster a later dedup decision changed is screened again as it stood.

Each case is checked against an independent expectation: a build of run 1 alone (library stages, as
the pipeline chains them) with the decisions dated before the cut, or the error such a build gives.

Every record here is SYNTHETIC TEST DATA (titles say "SYNTHETIC", PMIDs >= 900000000, DOIs 10.5555).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from livingreview.errors import ConfigError, InputFormatError, ReconciliationError
from livingreview.prisma import run_prisma_counts
from livingreview.report import prisma_table
from test_prisma_late_dedup import (
    A,
    A_COPY_RUN1,
    B,
    B_COPY,
    CASES,
    D,
    D_COPY,
    E,
    EARLY,
    FLOW,
    LATE,
    RCT,
    REVIEW,
    RULES,
    RUN1,
    RUN2,
    SCREENING,
    SOURCES,
    STUDIES,
    _build,
    _rec,
)

LINK_A = [(A.record_id, A_COPY_RUN1.record_id, "link", LATE)]


def _previous_matches(counts: dict, before: dict) -> None:
    """counts.json's previous-version column equals the build of run 1 alone (``before``)."""
    previous = counts["previous"]
    assert previous["records_identified"] == before["records_identified"]
    for key in FLOW:
        assert previous["flow"][key] == before[key], key
    assert previous["flow"]["dbr_excluded"] == before["dbr_excluded"]
    assert previous["flow"]["records_excluded_reasons"] == before["records_excluded_reasons"]
    assert (counts["previous_studies"], counts["previous_reports"]) == (before["total_studies"], before["total_reports"])
    assert counts["all_runs"]["duplicates"] - counts["duplicates"] == before["duplicates"]
    prisma_table(counts, SOURCES)  # the report's column checks pass


def test_a_decision_before_the_cut_on_a_key_the_previous_version_lacks_is_not_its(tmp_path: Path) -> None:
    """A title/abstract decision dated before the update's search on a record only run 2 found (the team
    knew the PMID early) is no decision of the previous version: a build of run 1 alone refuses it (its
    key names no record), so the run-1 build it is compared with leaves it out."""
    f = _rec("pubmed:900000106", RUN2, RCT.format("Foxtrot trial:"), year="2025", author="Fftest F", doi="10.5555/audit.f")
    records = [*CASES["link_run1_run1"][0], f]
    early_f = ("900000106", "title_abstract", "exclude", "other", EARLY)
    counts = _build(tmp_path / "review", records, LINK_A, [*SCREENING, early_f])
    run1 = [r for r in records if r.run_id == RUN1]
    before = _build(tmp_path / "run1", run1, [], [s for s in SCREENING if s[4] < RUN2])
    _previous_matches(counts, before)
    assert counts["previous"]["dedup_since"] != []  # the rebuild ran
    # F is this update's: screened and excluded in this update's column
    assert counts["records_excluded"] == counts["all_runs"]["records_excluded"] - before["records_excluded"] == 1
    with pytest.raises(ConfigError, match="matches no record"):
        _build(tmp_path / "run1_with_f", run1, [], [*(s for s in SCREENING if s[4] < RUN2), early_f])


def test_a_key_naming_two_clusters_of_the_previous_version_stops_with_one_line(tmp_path: Path) -> None:
    """An erratum sharing Delta's DOI is its own cluster in run 1 (no merge across kinds); a link dated
    since joins them. A decision dated before the cut keyed by that DOI named two clusters then: a
    build of run 1 alone refuses it, and so does the count of the previous version (one line, file:line,
    the fix), although today's build resolves the key."""
    err = _rec(f"embase:{RUN1}#3", RUN1, "SYNTHETIC TEST RECORD: erratum to the Delta trial", year="2022", author="Ddtest D",
               doi="10.5555/audit.d", types=("Published Erratum",))
    records = [A, B, REVIEW, D, err, B_COPY, E]
    screening = [s for s in SCREENING if s[0] != "900000104"] + [("10.5555/audit.d", "title_abstract", "exclude", "other", RUN1)]
    link = [(D.record_id, err.record_id, "link", LATE)]
    with pytest.raises(ConfigError, match="matches more than one cluster"):
        _build(tmp_path / "run1", [r for r in records if r.run_id == RUN1], [], [s for s in screening if s[4] < RUN2])
    with pytest.raises(ReconciliationError) as caught:
        _build(tmp_path / "review", records, link, screening)
    message = str(caught.value)
    assert "\n" not in message
    assert f"{tmp_path / 'review' / 'decisions.tsv'}:6: key '10.5555/audit.d' names 2 clusters of the previous version" in message
    assert f"dedup decisions dated before {RUN2}" in message and "fix: write the record_id of the intended record as the key" in message
    # keyed by the record_id, the previous version counts as run 1 alone did
    screening = [s for s in screening if s[0] != "10.5555/audit.d"] + [(D.record_id, "title_abstract", "exclude", "other", RUN1)]
    counts = _build(tmp_path / "review_by_id", records, link, screening)
    before = _build(tmp_path / "run1_by_id", [r for r in records if r.run_id == RUN1], [], [s for s in screening if s[4] < RUN2])
    _previous_matches(counts, before)


DISAGREEMENTS = {
    # reviewers disagree at title/abstract before the cut; the consensus row is dated since
    "title_abstract": [
        ("900000101", "title_abstract", "include", "", RUN1, "R1"),
        ("900000101", "title_abstract", "exclude", "other", EARLY, "R2"),
        ("900000101", "title_abstract", "include", "", LATE, "consensus"),
        ("900000101", "full_text", "include", "", LATE, "R1"),
    ],
    # ... at full text
    "full_text": [
        ("900000101", "title_abstract", "include", "", RUN1, "R1"),
        ("900000101", "full_text", "include", "", EARLY, "R1"),
        ("900000101", "full_text", "exclude", "open_label", EARLY, "R2"),
        ("900000101", "full_text", "include", "", LATE, "consensus"),
    ],
}


@pytest.mark.parametrize("stage", sorted(DISAGREEMENTS))
def test_a_disagreement_resolved_only_since_leaves_the_changed_cluster_awaiting(stage: str, tmp_path: Path) -> None:
    """Alpha's reviewers disagreed before the cut and a consensus row settled it since; a link dated
    since changed Alpha's cluster. The previous version had Alpha awaiting that decision (as it counts
    when no dedup decision changed the cluster), not a stopped count: before, the rebuild raised
    'reviewers disagree ... add a resolution row' although the resolution row was there."""
    records, _ = CASES["link_run1_run1"]
    screening = [s for s in SCREENING if s[0] != "900000101"] + DISAGREEMENTS[stage]
    counts = _build(tmp_path / "review", records, LINK_A, screening)
    # independent: run 1 alone with the decisions before the cut, Alpha's unsettled stage (and later) left out
    run1 = [r for r in records if r.run_id == RUN1]
    settled_then = [s for s in screening if s[4] < RUN2 and not (s[0] == "900000101" and (stage == "title_abstract" or s[1] == "full_text"))]
    before = _build(tmp_path / "run1", run1, [], settled_then)
    _previous_matches(counts, before)
    assert before["records_awaiting" if stage == "title_abstract" else "dbr_awaiting"] >= 1
    # the same count as without the link (the previous version's path cut at the decision made since)
    unlinked = _build(tmp_path / "unlinked", records, [], screening)
    for key in FLOW:
        assert unlinked["previous"]["flow"][key] == counts["previous"]["flow"][key], key
    # a build of run 1 alone with every decision before the cut refuses the disagreement
    with pytest.raises(ConfigError, match="reviewers disagree"):
        _build(tmp_path / "run1_all", run1, [], [s for s in screening if s[4] < RUN2])


def test_a_report_of_the_previous_version_merged_since_is_not_carried(tmp_path: Path) -> None:
    """Run 1 found two reports of Alpha (a journal article and a conference copy), both included; a link
    dated since merges them. The previous version had 2 reports (run 1 alone), today's review has 1
    (the same review with the link dated before run 1), and previous + new - not carried = total."""
    records = [A, A_COPY_RUN1, B, REVIEW, D, D_COPY, B_COPY, E]
    copy = A_COPY_RUN1.record_id
    screening = [*SCREENING, (copy, "title_abstract", "include", "", RUN1), (copy, "full_text", "include", "", EARLY)]
    studies = [{"study_id": "Alpha2024", "reports": f"900000101; {copy}", "primary_report": "900000101"}]
    counts = _build(tmp_path / "review", records, LINK_A, screening, studies)
    run1 = [r for r in records if r.run_id == RUN1]
    before = _build(tmp_path / "run1", run1, [], [s for s in screening if s[4] < RUN2], studies)
    linked_early = _build(tmp_path / "linked_early", records, [(A.record_id, copy, "link", RUN1)], screening, studies)
    _previous_matches(counts, before)
    assert (before["total_studies"], before["total_reports"]) == (1, 2)
    assert (counts["total_studies"], counts["total_reports"]) == (linked_early["total_studies"], linked_early["total_reports"]) == (1, 1)
    assert (counts["new_studies"], counts["new_reports"]) == (0, 0)
    assert counts["previous"]["reports_not_carried"] == [{"record_id": copy, "study_id": "Alpha2024"}]
    table = prisma_table(counts, SOURCES)
    rows = {r["label"]: r["cells"] for r in table["rows"]}
    assert rows["Reports of included studies"] == [2, 0, 1] and rows["Studies included"] == [1, 0, 1]
    assert table["reports_not_carried"] == [{"record_id": copy, "study_id": "Alpha2024"}]
    # the diagram's total box says why previous 2 + new 0 makes 1
    import re

    from livingreview.prisma_diagram import render_svg

    text = " ".join(t.replace("\u00a0", " ") for t in re.findall(r">([^<]*)</text>", render_svg(counts)))
    assert "Reports of total included studies (n = 1) Reports of the previous version merged since into another by a duplicate link (n = 1)" in text
    # the table's check: without the report not carried the columns do not add up
    broken = {**counts, "previous": {**counts["previous"], "reports_not_carried": []}}
    with pytest.raises(InputFormatError, match=r"reports: previous 2 \+ new 0 - not carried 0 is not the total 1"):
        prisma_table(broken, SOURCES)


def test_a_changed_cluster_included_then_needs_studies_tsv(tmp_path: Path) -> None:
    """Counting the previous version of a changed cluster included at full text needs its study. Without
    studies.tsv it was counted with the study '' (included_studies ['', 'Alpha2024'], Alpha2024 a 'new
    study'); now one line says so."""
    records, _ = CASES["link_run1_run1"]
    _build(tmp_path / "review", records, LINK_A, list(SCREENING))
    folder = tmp_path / "review"
    config = {"screening": {"rules": RULES}, "searches": {"sources": SOURCES}}
    with pytest.raises(ReconciliationError) as caught:
        run_prisma_counts(ledger=folder / "ledger.tsv", config=config, counts_out=tmp_path / "c.json", csv_out=tmp_path / "p.csv",
                          decisions=folder / "decisions.tsv", records=folder / "records.tsv", dedup_decisions=folder / "dedup.tsv")
    message = str(caught.value)
    assert "\n" not in message and message.startswith("studies.tsv (none given): ")
    assert f"record {A.record_id} was included at full text in the previous version" in message and "no studies.tsv was given" in message
    assert "fix: count with the studies.tsv of the review" in message
    assert not (tmp_path / "c.json").exists()
    # with a studies.tsv that does not list it: named
    write = folder / "other_studies.tsv"
    write.write_text("study_id\treports\tprimary_report\nBravo2023\t900000102\t900000102\n", encoding="utf-8")
    with pytest.raises(ReconciliationError, match=f"no study in {write} lists it") as named:
        run_prisma_counts(ledger=folder / "ledger.tsv", config=config, counts_out=tmp_path / "c.json", csv_out=tmp_path / "p.csv",
                          decisions=folder / "decisions.tsv", records=folder / "records.tsv", dedup_decisions=folder / "dedup.tsv", studies=write)
    assert str(named.value).startswith(f"{write}: ")  # the error names the file to fix
    assert STUDIES[0]["reports"] == "900000101"


def test_a_negative_update_cell_is_shown_with_why(tmp_path: Path) -> None:
    """Run 2 found only a copy of Bravo; a link dated since made run 1's conference copy of Alpha (awaiting
    then) a duplicate. This update's column is the total minus the previous version: records screened
    -1. The diagram, PRISMA.csv (the app's boxtext) and the report's table say where the -1 comes from."""
    import csv
    import io
    import re

    from livingreview.prisma import to_prisma_csv
    from livingreview.prisma_diagram import render_svg

    records = [A, A_COPY_RUN1, B, REVIEW, D, D_COPY, B_COPY]
    screening = [s for s in SCREENING if s[0] != "900000105"]
    counts = _build(tmp_path / "review", records, LINK_A, screening)
    run1 = [r for r in records if r.run_id == RUN1]
    before = _build(tmp_path / "run1", run1, [], [s for s in screening if s[4] < RUN2])
    total = _build(tmp_path / "linked_early", records, [(A.record_id, A_COPY_RUN1.record_id, "link", RUN1)], screening)
    _previous_matches(counts, before)
    # independent: the total is the review with the link dated before run 1; this update = total - run 1 alone
    for key in ("records_screened", "records_awaiting", "records_excluded", "dbr_sought_reports"):
        assert counts[key] == total["all_runs"][key] - before[key], key
    assert (counts["records_identified"], counts["duplicates"], counts["records_screened"], counts["records_awaiting"]) == (1, 2, -1, -1)
    assert counts["previous"]["changed_since"] == {"dedup": {"duplicates": 1, "records_awaiting": -1, "records_screened": -1}, "decisions": {}}
    why = "records of earlier searches merged by a duplicate link made since"
    lines = [t.replace("\u00a0", " ") for t in re.findall(r">([^<]*)</text>", render_svg(counts))]
    text = " ".join(lines)
    assert f"Records screened (n = -1) of which -1: {why}" in text
    assert f"Duplicate records removed (n = 2) of which +1: {why}" in text
    boxtext = {row["data"]: (row["boxtext"], row["n"]) for row in csv.DictReader(io.StringIO(to_prisma_csv(counts)))}
    assert boxtext["records_screened"] == (f"Records screened (of which -1: {why})", "-1")
    assert boxtext["duplicates"] == (f"Duplicate records (of which +1: {why})", "2")
    assert boxtext["records_excluded"] == ("Records excluded", "0")  # a cell nothing changed keeps the app's text
    table = prisma_table(counts, SOURCES)
    assert f"Records screened: -1 in this update, of which -1: {why}" in table["update_notes"]
    assert len(table["update_notes"]) == 3
    # no previous version: no notes, the app's box texts as they were
    alone = {row["data"]: row["boxtext"] for row in csv.DictReader(io.StringIO(to_prisma_csv(before)))}
    assert alone["records_screened"] == "Records screened" and prisma_table(before, SOURCES)["update_notes"] == []
