"""The audit ledger: per-stage fragments assembled into one checked table (results/audit/ledger.tsv)."""

from __future__ import annotations

import logging
import os
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from .constants import (
    FINAL_OUTCOMES,
    LEDGER_FIELDS,
    PASSING_OUTCOMES,
    STAGE_ORDER,
    STAGES,
)
from .errors import ReconciliationError
from .gcpause import collector_paused
from .tables import read_tsv, read_tsv_cells, write_tsv

LOG = logging.getLogger(__name__)

# The stages a record may have: the first n of STAGES.
_PREFIXES: list[list[str]] = [list(STAGES[:n]) for n in range(len(STAGES) + 1)]


def clusters_from_rows(rows: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """record_id -> cluster_id from ledger rows that carry a cluster_id (e.g. the dedup fragment)."""
    out: dict[str, str] = {}
    for row in rows:
        cid = str(row.get("cluster_id") or "")
        if not cid:
            continue
        rid = str(row["record_id"])
        if out.setdefault(rid, cid) != cid:
            raise ReconciliationError(
                f"record {rid} is in two clusters ({out[rid]} and {cid}) in the ledger fragments",
                where=str(row.get("_where", "results/audit/stages")),
                fix="re-run deduplication and screening so the fragments come from the same run",
            )
    return out


def assemble_ledger(fragments: Sequence[Iterable[Mapping[str, Any]]], clusters: Mapping[str, str]) -> list[dict[str, Any]]:
    """Merge stage fragments into ledger rows, fill cluster_id, sort, and check the invariants.

    Sorted by record_id, then stage order (constants.STAGES). Invariants (ReconciliationError on
    the first breach, naming the record): every stage is known; each record has exactly one
    identification row and at most one row per stage; a record's stages are a prefix of STAGES (so
    every stage's records are a subset of the previous stage's); every row but the last has the
    outcome that lets a record go on; the last row is a final state (and not one that goes on, so a
    full-text inclusion must end at its study row); every record has a cluster.
    """
    by_record: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
    for fragment in fragments:
        for raw in fragment:
            row = {f: ("" if raw.get(f) is None else str(raw.get(f))) for f in LEDGER_FIELDS}
            rid, stage = row["record_id"], row["stage"]
            where = str(raw.get("_where", "ledger fragment"))
            if stage not in STAGE_ORDER:
                raise ReconciliationError(f"unknown stage {stage!r} for record {rid}", where=where, fix=f"use one of {', '.join(STAGES)}")
            if stage in by_record[rid]:
                raise ReconciliationError(
                    f"record {rid} has two {stage} rows",
                    where=where,
                    fix="each stage writes one row per record; re-run the stage that wrote the fragment",
                )
            by_record[rid][stage] = row
    rows: list[dict[str, Any]] = []
    for rid in sorted(by_record):
        stages = by_record[rid]
        present = list(stages)  # the fragments come in stage order, so a record's rows mostly do too
        if present != _PREFIXES[len(present)]:
            present.sort(key=STAGE_ORDER.__getitem__)
        if "identification" not in stages:
            raise ReconciliationError(
                f"record {rid} has ledger rows ({', '.join(present)}) but no identification row",
                where="results/audit/stages/identification.tsv",
                fix="re-run the import so every record is identified, then the later stages",
            )
        expected = _PREFIXES[len(present)]
        if present != expected:
            missing = next(s for s in expected if s not in stages)
            raise ReconciliationError(
                f"record {rid} reaches {present[-1]} without a {missing} row (rows: {', '.join(present)})",
                where=f"results/audit/stages ({missing})",
                fix="stages must be passed in order; re-run the stage that should have written the missing row",
            )
        cid = clusters.get(rid, "") or next((stages[s]["cluster_id"] for s in present if stages[s]["cluster_id"]), "")
        if not cid:
            raise ReconciliationError(f"record {rid} has no cluster", where="results/audit/stages/dedup.tsv", fix="re-run deduplication")
        last_i = len(present) - 1
        for i, stage in enumerate(present):
            row = stages[stage]
            last = i == last_i
            if not last and row["outcome"] != PASSING_OUTCOMES.get(stage):
                raise ReconciliationError(
                    f"record {rid} has outcome {row['outcome']!r} at {stage} but rows for later stages ({', '.join(present[i + 1:])})",
                    where=f"results/audit/stages ({stage})",
                    fix=f"only a record with outcome {PASSING_OUTCOMES.get(stage)!r} at {stage} goes on; re-run the later stages",
                )
            if last and (row["outcome"] not in FINAL_OUTCOMES or row["outcome"] == PASSING_OUTCOMES.get(stage)):
                raise ReconciliationError(
                    f"record {rid} ends at {stage} with outcome {row['outcome']!r}, which is not a final state",
                    where=f"results/audit/stages ({stage})",
                    fix=f"every record must end {', '.join(sorted(FINAL_OUTCOMES))}; re-run the next stage",
                )
            row["cluster_id"] = cid
            rows.append(row)
    return rows


def check_ledger(rows: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    """Re-check an assembled ledger; returns {final outcome: records}. Raises on any breach."""
    clusters = {str(r["record_id"]): str(r["cluster_id"]) for r in rows}
    again = assemble_ledger([rows], clusters)
    finals: dict[str, str] = {}
    for row in again:
        finals[row["record_id"]] = f"{row['stage']}:{row['outcome']}"
    return dict(sorted(Counter(finals.values()).items()))


def _read_fragment(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The rows of a stage fragment as dicts of its columns and ``_where`` (file:line)."""
    header, rows = read_tsv_cells(path, required=("record_id", "stage", "outcome"))
    keys = [*header, "_where"]
    out: list[dict[str, Any]] = []
    for cells in rows:  # cells: one per column, then the line number
        cells[-1] = f"{path}:{cells[-1]}"
        out.append(dict(zip(keys, cells)))
    return out


@collector_paused()
def run_assemble_ledger(
    *,
    identification: str | os.PathLike[str],
    dedup: str | os.PathLike[str],
    screening: str | os.PathLike[str],
    study: str | os.PathLike[str],
    ledger_out: str | os.PathLike[str],
    clusters: str | os.PathLike[str] | None = None,
) -> list[dict[str, Any]]:
    """Rule ``assemble_ledger``: read the four stage fragments, assemble, check and write ledger.tsv.

    cluster_id comes from ``clusters`` (clusters.tsv) when given, else from the fragments' own
    cluster_id cells (the dedup fragment fills it for every record).
    """
    fragments = [_read_fragment(p) for p in (identification, dedup, screening, study)]
    if clusters:
        cluster_map = {r["record_id"]: r["cluster_id"] for r in read_tsv(clusters, required=("record_id", "cluster_id"))}
    else:
        cluster_map = clusters_from_rows(row for frag in fragments for row in frag)
    rows = assemble_ledger(fragments, cluster_map)
    write_tsv(ledger_out, LEDGER_FIELDS, rows)
    LOG.info("ledger: %d rows for %d records", len(rows), len({r["record_id"] for r in rows}))
    return rows
