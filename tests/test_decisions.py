"""Human screening decisions: validation (file:line errors), key resolution, conflicts and Cohen's kappa."""

from __future__ import annotations

from pathlib import Path

import pytest
from livingreview.constants import DECISION_FIELDS
from livingreview.decisions import (
    agreement,
    build_index,
    cohen_kappa,
    key_kind,
    load_decisions,
    resolve_decisions,
)
from livingreview.errors import ConfigError, InputFormatError
from livingreview.records import Record

REASONS = {"animal": "Animal study", "open_label": "Open-label", "registry_record": "Trial registration record", "other": "Other"}
HEADER = "\t".join(DECISION_FIELDS)


def write(tmp_path: Path, *lines: str) -> Path:
    path = tmp_path / "decisions.tsv"
    path.write_text("\n".join((HEADER,) + lines) + "\n", encoding="utf-8")
    return path


def row(key: str, stage: str = "title_abstract", decision: str = "include", reason: str = "", reviewer: str = "A", date: str = "2025-10-01", note: str = "") -> str:
    return f"{key}\t{stage}\t{decision}\t{reason}\t{reviewer}\t{date}\t{note}"


def index():
    canonical = [
        Record(record_id="pubmed:900001", pmid="900001", doi="10.9999/test.one"),
        Record(record_id="pubmed:900002", pmid="900002", doi="10.9999/test.two"),
        Record(record_id="clinicaltrials:NCT99999901"),
    ]
    clusters = [
        {"record_id": "pubmed:900001", "cluster_id": "c1", "canonical_id": "pubmed:900001"},
        {"record_id": "embase:2025-09-30#3", "cluster_id": "c1", "canonical_id": "pubmed:900001"},
        {"record_id": "pubmed:900002", "cluster_id": "c2", "canonical_id": "pubmed:900002"},
        {"record_id": "clinicaltrials:NCT99999901", "cluster_id": "c3", "canonical_id": "clinicaltrials:NCT99999901"},
    ]
    return build_index(canonical, clusters)


def test_valid_rows_load_with_their_lines(tmp_path: Path) -> None:
    path = write(tmp_path, row("900001"), row("10.9999/TEST.TWO", decision="exclude", reason="animal", note="mice"), "", row("clinicaltrials:NCT99999901", decision="exclude", reason="registry_record"))
    got = load_decisions(path, REASONS)
    assert [d.line for d in got] == [2, 3, 5]
    assert got[1].reason == "animal" and got[1].note == "mice"
    assert got[2].reference == "decisions.tsv:5"


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (row("900001", stage="abstract"), "column 'stage'"),
        (row("900001", decision="maybe"), "column 'decision'"),
        (row("900001", decision="exclude"), "needs a reason code"),
        (row("900001", decision="exclude", reason="unicorn"), "unknown reason code 'unicorn'"),
        (row("900001", date="2025-02-30"), "not a calendar date"),
        (row("900001", date="01/10/2025"), "column 'date'"),
        (row("not a key"), "column 'key'"),
        (row("foo:123"), "neither a record_id"),
        (row("900001", reviewer=""), "column 'reviewer'"),
    ],
)
def test_bad_rows_name_file_and_line(tmp_path: Path, line: str, message: str) -> None:
    path = write(tmp_path, row("900002"), line)
    with pytest.raises(ConfigError) as err:
        load_decisions(path, REASONS)
    assert f"{path}:3" in str(err.value)
    assert message in str(err.value)
    assert "fix:" in str(err.value)


def test_missing_column_is_an_input_format_error(tmp_path: Path) -> None:
    path = tmp_path / "decisions.tsv"
    path.write_text("key\tstage\tdecision\n900001\ttitle_abstract\tinclude\n", encoding="utf-8")
    with pytest.raises(InputFormatError, match="missing column"):
        load_decisions(path, REASONS)


@pytest.mark.parametrize(
    ("key", "kind"),
    [("pubmed:24740528", "record_id"), ("24740528", "pmid"), ("10.1001/jamapsychiatry.2014.62", "doi"), ("embase:2025-09-30#12", "record_id"), ("K071", "")],
)
def test_key_kinds(key: str, kind: str) -> None:
    assert key_kind(key) == kind


def test_keys_resolve_on_any_cluster_member_case_insensitively() -> None:
    idx = index()
    assert idx.resolve_one("900001", where="x") == "c1"
    assert idx.resolve_one("10.9999/TEST.ONE", where="x") == "c1"
    assert idx.resolve_one("EMBASE:2025-09-30#3", where="x") == "c1"
    assert idx.resolve_one("clinicaltrials:nct99999901", where="x") == "c3"


def test_unknown_key_is_an_error_naming_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, row("900001"), row("123456789"))
    with pytest.raises(ConfigError, match=r"decisions.tsv:3: key '123456789' matches no record"):
        resolve_decisions(load_decisions(path, REASONS), index())


def test_disagreement_without_resolution_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, row("900001", reviewer="A"), row("pubmed:900001", decision="exclude", reason="other", reviewer="B"))
    with pytest.raises(ConfigError) as err:
        resolve_decisions(load_decisions(path, REASONS), index())
    assert "reviewers disagree on pubmed:900001 at title_abstract" in str(err.value)
    assert "decisions.tsv:2 (A: include)" in str(err.value) and "decisions.tsv:3 (B: exclude)" in str(err.value)
    assert "consensus" in str(err.value)


@pytest.mark.parametrize("resolution", [row("900001", reviewer="consensus", decision="exclude", reason="other"), row("900001", reviewer="C", decision="exclude", reason="other", note="resolution: agreed after discussion")])
def test_resolution_row_settles_a_disagreement(tmp_path: Path, resolution: str) -> None:
    path = write(tmp_path, row("900001", reviewer="A"), row("900001", decision="exclude", reason="other", reviewer="B"), resolution)
    settled = resolve_decisions(load_decisions(path, REASONS), index())
    sd = settled[("c1", "title_abstract")]
    assert sd.final.line == 4 and sd.final.decision == "exclude"
    assert sorted(sd.reviewer_finals) == ["A", "B"]


def test_same_reviewer_later_row_is_their_final_decision(tmp_path: Path) -> None:
    path = write(tmp_path, row("900001", reviewer="A"), row("900001", decision="exclude", reason="other", reviewer="A"))
    sd = resolve_decisions(load_decisions(path, REASONS), index())[("c1", "title_abstract")]
    assert sd.final.line == 3 and sd.final.decision == "exclude"


def test_agreeing_reviewers_need_no_resolution_and_stages_are_separate(tmp_path: Path) -> None:
    path = write(tmp_path, row("900001", reviewer="A"), row("900001", reviewer="B"), row("900001", stage="full_text", decision="exclude", reason="open_label"))
    settled = resolve_decisions(load_decisions(path, REASONS), index())
    assert settled[("c1", "title_abstract")].final.decision == "include"
    assert settled[("c1", "full_text")].final.reason == "open_label"


def test_cohen_kappa_matches_hand_computation() -> None:
    # 10 items: both include 4, both exclude 3, A include/B exclude 2, A exclude/B include 1.
    a = ["i"] * 4 + ["e"] * 3 + ["i"] * 2 + ["e"]
    b = ["i"] * 4 + ["e"] * 3 + ["e"] * 2 + ["i"]
    po = 7 / 10
    pe = (6 / 10) * (5 / 10) + (4 / 10) * (5 / 10)
    assert cohen_kappa(a, b) == pytest.approx((po - pe) / (1 - pe))
    assert cohen_kappa(["i", "e"], ["i", "e"]) == pytest.approx(1.0)
    assert cohen_kappa(["i", "i"], ["i", "i"]) is None
    assert cohen_kappa([], []) is None


def test_agreement_per_stage_with_two_reviewers(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        row("900001", reviewer="A"),
        row("900001", reviewer="B"),
        row("900002", reviewer="A", decision="exclude", reason="other"),
        row("900002", reviewer="B", decision="exclude", reason="other"),
        row("clinicaltrials:NCT99999901", reviewer="A", decision="exclude", reason="registry_record"),
        row("clinicaltrials:NCT99999901", reviewer="B"),
        row("clinicaltrials:NCT99999901", reviewer="consensus", decision="exclude", reason="registry_record"),
        row("900001", stage="full_text", reviewer="A"),
    )
    result = agreement(resolve_decisions(load_decisions(path, REASONS), index()))
    ta = result["title_abstract"]
    assert ta["computable"] is True and ta["reviewers"] == ["A", "B"]
    (pair,) = ta["pairs"]
    assert pair["n"] == 3 and pair["agreement"] == pytest.approx(2 / 3)
    # A: i e e ; B: i e i -> po 2/3, pe = (1/3)(2/3) + (2/3)(1/3) = 4/9
    assert pair["kappa"] == pytest.approx((2 / 3 - 4 / 9) / (1 - 4 / 9))
    ft = result["full_text"]
    assert ft["computable"] is False and "single reviewer (A)" in ft["why"]


def test_agreement_uses_independent_first_decisions(tmp_path: Path) -> None:
    # B first excluded 900001, then changed to include after discussion: no conflict remains, but the
    # independent decisions disagreed, and agreement must say so.
    path = write(
        tmp_path,
        row("900001", reviewer="A"),
        row("900001", reviewer="B", decision="exclude", reason="other"),
        row("900002", reviewer="A", decision="exclude", reason="other"),
        row("900002", reviewer="B", decision="exclude", reason="other"),
        row("900001", reviewer="B", note="changed after discussion"),
    )
    settled = resolve_decisions(load_decisions(path, REASONS), index())
    (pair,) = agreement(settled)["title_abstract"]["pairs"]
    assert pair["n"] == 2 and pair["agreement"] == pytest.approx(0.5)
    assert all(sd.final.decision for sd in settled.values())  # settled without a resolution row


def test_agreement_single_reviewer_not_computable(tmp_path: Path) -> None:
    path = write(tmp_path, row("900001", reviewer="curation"), row("900002", reviewer="curation", decision="exclude", reason="other"))
    result = agreement(resolve_decisions(load_decisions(path, REASONS), index()))
    assert result["title_abstract"]["computable"] is False
    assert result["title_abstract"]["pairs"] == []
    assert "single reviewer (curation)" in result["title_abstract"]["why"]
    assert result["full_text"]["why"] == "no human decisions at this stage"


def _project_copy(tmp_path: Path) -> Path:
    from conftest import copy_project_inputs

    return copy_project_inputs(tmp_path)  # the default review as shipped


def test_cli_validate_prints_the_summary_and_names_the_bad_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from livingreview.cli import main

    work = _project_copy(tmp_path)
    monkeypatch.chdir(work)
    decisions = work / "resources/screening/decisions.tsv"
    n_rows = sum(1 for line in decisions.read_text(encoding="utf-8").splitlines()[1:] if line.strip())
    assert main(["validate"]) == 0
    out = capsys.readouterr().out
    assert "config/config.yaml: valid" in out and f"screening decisions: {n_rows}" in out
    lines = decisions.read_text(encoding="utf-8").splitlines()
    cells = lines[4].split("\t")
    cells[2], cells[3] = "exclude", "no_such_reason"
    lines[4] = "\t".join(cells)
    decisions.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert main(["validate"]) == 1
    err = capsys.readouterr().err
    assert "resources/screening/decisions.tsv:5" in err and "unknown reason code 'no_such_reason'" in err


@pytest.mark.parametrize(
    ("header_end", "rows", "message"),
    [
        ("\t", (row("900001"),), "unknown column(s) a column without a name (a tab at the end of the header line?)"),
        ("\tcomment", (), "unknown column(s) 'comment'"),
    ],
)
def test_an_unknown_or_unnamed_column_names_the_header_even_without_rows(tmp_path: Path, header_end: str, rows: tuple[str, ...], message: str) -> None:
    """A trailing tab on the header gave 'unknown column(s) ; fix: ...' (an empty name), and an
    extra column was only refused once a row followed the header."""
    path = tmp_path / "decisions.tsv"
    path.write_text("\n".join((HEADER + header_end, *rows)) + "\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_decisions(path, REASONS)
    assert str(info.value) == f"{path}:1: {message}; fix: use only the columns {', '.join(DECISION_FIELDS)} (tab-separated, no tab after the last)"


def test_build_index_is_the_index_add_record_builds() -> None:
    """build_index gives what registering every clusters.tsv row and then every canonical record
    with ClusterIndex.add_record gives: record_ids, PubMed native ids, PMIDs and DOIs (case and
    spaces folded) under their clusters, members sorted, the canonical of each cluster, and the
    error for a canonical record in no cluster."""
    from livingreview.decisions import PMID_DATABASES, ClusterIndex, build_index
    from livingreview.records import Record

    clusters = [
        {"record_id": "pubmed:111", "cluster_id": "c1", "canonical_id": "pubmed:111"},
        {"record_id": "embase:e1", "cluster_id": "c1", "canonical_id": "pubmed:111"},
        {"record_id": "medline:222", "cluster_id": "c2", "canonical_id": ""},
        {"record_id": "psycinfo:p9", "cluster_id": "c3", "canonical_id": "psycinfo:p9"},
        {"record_id": "embase:e1", "cluster_id": "c3", "canonical_id": "psycinfo:p9"},  # a record_id given twice
    ]
    canonical = [
        Record(record_id="pubmed:111", pmid="111", doi="10.1/ABC "),
        Record(record_id="medline:222", pmid="333", doi=""),
        Record(record_id="psycinfo:p9", doi="10.1/abc"),
    ]

    def reference() -> ClusterIndex:
        idx = ClusterIndex()
        for row in clusters:
            rid, cid = row["record_id"], row["cluster_id"]
            idx.cluster_of[rid] = cid
            idx.members.setdefault(cid, []).append(rid)
            if row.get("canonical_id") and row.get("canonical_id") == rid:
                idx.canonical_of[cid] = rid
            idx.add_key(rid, cid)
            db, _, native = rid.partition(":")
            if db in PMID_DATABASES and native.isdigit():
                idx.add_key(native, cid)
        for cid in idx.members:
            idx.members[cid].sort()
        for rec in canonical:
            idx.add_record(rec)
            idx.canonical_of.setdefault(idx.cluster_of[rec.record_id], rec.record_id)
        return idx

    got, want = build_index(canonical, clusters), reference()
    assert got == want and list(got.keys) == list(want.keys) and list(got.canonical_of) == list(want.canonical_of)
    assert got.keys["10.1/abc"] == {"c1", "c3"} and got.keys["embase:e1"] == {"c1", "c3"} and got.canonical_of["c2"] == "medline:222"
    with pytest.raises(ConfigError, match="record embase:zz is in no cluster"):
        build_index([Record(record_id="embase:zz")], clusters)


def test_a_decision_dated_in_the_future_is_refused_naming_file_line_and_date() -> None:
    """The date says which version a decision counts in: a mistyped year would count it in a later
    update's column. Refused after today's date in the easternmost zone (UTC+14), so never on the day
    a team east of UTC made it. Dates are built from today's date, so the test never ages."""
    import datetime as dt

    from livingreview.decisions import refuse_future_dates

    today = dt.datetime.now(dt.UTC).date()
    day = dt.timedelta(days=1)
    midnight = dt.datetime.combine(today, dt.time(0, 0), dt.UTC)  # 14:00 the same day in UTC+14
    ten = dt.datetime.combine(today, dt.time(10, 0), dt.UTC)  # midnight the next day in UTC+14
    refuse_future_dates([(today.isoformat(), "d.tsv:2"), ((today - 400 * day).isoformat(), "d.tsv:3")], now=midnight)
    refuse_future_dates([((today + day).isoformat(), "d.tsv:2")], now=ten)
    with pytest.raises(ConfigError) as err:
        refuse_future_dates([(today.isoformat(), "d.tsv:2"), ((today + day).isoformat(), "d.tsv:3")], now=midnight)
    assert str(err.value) == (f"d.tsv:3: date {today + day} is in the future (today is {today} UTC); a decision's date says which version "
                              "of the review it counts in; fix: write the date the decision was made, YYYY-MM-DD (check the year)")
    with pytest.raises(ConfigError, match=rf"^d\.tsv:4: date {today + 2 * day} is in the future"):
        refuse_future_dates([((today + 2 * day).isoformat(), "d.tsv:4")], now=ten)
    # a year typed 36 years ahead (2062 for 2026), at the current time
    ahead = today.replace(year=today.year + 36, day=min(today.day, 28)).isoformat()
    with pytest.raises(ConfigError, match=rf"^d\.tsv:9: date {ahead} is in the future"):
        refuse_future_dates([(ahead, "d.tsv:9")])
