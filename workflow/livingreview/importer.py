"""Import stage: verify every archived run, parse every file, write records.tsv and the identification ledger."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

from .constants import DATABASES, LEDGER_FIELDS, OUTCOME_IDENTIFIED, RECORD_FIELDS
from .errors import ArchiveError, ReconciliationError
from .parsers import FORMATS, read_records
from .records import Record
from .runs import MANIFEST, list_runs, verify_run
from .tables import atomic_path, format_value

LOG = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class FileCount:
    """How many records one archived file gave, against what its manifest says."""

    run_id: str
    source_file: str
    database: str
    count_in_file: int
    count_reported: int | None
    parsed: int


def _display_path(path: Path) -> str:
    """A path relative to the working directory (the project root) when possible, POSIX style."""
    if path.is_absolute():
        try:
            return path.relative_to(Path.cwd()).as_posix()
        except ValueError:
            return path.as_posix()
    return path.as_posix()


def collect_records(runs_root: str | os.PathLike[str]) -> tuple[list[Record], list[FileCount]]:
    """Verify and parse every run under ``runs_root``; return records sorted by record_id and per-file counts.

    Raises ArchiveError (edited or missing file, unknown database or format in a manifest),
    InputFormatError (a file does not parse), ReconciliationError (records in a file differ from the
    manifest's count_in_file, or one record_id occurs twice).
    """
    root = Path(runs_root)
    records: list[Record] = []
    counts: list[FileCount] = []
    seen: dict[str, Record] = {}
    for run_dir in list_runs(root):
        manifest = verify_run(run_dir)
        manifest_path = _display_path(run_dir / MANIFEST)
        if manifest.run_id != run_dir.name:
            raise ArchiveError(
                f"manifest run_id {manifest.run_id!r} differs from the folder name {run_dir.name!r}",
                where=manifest_path,
                fix="restore the run folder from git; run folders are named by their run_id",
            )
        listed = {f.name for f in manifest.files} | {MANIFEST}
        unlisted = sorted(p.name for p in run_dir.iterdir() if p.name not in listed)
        if unlisted:
            raise ArchiveError(
                f"file(s) {', '.join(unlisted)} in the run folder are not listed in manifest.json (they would be ignored)",
                where=manifest_path,
                fix="runs are written whole by `livingreview add-run` or `livingreview search`; archive the extra export as a new run and remove it from this folder",
            )
        for f in sorted(manifest.files, key=lambda x: x.name):
            if f.database not in DATABASES:
                raise ArchiveError(
                    f"unknown database {f.database!r} for file {f.name}",
                    where=manifest_path,
                    fix=f"the database must be one of {', '.join(DATABASES)}; archive the export again with `livingreview add-run`",
                )
            if f.format not in FORMATS:
                raise ArchiveError(
                    f"unknown format {f.format!r} for file {f.name}",
                    where=manifest_path,
                    fix=f"the format must be one of {', '.join(FORMATS)}",
                )
            source_file = _display_path(run_dir / f.name)
            n = 0
            for rec in read_records(run_dir / f.name, fmt=f.format, database=f.database, run_id=manifest.run_id, source_file=source_file):
                n += 1
                other = seen.get(rec.record_id)
                if other is not None:
                    raise ReconciliationError(
                        f"record_id {rec.record_id} occurs twice: also at {other.source_file}:{other.source_line}",
                        where=f"{rec.source_file}:{rec.source_line}",
                        fix="each record may be archived once; an update run must hold only records not already archived (or give the export distinct ids)",
                    )
                seen[rec.record_id] = rec
                records.append(rec)
            if n != f.count_in_file:
                raise ReconciliationError(
                    f"{n} records parsed but manifest.json says count_in_file = {f.count_in_file}",
                    where=source_file,
                    fix="the file or its manifest entry is wrong; restore both from git or archive the export again with `livingreview add-run`",
                )
            if f.count_reported is not None and f.count_reported != n:
                LOG.warning("%s: %d records in the file, the database reported %d (see the manifest notes)", source_file, n, f.count_reported)
            counts.append(FileCount(manifest.run_id, source_file, f.database, f.count_in_file, f.count_reported, n))
            LOG.info("%s: %d records (%s, %s)", source_file, n, f.database, f.format)
    records.sort(key=lambda r: r.record_id)
    return records, counts


def identification_rows(records: list[Record]) -> list[dict[str, str]]:
    """One identification ledger row per record: reason = database, reference = file:line, evidence = run_id."""
    return [
        {
            "record_id": r.record_id,
            "cluster_id": "",
            "stage": "identification",
            "outcome": OUTCOME_IDENTIFIED,
            "reason": r.database,
            "reference": f"{r.source_file}:{r.source_line}",
            "evidence": r.run_id,
        }
        for r in records
    ]


def _write_rows(tmp: Path, fields: tuple[str, ...], rows: list[dict[str, object]]) -> None:
    """Write a TSV (header + rows) to ``tmp`` in the format of tables.write_tsv."""
    with open(tmp, "w", encoding="utf-8", newline="") as fh:
        fh.write("\t".join(fields) + "\n")
        for row in rows:
            fh.write("\t".join(format_value(row.get(name)) for name in fields) + "\n")


def run_import(
    *, runs_root: str | os.PathLike[str], records_out: str | os.PathLike[str], ledger_out: str | os.PathLike[str]
) -> list[FileCount]:
    """Import every archived run: write records.tsv (sorted by record_id) and the identification ledger fragment.

    Both files are written only after every file has been verified, parsed and reconciled, and each
    is replaced atomically, so an error leaves the previous outputs untouched. Returns per-file counts.
    """
    records, counts = collect_records(runs_root)
    total = sum(c.count_in_file for c in counts)
    if len(records) != total:
        raise ReconciliationError(
            f"{len(records)} records imported but the manifests count {total}",
            where=str(runs_root),
            fix="report this as a bug",
        )
    if not records and not counts:
        LOG.warning("no archived runs under %s", runs_root)
    record_rows = [r.to_row() for r in records]
    ledger_rows = identification_rows(records)
    with atomic_path(records_out) as tmp_records, atomic_path(ledger_out) as tmp_ledger:
        _write_rows(tmp_records, RECORD_FIELDS, record_rows)
        _write_rows(tmp_ledger, LEDGER_FIELDS, ledger_rows)
    LOG.info("imported %d records from %d files", len(records), len(counts))
    return counts


__all__ = ["FileCount", "collect_records", "identification_rows", "run_import"]
