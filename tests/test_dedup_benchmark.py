"""The synthetic benchmark at a small size: known clusters recovered with no false merge."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from livingreview.dedup import deduplicate
from livingreview.records import Record

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "dedup.py"
_spec = importlib.util.spec_from_file_location("dedup_benchmark", BENCH)
assert _spec and _spec.loader
bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench)


def test_synthetic_precision_and_recall() -> None:
    records, labels = bench.generate(5000, 7)
    result = deduplicate(records, workers=2)
    pred = [result.cluster_of[r.record_id] for r in records]
    tp, predicted, true = bench.pair_counts(pred, labels)
    assert true > 1000
    assert tp == predicted  # precision 1.0
    assert tp / true >= 0.99


def test_pair_counts() -> None:
    assert bench.pair_counts(["a", "a", "b"], [1, 1, 1]) == (1, 1, 3)


def test_part_two_and_short_identical_titles_stay_apart() -> None:
    base = dict(authors=("Feder A",), journal="Neuropsychopharmacology", year="2021", volume="46")
    one = Record(record_id="embase:r#1", database="embase", title="Ketamine and memory reconsolidation in PTSD part 1", **base)
    two = Record(record_id="embase:r#2", database="embase", title="Ketamine and memory reconsolidation in PTSD part 2", **base)
    reply_a = Record(record_id="embase:r#3", database="embase", title="Reply", journal="Am J Psychiatry")
    reply_b = Record(record_id="psycinfo:r#1", database="psycinfo", title="Reply.", journal="American Journal of Psychiatry")
    result = deduplicate([one, two, reply_a, reply_b])
    assert len(set(result.cluster_of.values())) == 4
