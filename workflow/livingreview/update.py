"""Living updates: what each search run added (new clusters, their screening state, the to-do list)."""

from __future__ import annotations

import logging
import os
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .constants import (
    LIST_SEP,
    OUTCOME_AWAITING,
    OUTCOME_INCLUDED,
    STAGE_ORDER,
)
from .decisions import decision_dates
from .errors import ReconciliationError
from .gcpause import collector_paused
from .runs import run_sort_key, version_of_decision
from .tables import read_tsv, read_tsv_columns, write_json, write_tsv

LOG = logging.getLogger(__name__)

NEW_RECORD_FIELDS: tuple[str, ...] = (
    "cluster_id",
    "record_id",
    "databases",
    "n_records",
    "title",
    "year",
    "last_stage",
    "decision",
    "source",
    "reason",
    "reference",
)
WORKLIST_FIELDS: tuple[str, ...] = ("cluster_id", "record_id", "stage", "decision_needed", "title", "databases")
# Columns whats_new reads from each input table.
RECORDS_REQUIRED: tuple[str, ...] = ("record_id", "run_id", "database", "title", "year")
CLUSTERS_REQUIRED: tuple[str, ...] = ("record_id", "cluster_id", "canonical_id")
SCREENING_REQUIRED: tuple[str, ...] = ("cluster_id", "stage", "decision")
STUDIES_REQUIRED: tuple[str, ...] = ("study_id", "record_ids")


@dataclass(frozen=True)
class RunSummary:
    """What one run added to the review."""

    run_id: str
    records_retrieved: int
    duplicates_of_earlier_runs: int
    duplicates_within_run: int
    new_clusters: int
    awaiting_decision: int
    new_included_studies: tuple[str, ...]
    included_studies_total: int

    def to_json(self) -> dict[str, Any]:
        """Deterministic JSON form."""
        return {
            "run_id": self.run_id,
            "records_retrieved": self.records_retrieved,
            "duplicates_of_earlier_runs": self.duplicates_of_earlier_runs,
            "duplicates_within_run": self.duplicates_within_run,
            "new_clusters": self.new_clusters,
            "awaiting_decision": self.awaiting_decision,
            "new_included_studies": list(self.new_included_studies),
            "included_studies_total": self.included_studies_total,
        }


def first_run_of_clusters(
    record_runs: Mapping[str, str], record_cluster: Mapping[str, str]
) -> dict[str, str]:
    """The earliest run in which each cluster has a member (runs.run_sort_key order)."""
    key = {run: run_sort_key(run) for run in set(record_runs.values())}  # a few runs, many records
    first: dict[str, str] = {}
    for record_id, cluster_id in record_cluster.items():
        run = record_runs[record_id]
        if cluster_id not in first or key[run] < key[first[cluster_id]]:
            first[cluster_id] = run
    return first


def whats_new(
    run_id: str,
    *,
    records: Sequence[Mapping[str, str]],
    clusters: Sequence[Mapping[str, str]],
    screening: Sequence[Mapping[str, str]],
    studies: Sequence[Mapping[str, str]],
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], RunSummary]:
    """New clusters of ``run_id`` with their screening state, the human to-do list, and a summary.

    A cluster is new in the run where its earliest member was retrieved; records of a run that
    join a cluster first seen earlier are not new and are not screened again.
    """
    return whats_new_runs([run_id], records=records, clusters=clusters, screening=screening, studies=studies)[run_id]


def whats_new_runs(
    run_ids: Sequence[str],
    *,
    records: Sequence[Mapping[str, str]],
    clusters: Sequence[Mapping[str, str]],
    screening: Sequence[Mapping[str, str]],
    studies: Sequence[Mapping[str, str]],
    decision_dates: Mapping[str, str] | None = None,
) -> dict[str, tuple[list[dict[str, Any]], list[dict[str, Any]], RunSummary]]:
    """``whats_new`` for each of ``run_ids``, reading the whole-review tables once.

    A study is new in the review version that first includes one of its reports: the run that
    found the report or, with ``decision_dates`` (date of each decisions.tsv reference), the later
    run whose version the report's full-text inclusion is dated in (runs.version_of_decision), as
    the PRISMA update column counts it. Without dates, the run that found the report.
    """
    record_runs = {r["record_id"]: r["run_id"] for r in records}
    by_id = {r["record_id"]: r for r in records}
    record_cluster = {c["record_id"]: c["cluster_id"] for c in clusters}
    missing = sorted(set(record_runs) - set(record_cluster))
    if missing:
        raise ReconciliationError(
            f"{len(missing)} record(s) of records.tsv have no cluster, first {missing[0]}",
            where="results/dedup/clusters.tsv",
            fix="re-run the dedup stage (snakemake --forcerun deduplicate_records)",
        )
    unknown = sorted(set(record_cluster) - set(record_runs))
    if unknown:
        raise ReconciliationError(
            f"{len(unknown)} record(s) of clusters.tsv are not in records.tsv, first {unknown[0]}",
            where="results/dedup/clusters.tsv",
            fix="re-run the dedup stage on the current records.tsv (snakemake --forcerun deduplicate_records)",
        )
    canonical = {c["cluster_id"]: c["canonical_id"] for c in clusters}
    first = first_run_of_clusters(record_runs, record_cluster)
    present = set(record_runs.values())
    run_key = {run: run_sort_key(run) for run in present}  # a few runs, many records: sort keys once
    for run_id in run_ids:
        if run_id not in present:
            raise ReconciliationError(
                f"run {run_id} has no records in records.tsv",
                where="results/records/records.tsv",
                fix="check that resources/searches/<run_id>/ exists and re-run the import",
            )

    last_row: dict[str, Mapping[str, str]] = {}
    awaiting: dict[str, list[Mapping[str, str]]] = defaultdict(list)
    for row in screening:
        cid = row["cluster_id"]
        if cid not in last_row or STAGE_ORDER[row["stage"]] >= STAGE_ORDER[last_row[cid]["stage"]]:
            last_row[cid] = row
        if row["decision"] == OUTCOME_AWAITING:
            awaiting[cid].append(row)
    new_of_run: dict[str, list[str]] = defaultdict(list)
    for cid, run in first.items():
        new_of_run[run].append(cid)
    records_of_run: dict[str, list[tuple[str, str]]] = defaultdict(list)  # (record_id, database) of each run's records
    for rid, rec in by_id.items():
        records_of_run[rec["run_id"]].append((rid, rec["database"]))
    included_on = {
        row["cluster_id"]: decision_dates[row["reference"]]
        for row in screening
        if decision_dates is not None and row["stage"] == "full_text" and row["decision"] == OUTCOME_INCLUDED and row.get("reference") in decision_dates
    }
    all_runs = sorted(present, key=run_sort_key)

    def version_of(cluster_id: str) -> str:
        found = first[cluster_id]
        if cluster_id not in included_on:
            return found
        return max(found, version_of_decision(all_runs, included_on[cluster_id]), key=run_sort_key)

    study_first: dict[str, str] = {}
    for s in studies:
        runs = [version_of(record_cluster[r]) for r in s.get("record_ids", "").split(LIST_SEP) if r in record_cluster]
        if runs:
            study_first[s["study_id"]] = min(runs, key=run_sort_key)

    out: dict[str, tuple[list[dict[str, Any]], list[dict[str, Any]], RunSummary]] = {}
    for run_id in run_ids:
        this_run = run_key[run_id]
        in_run = records_of_run[run_id]
        # One pass over the run's records. Per cluster: how many of its records this run retrieved
        # and the first of them (by record id); for a cluster new in this run, the databases of
        # those records (it has no member in an earlier run, so its members up to this run are
        # its members in this run); and the records whose cluster an earlier run found.
        n_in_run: dict[str, int] = defaultdict(int)
        first_in_run: dict[str, str] = {}
        databases: dict[str, set[str]] = defaultdict(set)
        dup_earlier = 0
        for r, database in in_run:
            cid = record_cluster[r]
            n_in_run[cid] += 1
            if cid not in first_in_run or r < first_in_run[cid]:
                first_in_run[cid] = r
            if first[cid] == run_id:
                databases[cid].add(database)
            else:  # a record is in no run before its cluster's first: the cluster is an earlier run's
                dup_earlier += 1
        new_ids = sorted(new_of_run.get(run_id, []))
        new_rows: list[dict[str, Any]] = []
        todo_rows: list[dict[str, Any]] = []
        for cid in new_ids:
            rid = canonical[cid]
            rec = by_id.get(rid, {})
            dbs = LIST_SEP.join(sorted(databases[cid]))
            state = last_row.get(cid, {})
            new_rows.append(
                {
                    "cluster_id": cid,
                    "record_id": rid,
                    "databases": dbs,
                    "n_records": n_in_run[cid],
                    "title": rec.get("title", ""),
                    "year": rec.get("year", ""),
                    "last_stage": state.get("stage", ""),
                    "decision": state.get("decision", ""),
                    "source": state.get("source", ""),
                    "reason": state.get("reason", ""),
                    "reference": state.get("reference", ""),
                }
            )
            for row in awaiting.get(cid, []):
                todo_rows.append(
                    {
                        "cluster_id": cid,
                        "record_id": rid,
                        "stage": row["stage"],
                        "decision_needed": f"{row['stage']} decision (include/exclude with a reason code) in resources/screening/decisions.tsv",
                        "title": rec.get("title", ""),
                        "databases": dbs,
                    }
                )

        dup_within = sum(n_in_run[cid] - 1 for cid in new_ids)  # a new cluster's records of this run but its first
        new_studies = tuple(sorted(sid for sid, run in study_first.items() if run == run_id))
        total = sum(1 for run in study_first.values() if run_key[run] <= this_run)
        summary = RunSummary(
            run_id=run_id,
            records_retrieved=len(in_run),
            duplicates_of_earlier_runs=dup_earlier,
            duplicates_within_run=dup_within,
            new_clusters=len(new_ids),
            awaiting_decision=len(todo_rows),
            new_included_studies=new_studies,
            included_studies_total=total,
        )
        if summary.records_retrieved != summary.duplicates_of_earlier_runs + summary.duplicates_within_run + summary.new_clusters:
            raise ReconciliationError(
                f"run {run_id}: {summary.records_retrieved} records retrieved but {dup_earlier} duplicates of earlier runs "
                f"+ {dup_within} duplicates within the run + {len(new_ids)} new clusters",
                where="results/dedup/clusters.tsv",
                fix="re-run the dedup stage so every record of the run is in exactly one cluster",
            )
        todo_rows.sort(key=lambda r: (r["stage"], r["cluster_id"]))
        out[run_id] = (new_rows, todo_rows, summary)
    return out


def _read_columns(path: str | os.PathLike[str], columns: Sequence[str]) -> list[dict[str, str]]:
    """read_tsv(path, required=columns), each row keeping only ``columns`` (records.tsv has two dozen
    columns; whats_new reads five of them)."""
    return [dict(zip(columns, cells)) for cells in read_tsv_columns(path, columns)]  # zip drops the line number


@collector_paused()
def run_whats_new(
    *,
    run_ids: Sequence[str],
    records: str | os.PathLike[str],
    clusters: str | os.PathLike[str],
    screening: str | os.PathLike[str],
    studies: str | os.PathLike[str],
    new_out: Sequence[str | os.PathLike[str]],
    todo_out: Sequence[str | os.PathLike[str]],
    summary_out: Sequence[str | os.PathLike[str]],
    decisions: str | os.PathLike[str] | None = None,
    rules: str | os.PathLike[str] | None = None,
) -> list[RunSummary]:
    """Snakemake step: write new_records.tsv, todo.tsv and summary.json of every run (one job, so
    the whole-review tables are read once however many runs there are). Output paths are given in
    ``run_ids`` order; nothing is written unless every run reconciles. ``decisions`` (with the
    screening ``rules`` for its reason codes) dates each inclusion, so a study is new in the version
    that included it (whats_new_runs)."""
    if not (len(run_ids) == len(new_out) == len(todo_out) == len(summary_out)):
        raise ReconciliationError(
            f"{len(run_ids)} runs but {len(new_out)}/{len(todo_out)}/{len(summary_out)} output paths",
            where="rule whats_new",
            fix="give one new_records.tsv, todo.tsv and summary.json path per run, in run order",
        )
    results = whats_new_runs(
        run_ids,
        records=_read_columns(records, RECORDS_REQUIRED),
        clusters=read_tsv(clusters, required=CLUSTERS_REQUIRED),
        screening=read_tsv(screening, required=SCREENING_REQUIRED),
        studies=read_tsv(studies, required=STUDIES_REQUIRED),
        decision_dates=decision_dates(decisions, rules) if decisions is not None and rules is not None else None,
    )
    summaries = []
    for run_id, new_path, todo_path, summary_path in zip(run_ids, new_out, todo_out, summary_out):
        new_rows, todo_rows, summary = results[run_id]
        write_tsv(new_path, NEW_RECORD_FIELDS, new_rows)
        write_tsv(todo_path, WORKLIST_FIELDS, todo_rows)
        write_json(summary_path, summary.to_json())
        LOG.info(
            "run %s: %d records, %d new clusters, %d awaiting a decision, new included studies: %s",
            run_id,
            summary.records_retrieved,
            summary.new_clusters,
            summary.awaiting_decision,
            ", ".join(summary.new_included_studies) or "none",
        )
        summaries.append(summary)
    return summaries
