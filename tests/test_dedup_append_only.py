"""Property tests of append-only deduplication across search runs (commit e3502fc).

Synthetic records with known duplicates (the generator of benchmarks/dedup.py: made-up words and
authors, DOIs under the 10.5555 test prefix, PMIDs above 90,000,000) are spread over search runs
with fixed seeds, plus crafted adversarial records (equally synthetic). Each property compares
``deduplicate`` on the earlier runs only with ``deduplicate`` on all runs:

1. the partition of earlier records and their cluster ids are unchanged;
2. the canonical row (and provenance) of every earlier cluster is unchanged;
3. a later record joins at most one earlier cluster, and every link it makes to another earlier
   cluster that is refused is listed in maybe_pairs ("would join two clusters of earlier runs"
   when nothing else keeps the clusters apart);
4. with one run the default path, the sharded candidate path and the per-run incremental
   candidate path agree;
5. the order of the input records does not change clusters, canonical records or provenance;
6. a person's ``link`` between two earlier clusters merges them.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from livingreview.dedup import (
    EARLIER_CLUSTERS,
    RULE_DOI,
    RULE_PMID,
    DedupDecision,
    DedupResult,
    _prepare,
    candidate_rows,
    cluster_id_for,
    deduplicate,
)
from livingreview.records import Record
from livingreview.runs import run_sort_key

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "dedup.py"
_spec = importlib.util.spec_from_file_location("dedup_benchmark", BENCH)
assert _spec and _spec.loader
bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench)

RUNS = ("2025-09-30", "2025-10-31", "2025-11-30")
SAME_DAY = ("2025-10-31", "2025-10-31-2", "2025-10-31-10")  # run_sort_key order; plain text order puts -10 before -2
SEEDS = (3, 17)
REFUSAL_REASONS = {EARLIER_CLUSTERS, "different DOIs", "different PMIDs", "different registrations"}


# --- helpers ------------------------------------------------------------------------------------


def _phase(records: Sequence[Record]) -> dict[str, int]:
    """record_id -> rank of its run (0 = oldest), as deduplicate orders runs."""
    rank = {run: k for k, run in enumerate(sorted({r.run_id for r in records}, key=run_sort_key))}
    return {r.record_id: rank[r.run_id] for r in records}


def _spread(records: Sequence[Record], labels: Sequence[int], runs: Sequence[str], seed: int) -> list[Record]:
    """Each record in a random run (seeded); a tenth of the works entirely in one run."""
    rng = random.Random(seed)
    whole_work = {lab: rng.choice(runs) for lab in set(labels) if rng.random() < 0.1}
    out = [dataclasses.replace(r, run_id=whole_work.get(lab) or rng.choice(runs)) for r, lab in zip(records, labels)]
    return sorted(out, key=lambda r: r.record_id)  # as records.tsv feeds the pipeline


def _bridges(records: Sequence[Record], labels: Sequence[int], *, late: str, n: int, seed: int) -> tuple[list[Record], set[str]]:
    """Later-run records (run ``late``) that copy a work B without PMIDs (an F-rule match of B's
    base record) but carry the PMID of another work A without DOIs: each links to A by PMID and
    to B by title. Returns the bridges and the record ids of the works A and B."""
    works: dict[int, list[int]] = {}
    for k, lab in enumerate(labels):
        works.setdefault(lab, []).append(k)

    def plain(members: list[int]) -> bool:  # ordinary publications only, no hard negative
        return all(records[k].publication_types == ("Journal Article",) for k in members)

    with_pmid = sorted(lab for lab, m in works.items() if plain(m) and records[m[0]].pmid and not any(records[k].doi for k in m))
    no_pmid = sorted(lab for lab, m in works.items() if plain(m) and not any(records[k].pmid for k in m) and records[m[0]].pages)
    rng = random.Random(seed)
    rng.shuffle(with_pmid)
    rng.shuffle(no_pmid)
    bridges: list[Record] = []
    bridged: set[str] = set()
    for k, (a, b) in enumerate(zip(with_pmid[:n], no_pmid[:n]), 1):
        base_b = records[works[b][0]]
        bridges.append(dataclasses.replace(base_b, record_id=f"other:bridge#{k}", database="other", run_id=late, pmid=records[works[a][0]].pmid, doi=""))
        bridged |= {records[m].record_id for m in (*works[a], *works[b])}
    assert len(bridges) == n, "not enough works to bridge"
    return bridges, bridged


def _partition(result: DedupResult, ids: Sequence[str]) -> set[frozenset[str]]:
    groups: dict[str, set[str]] = {}
    for rid in ids:
        groups.setdefault(result.cluster_of[rid], set()).add(rid)
    return {frozenset(g) for g in groups.values()}


def _maybe(result: DedupResult) -> dict[frozenset[str], str]:
    return {frozenset((m["record_a"], m["record_b"])): m["rule"] for m in result.maybe_pairs}


def _as_text(rows: list[dict[str, Any]]) -> list[dict[str, str]]:
    return [{k: str(v) for k, v in row.items()} for row in rows]


def _check_append_only(earlier: Sequence[Record], everything: Sequence[Record]) -> tuple[DedupResult, DedupResult]:
    """Properties 1-3 for one pair of builds; returns (earlier build, full build)."""
    before = deduplicate(earlier)
    after = deduplicate(everything)
    ids = [r.record_id for r in earlier]
    # 1. Every earlier record keeps its cluster id; the partition of earlier records is unchanged.
    moved = [rid for rid in ids if after.cluster_of[rid] != before.cluster_of[rid]]
    assert moved == [], f"earlier records changed cluster: {moved[:5]}"
    assert _partition(after, ids) == _partition(before, ids)
    # ... and keeps its canonical record.
    canon_before = {r["record_id"]: r["canonical_id"] for r in before.clusters}
    canon_after = {r["record_id"]: r["canonical_id"] for r in after.clusters}
    assert {rid: canon_after[rid] for rid in ids} == canon_before
    # 2. The canonical row and the provenance of every earlier cluster are unchanged.
    rows_after = {r["cluster_id"]: r for r in after.canonical}
    changed = [r["cluster_id"] for r in before.canonical if rows_after.get(r["cluster_id"]) != r]
    assert changed == [], f"canonical rows of earlier clusters changed: {changed[:5]}"
    earlier_clusters = set(before.cluster_of.values())
    assert [r for r in after.provenance if r["cluster_id"] in earlier_clusters] == before.provenance
    # 3. A cluster holds the records of at most one earlier cluster (a later record joins at most one).
    earlier_ids = set(ids)
    spans: dict[str, set[str]] = {}
    for rid, cid in after.cluster_of.items():
        if rid in earlier_ids:
            spans.setdefault(cid, set()).add(before.cluster_of[rid])
    assert all(len(s) == 1 for s in spans.values())
    return before, after


def _attempted_links(records: Sequence[Record]) -> tuple[list[tuple[str, str, str]], dict[frozenset[str], str]]:
    """The links deduplicate tries without decisions: (a, b, rule) for PMID and DOI groups (each
    later member to the group's earliest record by (run, input order)) and for candidate pairs
    matching a fuzzy rule; and every candidate pair -> its fuzzy rule ("" below the rules)."""
    phase = _phase(records)
    p = _prepare(records)
    links: list[tuple[str, str, str]] = []
    for rule, values in ((RULE_PMID, p.pmid), (RULE_DOI, p.doi)):
        groups: dict[str, list[int]] = {}
        for k, v in enumerate(values):
            if v:
                groups.setdefault(v, []).append(k)
        for members in groups.values():
            anchor = min(members, key=lambda k: (phase[p.ids[k]], k))
            links += [(p.ids[anchor], p.ids[k], rule) for k in members if k != anchor]
    candidates = {frozenset((row["record_a"], row["record_b"])): row["rule"] for row in candidate_rows(records)}
    links += [(*sorted(pair), rule) for pair, rule in candidates.items() if rule]
    return links, candidates


def _cluster_values(records: Sequence[Record], result: DedupResult) -> dict[str, list[set[str]]]:
    """cluster id -> [DOIs, PMIDs, registrations, kinds] of its members."""
    p = _prepare(records)
    values: dict[str, list[set[str]]] = {}
    for k, rid in enumerate(p.ids):
        sets = values.setdefault(result.cluster_of[rid], [set(), set(), set(), set()])
        for s, v in zip(sets, (p.doi[k], p.pmid[k], p.registry_id[k], p.kind[k])):
            if v:
                s.add(v)
    return values


def _values_conflict(values: dict[str, list[set[str]]], result: DedupResult, a: str, b: str) -> bool:
    """Whether the final clusters of a and b hold different DOIs, PMIDs, registrations or kinds
    (``values`` from ``_cluster_values``)."""
    va, vb = values[result.cluster_of[a]], values[result.cluster_of[b]]
    return any(x and y and not (x & y) for x, y in zip(va, vb))


def _check_refused_links_listed(records: Sequence[Record], result: DedupResult) -> int:
    """Property 3: every tried link whose records end in two clusters is a maybe pair naming its
    rule; when nothing but run order keeps the clusters apart, the reason is EARLIER_CLUSTERS, and
    that reason is only given when both clusters hold records of runs before the link's run.
    Returns the number of links refused as EARLIER_CLUSTERS."""
    phase = _phase(records)
    first_phase: dict[str, int] = {}
    for rid, cid in result.cluster_of.items():
        first_phase[cid] = min(first_phase.get(cid, phase[rid]), phase[rid])
    links, candidates = _attempted_links(records)
    maybe = _maybe(result)
    values = _cluster_values(records, result)
    n_earlier = 0
    for a, b, rule in links:
        if result.cluster_of[a] == result.cluster_of[b]:
            continue
        pair = frozenset((a, b))
        assert pair in maybe, f"refused {rule} link {a} / {b} is not in maybe_pairs"
        shown_rule = candidates.get(pair) or rule  # a candidate pair is listed under its fuzzy rule
        label = maybe[pair]
        prefix = f"{shown_rule} refused: "
        assert label.startswith(prefix), f"{a} / {b}: {label!r} does not start with {prefix!r}"
        reason = label[len(prefix):]
        assert reason in REFUSAL_REASONS or " vs " in reason, label
        now = max(phase[a], phase[b])
        if reason == EARLIER_CLUSTERS:
            n_earlier += 1
            assert first_phase[result.cluster_of[a]] < now and first_phase[result.cluster_of[b]] < now
        if not _values_conflict(values, result, a, b):
            assert reason == EARLIER_CLUSTERS, f"{a} / {b}: {label!r}"
    return n_earlier


def _synthetic(n: int, seed: int, runs: Sequence[str] = RUNS) -> list[Record]:
    """About ``n`` synthetic records spread over ``runs``, sorted by record_id."""
    records, labels = bench.generate(n, seed)
    return _spread(records, labels, runs, seed)


def _rec(record_id: str, run_id: str, **kw: Any) -> Record:
    """A crafted synthetic record (made-up title and authors, test-prefix DOIs, unassigned PMIDs)."""
    fields: dict[str, Any] = {
        "title": "Velprazar kamiro tenlin effects on norbel vasquizo marcel outcomes in a synthetic cohort",
        "authors": ("Zarbel KA", "Tormi L"),
        "journal": "Journal of Synthetic Studies",
        "year": "2019",
        "volume": "12",
        "pages": "101-110",
        "publication_types": ("Journal Article",),
    }
    fields.update(kw)
    return Record(record_id=record_id, run_id=run_id, database=record_id.split(":", 1)[0], **fields)


OTHER_TITLE = "Fenostor lusomi diprave and gentorqui ratings among kaven synthetic participants"


def _link(a: str, b: str, line: int = 2) -> DedupDecision:
    return DedupDecision(record_a=a, record_b=b, decision="link", reviewer="XY", date="2025-12-01", note="", where=f"decisions.tsv:{line}")


# --- 1-3 on synthetic data ----------------------------------------------------------------------


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("runs", [RUNS, SAME_DAY], ids=["monthly", "same-day"])
def test_adding_runs_never_changes_earlier_clusters(seed: int, runs: tuple[str, ...]) -> None:
    records = _synthetic(1500, seed, runs)
    assert {r.run_id for r in records} == set(runs)
    order = sorted(runs, key=run_sort_key)
    refused = 0
    for k in (1, 2):
        earlier = [r for r in records if r.run_id in order[:k]]
        later = [r for r in records if r.run_id in order[: k + 1]]
        before, after = _check_append_only(earlier, later)
        assert after.n_clusters > before.n_clusters  # the later run does add clusters
        refused += _check_refused_links_listed(later, after)
    # The later runs' duplicates do join earlier clusters (the split is not trivially all-new).
    whole = deduplicate(records)
    joined = {whole.cluster_of[r.record_id] for r in records if r.run_id == order[2]} & {
        whole.cluster_of[r.record_id] for r in records if r.run_id == order[0]
    }
    assert len(joined) > 100
    # No false merge: every cluster holds one synthetic work.
    records_all, labels = bench.generate(1500, seed)
    label_of = {r.record_id: lab for r, lab in zip(records_all, labels)}
    tp, predicted, true = bench.pair_counts([whole.cluster_of[r.record_id] for r in records], [label_of[r.record_id] for r in records])
    assert tp == predicted and true > 0


@pytest.mark.parametrize("seed", SEEDS)
def test_bridging_records_join_one_earlier_cluster_and_wait_for_a_person(seed: int) -> None:
    records, labels = bench.generate(2000, seed)
    bridges, bridged = _bridges(records, labels, late=RUNS[2], n=12, seed=seed)
    rng = random.Random(seed)
    # The bridged works in the first run; every other record in run 1 or 2.
    earlier = sorted(
        (dataclasses.replace(r, run_id=RUNS[0] if r.record_id in bridged else rng.choice(RUNS[:2])) for r in records), key=lambda r: r.record_id
    )
    everything = sorted([*earlier, *bridges], key=lambda r: r.record_id)
    before, after = _check_append_only(earlier, everything)
    assert _check_refused_links_listed(everything, after) >= len(bridges)
    maybe = _maybe(after)
    pmid_of = {r.pmid: r.record_id for r in earlier if r.record_id.startswith("pubmed:")}
    for bridge in bridges:
        title_work = [r.record_id for r in earlier if r.title == bridge.title and r.authors == bridge.authors]
        assert title_work, bridge.record_id
        # Joined the PMID's earlier cluster (the stronger link), not the title's.
        assert after.cluster_of[bridge.record_id] == before.cluster_of[pmid_of[bridge.pmid]]
        assert after.cluster_of[bridge.record_id] != before.cluster_of[title_work[0]]
        rule = maybe[frozenset((bridge.record_id, title_work[0]))]
        assert rule.endswith(f"refused: {EARLIER_CLUSTERS}") and rule.startswith("F"), rule
    # Built as one run, the same records chain the two works into one cluster.
    one_run = deduplicate([dataclasses.replace(r, run_id=RUNS[0]) for r in everything])
    for bridge in bridges:
        title_work = next(r.record_id for r in earlier if r.title == bridge.title and r.authors == bridge.authors)
        assert one_run.cluster_of[title_work] == one_run.cluster_of[pmid_of[bridge.pmid]] == one_run.cluster_of[bridge.record_id]
    assert EARLIER_CLUSTERS not in " ".join(m["rule"] for m in one_run.maybe_pairs)


# --- 1-3 on crafted adversarial records --------------------------------------------------------


def _crafted(kind: str) -> tuple[list[Record], Record]:
    """(earlier records in two clusters, a later record matching both)."""
    if kind == "pmid+doi":
        e1 = _rec("pubmed:99000001", RUNS[0], pmid="99000001", title=OTHER_TITLE)
        e2 = _rec("embase:e2", RUNS[0], doi="10.5555/append.1", pages="", volume="")
        return [e1, e2], _rec("psycinfo:late", RUNS[1], pmid="99000001", doi="10.5555/append.1", title="Tasquiza ostfen lumiro in belnor synthetic wards")
    if kind == "pmid+fuzzy":
        e1 = _rec("pubmed:99000001", RUNS[0], pmid="99000001", title=OTHER_TITLE)
        e2 = _rec("embase:e2", RUNS[0])
        return [e1, e2], _rec("psycinfo:late", RUNS[1], pmid="99000001")
    if kind == "doi+fuzzy":
        e1 = _rec("pubmed:99000001", RUNS[0], pmid="99000001", doi="10.5555/append.2", title=OTHER_TITLE)
        e2 = _rec("embase:e2", RUNS[0])
        return [e1, e2], _rec("psycinfo:late", RUNS[1], doi="10.5555/append.2")
    if kind == "fuzzy+fuzzy":  # years 2018 and 2020 differ; 2019 is adjacent to both
        e1 = _rec("embase:e1", RUNS[0], year="2018")
        e2 = _rec("psycinfo:e2", RUNS[0], year="2020")
        return [e1, e2], _rec("medline:late", RUNS[1], year="2019")
    raise AssertionError(kind)


@pytest.mark.parametrize(
    "kind, joined, rule",
    [
        ("pmid+doi", "pubmed:99000001", "doi refused"),
        ("pmid+fuzzy", "pubmed:99000001", "F1 refused"),
        ("doi+fuzzy", "pubmed:99000001", "F1 refused"),
        ("fuzzy+fuzzy", "embase:e1", "F1 refused"),
    ],
)
def test_a_later_record_matching_two_earlier_clusters(kind: str, joined: str, rule: str) -> None:
    earlier, late = _crafted(kind)
    before, after = _check_append_only(earlier, [*earlier, late])
    assert len(set(before.cluster_of.values())) == 2
    assert after.cluster_of[late.record_id] == before.cluster_of[joined]
    other = next(r.record_id for r in earlier if r.record_id != joined)
    assert [(m["record_a"], m["record_b"], m["rule"]) for m in after.maybe_pairs if m["rule"] != "below rules"] == [
        (*sorted((late.record_id, other)), f"{rule}: {EARLIER_CLUSTERS}")
    ]
    assert _check_refused_links_listed([*earlier, late], after) == 1
    # In one run the same three records are one cluster (the pre-change behaviour).
    one = deduplicate([dataclasses.replace(r, run_id=RUNS[0]) for r in (*earlier, late)])
    assert len(set(one.cluster_of.values())) == 1
    # 6. A person's link between the two earlier clusters merges them (and takes the later record).
    linked = deduplicate([*earlier, late], decisions=[_link(earlier[0].record_id, earlier[1].record_id)])
    assert len(set(linked.cluster_of.values())) == 1
    assert linked.cluster_of[joined] == before.cluster_of[min(r.record_id for r in earlier)]
    assert not [m for m in linked.maybe_pairs if EARLIER_CLUSTERS in m["rule"]]


def test_later_records_that_link_only_to_each_other_form_a_new_cluster() -> None:
    e1 = _rec("embase:e1", RUNS[0], title=OTHER_TITLE)
    e2 = _rec("pubmed:99000002", RUNS[0], pmid="99000002")
    news = [_rec("psycinfo:n1", RUNS[1], year="2024", title="Marcel pranor tempol in synthetic quizaro lumbel trials"),
            _rec("embase:n2", RUNS[1], year="2024", title="Marcel pranor tempol in synthetic quizaro lumbel trials.", pages="101-10")]
    before, after = _check_append_only([e1, e2], [e1, e2, *news])
    assert after.cluster_of["psycinfo:n1"] == after.cluster_of["embase:n2"] == cluster_id_for("embase:n2")
    assert after.cluster_of["embase:n2"] not in set(before.cluster_of.values())
    assert after.n_clusters == 3
    # A third-run record linking the new cluster and an earlier one joins only one of them.
    bridge = _rec("medline:99000002", RUNS[2], pmid="99000002", year="2024", title="Marcel pranor tempol in synthetic quizaro lumbel trials")
    everything = [e1, e2, *news, bridge]
    _, third = _check_append_only([e1, e2, *news], everything)
    assert third.cluster_of[bridge.record_id] == after.cluster_of["pubmed:99000002"]  # PMID before the title
    assert third.n_clusters == 3
    assert _check_refused_links_listed(everything, third) == 2  # to n1 and to n2, both of run 2025-10-31


def test_chain_across_three_runs() -> None:
    """A (run 1) - B (run 2, one year later) - C (run 3, two years later): C matches only B, and
    joins A's cluster through it; nothing earlier moves."""
    a = _rec("embase:a", RUNS[0], year="2018")
    b = _rec("psycinfo:b", RUNS[1], year="2019")
    c = _rec("medline:c", RUNS[2], year="2020")
    first = deduplicate([a])
    _, second = _check_append_only([a], [a, b])
    _, third = _check_append_only([a, b], [a, b, c])
    assert first.cluster_of["embase:a"] == second.cluster_of["psycinfo:b"] == third.cluster_of["medline:c"]
    canon = {r["cluster_id"]: r for r in third.canonical}[first.cluster_of["embase:a"]]
    assert canon == first.canonical[0]  # the first run's record, with its year
    # A fourth record of run 3 matching B's cluster and a cluster of run 2 only: refused.
    d_other = _rec("embase:d", RUNS[1], year="2021", title=OTHER_TITLE)
    d = _rec("psycinfo:d2", RUNS[2], year="2020", title=OTHER_TITLE, pages="101-110")
    everything = [a, b, c, d_other, d]
    _, fourth = _check_append_only([a, b, d_other], everything)
    assert fourth.cluster_of["psycinfo:d2"] in {fourth.cluster_of["embase:a"], fourth.cluster_of["embase:d"]}
    _check_refused_links_listed(everything, fourth)


def test_same_day_runs_are_ordered_numerically() -> None:
    """2025-10-31-2 is earlier than 2025-10-31-10: the -2 record is the cluster's first, its
    canonical record and the anchor of its id, though PubMed is preferred and '-10' < '-2' as text."""
    early = _rec("embase:x", SAME_DAY[1])
    late = _rec("pubmed:99000009", SAME_DAY[2], pmid="99000009")
    before, after = _check_append_only([early], [early, late])
    assert after.cluster_of[late.record_id] == before.cluster_of[early.record_id] == cluster_id_for("embase:x")
    assert [r["record_id"] for r in after.canonical] == ["embase:x"]
    assert after.canonical == before.canonical
    # Swapped run ids: the PubMed record is first, so it is canonical.
    swapped = deduplicate([dataclasses.replace(early, run_id=SAME_DAY[2]), dataclasses.replace(late, run_id=SAME_DAY[1])])
    assert [r["record_id"] for r in swapped.canonical] == ["pubmed:99000009"]
    # A -10 record matching clusters of 2025-10-31 and of -2 is refused the second one.
    e0 = _rec("pubmed:99000001", SAME_DAY[0], pmid="99000001", title=OTHER_TITLE)
    e2 = _rec("embase:e2", SAME_DAY[1])
    bridge = _rec("psycinfo:late", SAME_DAY[2], pmid="99000001")
    _, bridged = _check_append_only([e0, e2], [e0, e2, bridge])
    assert bridged.cluster_of["psycinfo:late"] == bridged.cluster_of["pubmed:99000001"]
    assert _maybe(bridged)[frozenset(("embase:e2", "psycinfo:late"))] == f"F1 refused: {EARLIER_CLUSTERS}"


# --- 4. one run: the paths agree, and runs add only the append-only refusals ---------------------


@pytest.mark.parametrize("seed", SEEDS)
def test_one_run_default_and_sharded_candidate_paths_agree(seed: int) -> None:
    records, _labels = bench.generate(1500, seed)
    records = sorted(records, key=lambda r: r.record_id)
    whole = deduplicate(records)
    links: list[dict[str, str]] = []
    for shard in range(3):
        links += _as_text(candidate_rows(records, shard=shard, n_shards=3))
    sharded = deduplicate(records, candidates=links)
    incremental = deduplicate(records, candidates=_as_text(candidate_rows(records, new_run=RUNS[0])))
    for name in ("clusters", "maybe_pairs", "canonical", "provenance", "ledger"):
        assert getattr(sharded, name) == getattr(whole, name), name
        assert getattr(incremental, name) == getattr(whole, name), name
    # Nothing of the run-by-run order shows in a one-run build.
    assert not any(EARLIER_CLUSTERS in m["rule"] for m in whole.maybe_pairs)
    assert not any("first run" in r["evidence"] for r in whole.ledger)
    # The run id itself does not matter.
    other = deduplicate([dataclasses.replace(r, run_id=SAME_DAY[2]) for r in records])
    for name in ("clusters", "maybe_pairs", "provenance", "ledger"):
        assert getattr(other, name) == getattr(whole, name), name
    assert other.canonical == [{**row, "run_id": SAME_DAY[2]} for row in whole.canonical]


@pytest.mark.parametrize("seed", SEEDS)
def test_several_runs_per_run_candidates_agree_with_the_default_path(seed: int) -> None:
    records = _synthetic(1500, seed)
    whole = deduplicate(records)
    links: list[dict[str, str]] = []
    for k, run in enumerate(RUNS):
        upto = [r for r in records if r.run_id in RUNS[: k + 1]]
        for shard in range(2):
            links += _as_text(candidate_rows(upto, new_run=run, shard=shard, n_shards=2))
    parts = deduplicate(records, candidates=links)
    for name in ("clusters", "maybe_pairs", "canonical", "provenance", "ledger"):
        assert getattr(parts, name) == getattr(whole, name), name
    # Built as one run, the same records merge at least as much (run by run only adds refusals).
    one = deduplicate([dataclasses.replace(r, run_id=RUNS[0]) for r in records])
    assert one.n_clusters <= whole.n_clusters


# --- 5. input order ------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", SEEDS)
def test_record_order_does_not_change_clusters_or_canonical_records(seed: int) -> None:
    """Shuffled input gives the clusters, canonical records and provenance of the sorted input
    (synthetic runs plus a crafted later record bridging two earlier clusters)."""
    records = _synthetic(1500, seed)
    crafted = [
        _rec("pubmed:99000001", RUNS[0], pmid="99000001", title=OTHER_TITLE),
        _rec("embase:e2", RUNS[0]),
        _rec("psycinfo:late", RUNS[1], pmid="99000001"),
    ]
    records = [*records, *crafted]
    reference = deduplicate(sorted(records, key=lambda r: r.record_id))
    assert reference.cluster_of["psycinfo:late"] == reference.cluster_of["pubmed:99000001"] != reference.cluster_of["embase:e2"]
    for shuffle_seed in (1, 2):
        shuffled = list(records)
        random.Random(shuffle_seed).shuffle(shuffled)
        result = deduplicate(shuffled)
        for name in ("clusters", "canonical", "provenance"):
            assert getattr(result, name) == getattr(reference, name), f"{name} depends on record order (shuffle seed {shuffle_seed})"
        assert {(m["record_a"], m["record_b"]) for m in result.maybe_pairs} == {(m["record_a"], m["record_b"]) for m in reference.maybe_pairs}


# --- 6. a person's link ------------------------------------------------------------------------


@pytest.mark.parametrize("seed", SEEDS)
def test_a_person_can_link_two_earlier_clusters(seed: int) -> None:
    """A link between records of two earlier clusters (whose DOIs, PMIDs, registrations and kinds
    do not contradict each other) merges the two whole clusters in the build with a later run; the
    other earlier clusters are untouched."""
    records = _synthetic(1500, seed)
    earlier = [r for r in records if r.run_id != RUNS[2]]
    before = deduplicate(earlier)
    values = _cluster_values(earlier, before)
    clusters: dict[str, list[str]] = {}
    for rid, cid in sorted(before.cluster_of.items()):
        clusters.setdefault(cid, []).append(rid)
    rng = random.Random(seed)
    order = sorted(clusters)
    rng.shuffle(order)
    pairs: list[tuple[str, str]] = []
    used: set[str] = set()
    for a in order:
        if len(pairs) == 6 or a in used:
            continue
        for b in order:
            if b in used or b == a or len(clusters[a]) + len(clusters[b]) < 3:
                continue
            if all(len(x | y) <= 1 for x, y in zip(values[a], values[b])):
                pairs.append((a, b))
                used |= {a, b}
                break
    assert len(pairs) == 6
    decisions = [_link(clusters[a][-1], clusters[b][0], line=k) for k, (a, b) in enumerate(pairs, 2)]
    after = deduplicate(records, decisions=decisions)
    for a, b in pairs:
        merged = {after.cluster_of[r] for r in (*clusters[a], *clusters[b])}
        assert len(merged) == 1 and merged <= {a, b}, (a, b, merged)
    touched = {c for pair in pairs for c in pair}
    rest = [rid for rid in before.cluster_of if before.cluster_of[rid] not in touched]
    assert [rid for rid in rest if after.cluster_of[rid] != before.cluster_of[rid]] == []
    assert _partition(after, rest) == _partition(before, rest)


# --- regressions found by these properties --------------------------------------------------------


def test_a_tie_between_two_earlier_clusters_is_broken_by_record_id_not_input_order() -> None:
    e1 = _rec("embase:e1", RUNS[0], year="2018")
    e2 = _rec("psycinfo:e2", RUNS[0], year="2020")
    late = _rec("medline:l", RUNS[1], year="2019")  # an equal F-rule match of both (years either side)
    joined = {deduplicate(order).cluster_of["medline:l"] for order in ([e1, e2, late], [e2, e1, late], [late, e2, e1])}
    assert joined == {deduplicate([e1, e2]).cluster_of["embase:e1"]}


def test_a_shared_pmid_group_links_to_its_earliest_record_id_whatever_the_input_order() -> None:
    a = _rec("pubmed:99000005", RUNS[0], pmid="99000005", doi="10.5555/z.1", title=OTHER_TITLE)
    b = _rec("medline:99000005", RUNS[0], pmid="99000005", doi="10.5555/z.2")
    c = _rec("embase:c", RUNS[0], pmid="99000005", title="Kaven ostfen polnor synthetic report of tembel lumisora")
    results = [deduplicate(order).cluster_of for order in ([a, b, c], [b, a, c], [c, b, a])]
    assert all(r == results[0] for r in results)
    assert results[0]["embase:c"] == results[0]["medline:99000005"] != results[0]["pubmed:99000005"]  # medline < pubmed


def test_a_persons_link_to_a_later_record_adds_it_to_the_earlier_cluster_whole() -> None:
    e1 = _rec("embase:e1", RUNS[0])
    e2 = _rec("psycinfo:e2", RUNS[0], doi="10.5555/y.1")
    late = _rec("medline:l", RUNS[1], title=OTHER_TITLE, doi="10.5555/y.2")
    before = deduplicate([e1, e2]).cluster_of
    after = deduplicate([e1, e2, late], decisions=[_link("embase:e1", "medline:l")])
    assert before["embase:e1"] == before["psycinfo:e2"]
    assert {after.cluster_of[r] for r in ("embase:e1", "psycinfo:e2", "medline:l")} == {before["embase:e1"]}
    assert after.maybe_pairs == []


def test_a_later_record_never_rewrites_an_earlier_duplicates_link() -> None:
    e1 = _rec("pubmed:99000031", RUNS[0], pmid="99000031")
    e2 = _rec("embase:e2", RUNS[0], doi="10.5555/w.1")
    late = _rec("psycinfo:l", RUNS[1], doi="10.5555/w.1")  # a stronger (DOI) link to e2 than e2's own F-rule link
    before, after = deduplicate([e1, e2]), deduplicate([e1, e2, late])
    row = {r["record_id"]: r for r in before.clusters}["embase:e2"]
    assert {r["record_id"]: r for r in after.clusters}["embase:e2"] == row and row["rule"].startswith("F")
    ledger = {r["record_id"]: r for r in before.ledger}["embase:e2"]
    assert {r["record_id"]: r for r in after.ledger}["embase:e2"] == ledger
    assert {r["record_id"]: r for r in after.clusters}["psycinfo:l"]["rule"] == RULE_DOI


def test_a_refused_same_doi_link_is_listed_as_refused_even_with_dissimilar_titles() -> None:
    e1 = _rec("embase:e1", RUNS[0], doi="10.5555/x.2", authors=("Kamirov P",),
              title="Velprazar kamiro tenlin effects on norbel vasquizo marcel outcome in synthetic cohorts")
    e2 = _rec("pubmed:99000003", RUNS[0], pmid="99000003", title=OTHER_TITLE)
    late = _rec("psycinfo:l", RUNS[1], pmid="99000003", doi="10.5555/x.2")
    result = deduplicate([e1, e2, late])
    assert result.cluster_of["psycinfo:l"] == result.cluster_of["pubmed:99000003"]  # PMID is the stronger link
    assert [(m["record_a"], m["record_b"], m["rule"]) for m in result.maybe_pairs] == [
        ("embase:e1", "psycinfo:l", f"{RULE_DOI} refused: {EARLIER_CLUSTERS}")
    ]
