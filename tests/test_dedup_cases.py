"""Case table for deduplication: one pytest param per curated pair (tests/data/dedup_cases.json)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from livingreview.dedup import deduplicate
from livingreview.records import Record

CASES = json.loads((Path(__file__).parent / "data" / "dedup_cases.json").read_text(encoding="utf-8"))["cases"]


def to_record(data: dict[str, Any]) -> Record:
    """A Record from a case-table dict (lists become tuples)."""
    return Record(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items()})


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_case(case: dict[str, Any]) -> None:
    a, b = to_record(case["record_a"]), to_record(case["record_b"])
    result = deduplicate([a, b])
    same = result.cluster_of[a.record_id] == result.cluster_of[b.record_id]
    assert same == (case["expected"] == "same"), case["note"]


def test_case_table_covers_every_not_duplicate_kind() -> None:
    ids = {c["id"] for c in CASES if c["expected"] == "different"}
    for needed in ("corrigendum", "preprint", "conference-abstract", "registration", "two-papers-one-trial"):
        assert any(needed in i for i in ids), needed


def test_all_cases_together_no_false_merge() -> None:
    """All case records in one run: every 'same' pair linked, no 'different' pair linked."""
    records: dict[str, Record] = {}
    for c in CASES:
        for side in ("record_a", "record_b"):
            rec = to_record(c[side])
            records.setdefault(rec.record_id, rec)
    result = deduplicate(list(records.values()))
    for c in CASES:
        a, b = c["record_a"]["record_id"], c["record_b"]["record_id"]
        same = result.cluster_of[a] == result.cluster_of[b]
        assert same == (c["expected"] == "same"), c["id"]
