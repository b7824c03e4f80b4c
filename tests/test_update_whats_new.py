"""What each search run adds: new clusters, duplicates of earlier runs, the human to-do list."""

from __future__ import annotations

from pathlib import Path

import pytest

from livingreview.errors import InputFormatError, ReconciliationError
from livingreview.update import first_run_of_clusters, run_whats_new, whats_new


def _records() -> list[dict[str, str]]:
    rows = [
        # run 1: an included trial (PubMed + Embase copy), an excluded review
        ("pubmed:1", "2025-09-30", "pubmed", "Trial A", "2014"),
        ("embase:2025-09-30#1", "2025-09-30", "embase", "Trial A.", "2014"),
        ("pubmed:2", "2025-09-30", "pubmed", "A review", "2020"),
        # run 2: a copy of trial A (not new), an erratum (new cluster), a new RCT candidate
        ("pubmed:1b", "2025-10-31", "pubmed", "Trial A", "2014"),
        ("pubmed:3", "2025-10-31", "pubmed", "Erratum: Trial A", "2025"),
        ("pubmed:4", "2025-10-31", "pubmed", "New randomized trial", "2025"),
        ("embase:2025-10-31#1", "2025-10-31", "embase", "New randomized trial.", "2025"),
    ]
    return [dict(zip(("record_id", "run_id", "database", "title", "year"), r)) for r in rows]


def _clusters() -> list[dict[str, str]]:
    pairs = [
        ("pubmed:1", "c1", "pubmed:1"),
        ("embase:2025-09-30#1", "c1", "pubmed:1"),
        ("pubmed:1b", "c1", "pubmed:1"),
        ("pubmed:2", "c2", "pubmed:2"),
        ("pubmed:3", "c3", "pubmed:3"),
        ("pubmed:4", "c4", "pubmed:4"),
        ("embase:2025-10-31#1", "c4", "pubmed:4"),
    ]
    return [{"record_id": r, "cluster_id": c, "canonical_id": k} for r, c, k in pairs]


def _screening() -> list[dict[str, str]]:
    def row(cid: str, rid: str, stage: str, decision: str, source: str = "human") -> dict[str, str]:
        return {"cluster_id": cid, "record_id": rid, "stage": stage, "decision": decision, "source": source,
                "reference": "", "reason": "", "evidence": ""}

    return [
        row("c1", "pubmed:1", "automation", "passed", "rule"),
        row("c1", "pubmed:1", "title_abstract", "included"),
        row("c1", "pubmed:1", "full_text", "included"),
        row("c2", "pubmed:2", "automation", "excluded", "rule"),
        row("c3", "pubmed:3", "automation", "excluded", "rule"),
        row("c4", "pubmed:4", "automation", "passed", "rule"),
        row("c4", "pubmed:4", "title_abstract", "awaiting_decision"),
    ]


STUDIES = [{"study_id": "TrialA2014", "record_ids": "pubmed:1"}]


def test_first_run_is_the_earliest_member() -> None:
    runs = {r["record_id"]: r["run_id"] for r in _records()}
    clusters = {c["record_id"]: c["cluster_id"] for c in _clusters()}
    assert first_run_of_clusters(runs, clusters) == {
        "c1": "2025-09-30", "c2": "2025-09-30", "c3": "2025-10-31", "c4": "2025-10-31"}


def test_second_run_lists_exactly_the_new_clusters_and_the_todo() -> None:
    new, todo, summary = whats_new(
        "2025-10-31", records=_records(), clusters=_clusters(), screening=_screening(), studies=STUDIES)
    assert [r["cluster_id"] for r in new] == ["c3", "c4"]
    assert new[1]["databases"] == "embase; pubmed" and new[1]["n_records"] == 2
    assert new[0]["decision"] == "excluded" and new[0]["last_stage"] == "automation"
    assert [(t["record_id"], t["stage"]) for t in todo] == [("pubmed:4", "title_abstract")]
    assert summary.records_retrieved == 4
    assert summary.duplicates_of_earlier_runs == 1  # the copy of trial A is not new
    assert summary.duplicates_within_run == 1  # the Embase copy of the new trial
    assert summary.new_clusters == 2
    assert summary.new_included_studies == () and summary.included_studies_total == 1


def test_first_run_counts_everything_as_new() -> None:
    new, todo, summary = whats_new(
        "2025-09-30", records=_records(), clusters=_clusters(), screening=_screening(), studies=STUDIES)
    assert [r["cluster_id"] for r in new] == ["c1", "c2"]
    assert todo == []
    assert summary.new_included_studies == ("TrialA2014",)
    assert summary.records_retrieved == summary.new_clusters + summary.duplicates_within_run


def test_record_without_cluster_is_an_error() -> None:
    with pytest.raises(ReconciliationError, match="no cluster"):
        whats_new("2025-09-30", records=_records(), clusters=_clusters()[:-1], screening=[], studies=[])


def test_unknown_run_is_an_error() -> None:
    with pytest.raises(ReconciliationError, match="no records"):
        whats_new("2099-01-01", records=_records(), clusters=_clusters(), screening=[], studies=[])


def test_clustered_record_missing_from_records_is_an_error() -> None:
    clusters = _clusters() + [{"record_id": "pubmed:9", "cluster_id": "c9", "canonical_id": "pubmed:9"}]
    with pytest.raises(ReconciliationError, match="pubmed:9.*fix: re-run the dedup stage"):
        whats_new("2025-09-30", records=_records(), clusters=clusters, screening=[], studies=[])


def test_run_whats_new_names_a_missing_column(tmp_path: Path) -> None:
    tables = {name: tmp_path / f"{name}.tsv" for name in ("records", "clusters", "screening", "studies")}
    tables["records"].write_text("record_id\trun_id\tdatabase\ttitle\npubmed:1\t2025-09-30\tpubmed\tTrial A\n", encoding="utf-8")
    for name in ("clusters", "screening", "studies"):
        tables[name].write_text("x\n", encoding="utf-8")
    outs = {name: [str(tmp_path / "out" / name)] for name in ("new_out", "todo_out", "summary_out")}
    with pytest.raises(InputFormatError, match=r"records\.tsv:1: missing column\(s\) year"):
        run_whats_new(run_ids=["2025-09-30"], **{k: str(v) for k, v in tables.items()}, **outs)
    assert not (tmp_path / "out").exists()


def test_tenth_run_of_a_day_comes_after_the_second() -> None:
    records = [
        {"record_id": "pubmed:1", "run_id": "2025-09-30-2", "database": "pubmed", "title": "Trial A", "year": "2014"},
        {"record_id": "embase:2025-09-30-10#1", "run_id": "2025-09-30-10", "database": "embase", "title": "Trial A.", "year": "2014"},
    ]
    clusters = [{"record_id": r["record_id"], "cluster_id": "c1", "canonical_id": "pubmed:1"} for r in records]
    assert first_run_of_clusters({r["record_id"]: r["run_id"] for r in records}, {c["record_id"]: c["cluster_id"] for c in clusters}) == {"c1": "2025-09-30-2"}
    new_rows, _todo, summary = whats_new("2025-09-30-10", records=records, clusters=clusters, screening=[], studies=[])
    assert new_rows == [] and summary.duplicates_of_earlier_runs == 1 and summary.new_clusters == 0


def _write(path: Path, rows: list[dict[str, str]]) -> str:
    fields = list(rows[0])
    path.write_text("\t".join(fields) + "\n" + "".join("\t".join(r[f] for f in fields) + "\n" for r in rows), encoding="utf-8")
    return str(path)


def test_one_job_writes_every_run_as_the_per_run_calls_do(tmp_path: Path) -> None:
    from livingreview.update import whats_new_runs

    tables = dict(records=_records(), clusters=_clusters(), screening=_screening(), studies=STUDIES)
    together = whats_new_runs(["2025-09-30", "2025-10-31"], **tables)
    assert together == {run: whats_new(run, **tables) for run in ("2025-09-30", "2025-10-31")}
    paths = {k: _write(tmp_path / f"{k}.tsv", v) for k, v in tables.items()}
    outs = {
        name: [str(tmp_path / run / f"{name}.out") for run in ("2025-09-30", "2025-10-31")]
        for name in ("new_out", "todo_out", "summary_out")
    }
    summaries = run_whats_new(run_ids=["2025-09-30", "2025-10-31"], **paths, **outs)
    assert [s.run_id for s in summaries] == ["2025-09-30", "2025-10-31"]
    second_new = (tmp_path / "2025-10-31" / "new_out.out").read_text(encoding="utf-8").splitlines()
    assert [line.split("\t")[0] for line in second_new[1:]] == ["c3", "c4"]
    assert '"new_clusters": 2' in (tmp_path / "2025-10-31" / "summary_out.out").read_text(encoding="utf-8")


def test_one_run_failing_writes_no_run(tmp_path: Path) -> None:
    tables = dict(records=_records(), clusters=_clusters(), screening=_screening(), studies=STUDIES)
    paths = {k: _write(tmp_path / f"{k}.tsv", v) for k, v in tables.items()}
    outs = {name: [str(tmp_path / run / name) for run in ("2025-09-30", "2099-01-01")] for name in ("new_out", "todo_out", "summary_out")}
    with pytest.raises(ReconciliationError, match="run 2099-01-01 has no records"):
        run_whats_new(run_ids=["2025-09-30", "2099-01-01"], **paths, **outs)
    assert not (tmp_path / "2025-09-30").exists()


def test_included_studies_total_counts_the_studies_new_in_this_run() -> None:
    _new, _todo, first = whats_new("2025-09-30", records=_records(), clusters=_clusters(), screening=_screening(), studies=STUDIES)
    assert first.new_included_studies == ("TrialA2014",) and first.included_studies_total == 1
    studies = STUDIES + [{"study_id": "NewTrial2025", "record_ids": "pubmed:4"}]
    _new, _todo, second = whats_new("2025-10-31", records=_records(), clusters=_clusters(), screening=_screening(), studies=studies)
    assert second.new_included_studies == ("NewTrial2025",) and second.included_studies_total == 2


def test_databases_of_a_new_cluster_are_those_of_its_run_and_earlier() -> None:
    records = [
        {"record_id": "pubmed:10", "run_id": "2025-09-30", "database": "pubmed", "title": "Trial B", "year": "2020"},
        {"record_id": "embase:2025-10-31#5", "run_id": "2025-10-31", "database": "embase", "title": "Trial B.", "year": "2020"},
    ]
    clusters = [{"record_id": r["record_id"], "cluster_id": "c10", "canonical_id": "pubmed:10"} for r in records]
    (row,), _todo, _summary = whats_new("2025-09-30", records=records, clusters=clusters, screening=[], studies=[])
    # what the first run found: its PubMed record only (the Embase copy came a month later)
    assert row["databases"] == "pubmed" and row["n_records"] == 1


def test_todo_list_is_sorted_by_stage_then_cluster() -> None:
    records = [
        {"record_id": "pubmed:21", "run_id": "2025-09-30", "database": "pubmed", "title": "Trial C", "year": "2020"},
        {"record_id": "pubmed:22", "run_id": "2025-09-30", "database": "pubmed", "title": "Trial D", "year": "2021"},
    ]
    clusters = [{"record_id": "pubmed:21", "cluster_id": "cA", "canonical_id": "pubmed:21"},
                {"record_id": "pubmed:22", "cluster_id": "cB", "canonical_id": "pubmed:22"}]

    def row(cid: str, rid: str, stage: str, decision: str) -> dict[str, str]:
        return {"cluster_id": cid, "record_id": rid, "stage": stage, "decision": decision, "source": "human", "reference": "", "reason": "", "evidence": ""}

    screening = [row("cA", "pubmed:21", "title_abstract", "awaiting_decision"),
                 row("cB", "pubmed:22", "title_abstract", "included"), row("cB", "pubmed:22", "full_text", "awaiting_decision")]
    _new, todo, summary = whats_new("2025-09-30", records=records, clusters=clusters, screening=screening, studies=[])
    # "full_text" sorts before "title_abstract"
    assert [(t["stage"], t["cluster_id"]) for t in todo] == [("full_text", "cB"), ("title_abstract", "cA")]
    assert summary.awaiting_decision == 2


@pytest.mark.parametrize(
    ("included_on", "new_in"),
    [
        ("2025-10-05", "2025-09-30"),  # screened between the two searches: the first version's study
        ("2025-10-31", "2025-10-31"),  # on the second search's day or later: new in the second version
        ("2025-11-20", "2025-10-31"),
        (None, "2025-09-30"),  # no dates given: the run that found it
    ],
)
def test_a_study_is_new_in_the_version_whose_window_holds_its_inclusion(included_on: str | None, new_in: str) -> None:
    """As the PRISMA update column counts it: the first version that included one of its reports."""
    from livingreview.update import whats_new_runs

    screening = [dict(r, reference="decisions.tsv:9") if (r["cluster_id"], r["stage"]) == ("c1", "full_text") else r for r in _screening()]
    dates = None if included_on is None else {"decisions.tsv:9": included_on}
    out = whats_new_runs(["2025-09-30", "2025-10-31"], records=_records(), clusters=_clusters(), screening=screening, studies=STUDIES,
                         decision_dates=dates)
    assert {run: out[run][2].new_included_studies for run in out} == {
        run: ("TrialA2014",) if run == new_in else () for run in ("2025-09-30", "2025-10-31")}
    assert out["2025-10-31"][2].included_studies_total == 1
    assert out["2025-09-30"][2].included_studies_total == (1 if new_in == "2025-09-30" else 0)
