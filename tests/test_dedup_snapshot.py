"""End-to-end dedup on the default review's archived snapshot: import, then deduplicate, then
compare with resources/snapshot_coverage.tsv (each curated evidence key -> the record_ids of its copies)."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import pytest

from livingreview.dedup import run_dedup
from livingreview.importer import run_import
from livingreview.tables import read_tsv

from conftest import shipped_resources

SHIPPED = shipped_resources()  # the default review as shipped (conftest)
OVID = ("medline", "embase", "psycinfo")


@pytest.fixture(scope="module")
def snapshot(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    out = tmp_path_factory.mktemp("dedup_snapshot")
    run_import(runs_root=SHIPPED / "searches", records_out=out / "records.tsv", ledger_out=out / "identification.tsv")
    result = run_dedup(
        records=out / "records.tsv",
        decisions=SHIPPED / "dedup" / "decisions.tsv",
        clusters_out=out / "clusters.tsv",
        maybe_out=out / "maybe_pairs.tsv",
        canonical_out=out / "canonical.tsv",
        provenance_out=out / "provenance.tsv",
        ledger_out=out / "dedup.tsv",
    )
    key_of: dict[str, str] = {}
    for row in read_tsv(SHIPPED / "snapshot_coverage.tsv", required=("key", "record_ids")):
        for rid in row["record_ids"].split("; "):
            if rid:
                key_of[rid] = row["key"]
    records = read_tsv(out / "records.tsv")
    return {"result": result, "key_of": key_of, "records": records, "out": out}


def test_every_ovid_copy_of_a_pubmed_record_is_linked_to_it(snapshot: dict) -> None:
    result, key_of = snapshot["result"], snapshot["key_of"]
    pubmed_of_key = {key_of[r]: r for r in key_of if r.startswith("pubmed:")}
    checked = 0
    for rid, key in key_of.items():
        if rid.split(":", 1)[0] in OVID and key in pubmed_of_key:
            assert result.cluster_of[rid] == result.cluster_of[pubmed_of_key[key]], (rid, key)
            checked += 1
    assert checked > 0
    canonical = {r["record_id"]: r["canonical_id"] for r in result.clusters}
    for key, pmid_record in pubmed_of_key.items():
        assert canonical[pmid_record] == pmid_record  # PubMed is the preferred canonical record


def test_nothing_else_is_linked(snapshot: dict) -> None:
    """Clusters are exactly the curated keys: no two evidence records share a cluster, and every
    record of the snapshot is accounted for."""
    result, key_of, records = snapshot["result"], snapshot["key_of"], snapshot["records"]
    assert sorted(r["record_id"] for r in records) == sorted(key_of)
    keys_in_cluster: dict[str, set[str]] = defaultdict(set)
    clusters_of_key: dict[str, set[str]] = defaultdict(set)
    for rid, cid in result.cluster_of.items():
        keys_in_cluster[cid].add(key_of[rid])
        clusters_of_key[key_of[rid]].add(cid)
    assert {c: k for c, k in keys_in_cluster.items() if len(k) > 1} == {}
    assert {k: c for k, c in clusters_of_key.items() if len(c) > 1} == {}
    assert result.n_clusters == len(set(key_of.values()))


def test_ledger_fragment_accounts_for_every_record(snapshot: dict) -> None:
    out: Path = snapshot["out"]
    ledger = read_tsv(out / "dedup.tsv")
    ident = read_tsv(out / "identification.tsv")
    assert sorted(r["record_id"] for r in ledger) == sorted(r["record_id"] for r in ident)
    outcomes = defaultdict(int)
    for row in ledger:
        outcomes[row["outcome"]] += 1
        if row["outcome"] == "duplicate":
            assert row["reference"] and row["reason"]
    assert outcomes["canonical"] == snapshot["result"].n_clusters
    assert outcomes["canonical"] + outcomes["duplicate"] == len(ledger)
