"""Import stage: verify every archived run, parse every file, write records.tsv and the identification ledger."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .constants import DATABASES, LEDGER_FIELDS, OUTCOME_IDENTIFIED, RECORD_FIELDS
from .errors import ArchiveError, ReconciliationError
from .parsers import FORMATS, read_records
from .records import Record
from .runs import MANIFEST, Manifest, RunFile, check_run_folder_name, list_runs, load_manifest, verify_file, verify_run
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
    parsed: int  # records parsed from the file (every one, as count_in_file counts them)
    already_archived: int = 0  # of them, records an earlier run archived (left out of this run)

    @property
    def kept(self) -> int:
        """Records of the file the import gives (parsed less those already archived)."""
        return self.parsed - self.already_archived


def _display_path(path: Path) -> str:
    """A path relative to the working directory (the project root) when possible, POSIX style."""
    if path.is_absolute():
        try:
            return path.relative_to(Path.cwd()).as_posix()
        except ValueError:
            return path.as_posix()
    return path.as_posix()


def check_run_folder(run_dir: Path, manifest: Manifest) -> None:
    """Check a run folder against its manifest: run_id = folder name, no unlisted file, known databases and formats.

    Raises ArchiveError naming the manifest.
    """
    manifest_path = _display_path(run_dir / MANIFEST)
    if manifest.run_id != run_dir.name:
        raise ArchiveError(
            f"manifest run_id {manifest.run_id!r} differs from the folder name {run_dir.name!r}",
            where=manifest_path,
            fix="restore the run folder from git; run folders are named by their run_id",
        )
    check_run_folder_name(manifest.run_id, manifest_path)
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


def parse_run_file(run_dir: Path, manifest: Manifest, entry: RunFile) -> tuple[list[Record], FileCount]:
    """Parse one archived file of a verified run; check its count against count_in_file.

    Records come back in file order, without those the manifest lists as already archived by an
    earlier run (``already_archived``): records in the file = count_in_file = kept + listed.
    Raises InputFormatError (the file does not parse), ReconciliationError (a record_id twice in the
    file, or a count differing from the manifest) or ArchiveError (a listed record not in the file).
    """
    source_file = _display_path(run_dir / entry.name)
    records: list[Record] = []
    seen: dict[str, Record] = {}
    for rec in read_records(run_dir / entry.name, fmt=entry.format, database=entry.database, run_id=manifest.run_id, source_file=source_file):
        other = seen.get(rec.record_id)
        if other is not None:
            raise _duplicate_error(rec.record_id, f"{other.source_file}:{other.source_line}", f"{rec.source_file}:{rec.source_line}")
        seen[rec.record_id] = rec
        records.append(rec)
    n = len(records)
    if n != entry.count_in_file:
        raise ReconciliationError(
            f"{n} records parsed but manifest.json says count_in_file = {entry.count_in_file}",
            where=source_file,
            fix="the file or its manifest entry is wrong; restore both from git or archive the export again with `livingreview add-run`",
        )
    if entry.count_reported is not None and entry.count_reported != n:
        LOG.warning("%s: %d records in the file, the database reported %d (see the manifest notes)", source_file, n, entry.count_reported)
    listed = entry.already_archived
    if listed:
        absent = sorted(rid for rid in listed if rid not in seen)
        if absent:
            raise ArchiveError(
                f"{entry.name}: already_archived lists {len(absent)} record{'s' if len(absent) != 1 else ''} the file does not hold ({', '.join(absent[:3])}{', ...' if len(absent) > 3 else ''})",
                where=_display_path(run_dir / MANIFEST),
                fix=_LEFT_OUT_FIX,
            )
        records = [rec for rec in records if rec.record_id not in listed]
        LOG.info("%s: %d of %d records are already archived (by an earlier run) and left out", source_file, len(listed), n)
    LOG.info("%s: %d records (%s, %s)", source_file, len(records), entry.database, entry.format)
    return records, FileCount(manifest.run_id, source_file, entry.database, entry.count_in_file, entry.count_reported, n, len(listed))


_LEFT_OUT_FIX = (
    "restore manifest.json from git (archived runs are never edited); if the run is wrong, delete the "
    "whole run folder and archive the export again with `livingreview add-run`, which lists the records earlier runs archived"
)


def check_left_out(run_dir: Path, entry: RunFile, archived_by: Callable[[str], str | None]) -> None:
    """Check that each record the file entry lists as archived by an earlier run (``already_archived``:
    in the file, left out by the import; ``found_again``: found by the search, not written to the
    file) is archived by the run it names.

    ``archived_by`` gives the run that archived a record id among the files imported before this one
    (None when none did). ArchiveError naming the manifest otherwise.
    """
    for key, listed in (("already_archived", entry.already_archived), ("found_again", entry.found_again)):
        for record_id, run in sorted(listed.items()):
            actual = archived_by(record_id)
            if actual != run:
                held = f"run {actual} archives it" if actual else "no earlier run archives it"
                raise ArchiveError(
                    f"{entry.name}: {key} says record {record_id} is archived by run {run}, but {held}",
                    where=_display_path(run_dir / MANIFEST),
                    fix=_LEFT_OUT_FIX,
                )


def _duplicate_error(record_id: str, first: str, second: str) -> ReconciliationError:
    """The error for a record_id archived twice (``first`` and ``second`` are file:line)."""
    return ReconciliationError(
        f"record_id {record_id} occurs twice: also at {first}",
        where=second,
        fix=(
            "each record may be archived once: delete the later run folder and archive its export again with "
            "`livingreview add-run`, which lists the records earlier runs archived so the import leaves them out"
        ),
    )


def collect_records(runs_root: str | os.PathLike[str]) -> tuple[list[Record], list[FileCount]]:
    """Verify and parse every run under ``runs_root``; return records sorted by record_id and per-file counts.

    Records a manifest lists as already archived are left out (parse_run_file) after checking that
    the earlier run named archives each (check_left_out).
    Raises ArchiveError (edited or missing file, unknown database or format in a manifest, a record
    listed as already archived that is not in the file or not archived by the run named),
    InputFormatError (a file does not parse), ReconciliationError (records in a file differ from the
    manifest's count_in_file, or one record_id occurs twice).
    """
    root = Path(runs_root)
    records: list[Record] = []
    counts: list[FileCount] = []
    seen: dict[str, Record] = {}
    for run_dir in list_runs(root):
        manifest = verify_run(run_dir)
        check_run_folder(run_dir, manifest)
        for f in sorted(manifest.files, key=lambda x: x.name):
            file_records, count = parse_run_file(run_dir, manifest, f)
            check_left_out(run_dir, f, lambda rid: hit.run_id if (hit := seen.get(rid)) is not None else None)
            for rec in file_records:
                other = seen.get(rec.record_id)
                if other is not None:
                    raise _duplicate_error(rec.record_id, f"{other.source_file}:{other.source_line}", f"{rec.source_file}:{rec.source_line}")
                seen[rec.record_id] = rec
            records.extend(file_records)
            counts.append(count)
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
    total = sum(c.count_in_file - c.already_archived for c in counts)
    if len(records) != total:
        raise ReconciliationError(
            f"{len(records)} records imported but the manifests count {total} (count_in_file less those already archived)",
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


# --- per-file import and merge (one Snakemake job per archived file, then one merge job) -----------

PART_SUFFIX = ".tsv"


def part_path(parts_dir: str | os.PathLike[str], run_id: str, file_name: str) -> Path:
    """Where the per-file table of ``file_name`` of run ``run_id`` lives under ``parts_dir``."""
    return Path(parts_dir) / run_id / f"{file_name}{PART_SUFFIX}"




def import_file(
    *,
    run_dir: str | os.PathLike[str],
    file_name: str,
    records_out: str | os.PathLike[str],
    ledger_out: str | os.PathLike[str],
) -> FileCount:
    """Import one archived file: check its run folder and sha256, parse it, write its part tables.

    ``records_out`` gets the file's records (RECORD_FIELDS, sorted by record_id) and ``ledger_out``
    their identification ledger rows, both atomically; ``merge_parts`` joins the parts of every file.
    """
    run_path = Path(run_dir)
    manifest = load_manifest(run_path)
    check_run_folder(run_path, manifest)
    entry = next((f for f in manifest.files if f.name == file_name), None)
    if entry is None:
        raise ArchiveError(
            f"file {file_name} is not listed in manifest.json",
            where=_display_path(run_path / MANIFEST),
            fix="import only files the manifest lists (re-run snakemake so the job list is read again)",
        )
    verify_file(run_path, entry)
    records, count = parse_run_file(run_path, manifest, entry)
    records.sort(key=lambda r: r.record_id)
    with atomic_path(records_out) as tmp_records, atomic_path(ledger_out) as tmp_ledger:
        _write_rows(tmp_records, RECORD_FIELDS, [r.to_row() for r in records])
        _write_rows(tmp_ledger, LEDGER_FIELDS, identification_rows(records))
    return count


def _read_part(path: Path, fields: tuple[str, ...]) -> list[str]:
    """Data lines of a part table (header checked), each ending in a newline."""
    if not path.exists():
        raise ReconciliationError(
            "the per-file import table is missing",
            where=str(path),
            fix="run the import_file job for this file (snakemake builds it) before merging",
        )
    with open(path, encoding="utf-8", newline="") as fh:
        header = fh.readline()
        if header.rstrip("\n").split("\t") != list(fields):
            raise ReconciliationError(
                "the per-file import table has an unexpected header",
                where=f"{path}:1",
                fix="delete the file and re-run the import (it was written by another version)",
            )
        return fh.readlines()


def merge_parts(
    *,
    runs_root: str | os.PathLike[str],
    parts_dir: str | os.PathLike[str],
    ledger_parts_dir: str | os.PathLike[str],
    records_out: str | os.PathLike[str],
    ledger_out: str | os.PathLike[str],
) -> list[FileCount]:
    """Join the per-file parts of every archived run into records.tsv and the identification ledger.

    Every run is verified again (sha256 of each file, folder checks); each part must hold the
    manifest's count_in_file records less those it lists as already archived (each checked against
    the earlier run it names, check_left_out); a record_id in two files is a ReconciliationError naming
    both file:line. The outputs are byte-identical to ``run_import`` on the same runs and are
    written atomically. Returns per-file counts.
    """
    record_lines: list[tuple[str, str]] = []
    ledger_lines: list[tuple[str, str]] = []
    counts: list[FileCount] = []
    seen: dict[str, str] = {}  # record_id -> the line (for the file:line of a duplicate)
    i_file, i_line, i_run = RECORD_FIELDS.index("source_file"), RECORD_FIELDS.index("source_line"), RECORD_FIELDS.index("run_id")

    def where(line: str) -> str:
        cells = line.rstrip("\n").split("\t")
        return f"{cells[i_file]}:{cells[i_line]}"

    for run_dir in list_runs(runs_root):
        manifest = verify_run(run_dir)
        check_run_folder(run_dir, manifest)
        for f in sorted(manifest.files, key=lambda x: x.name):
            part = part_path(parts_dir, manifest.run_id, f.name)
            lines = _read_part(part, RECORD_FIELDS)
            ledger = _read_part(part_path(ledger_parts_dir, manifest.run_id, f.name), LEDGER_FIELDS)
            if len(lines) != f.records_kept or len(ledger) != len(lines):
                listed = f" less {len(f.already_archived)} already archived" if f.already_archived else ""
                raise ReconciliationError(
                    f"{len(lines)} records ({len(ledger)} ledger rows) in the per-file table but manifest.json says count_in_file = {f.count_in_file}{listed}",
                    where=str(part),
                    fix="the per-file table is stale: delete results/records/parts/ and re-run snakemake",
                )
            check_left_out(run_dir, f, lambda rid: hit.rstrip("\n").split("\t")[i_run] if (hit := seen.get(rid)) is not None else None)
            for line in lines:
                rid = line[: line.index("\t")]
                other = seen.get(rid)
                if other is not None:
                    raise _duplicate_error(rid, where(other), where(line))
                seen[rid] = line
                record_lines.append((rid, line))
            ledger_lines.extend((line[: line.index("\t")], line) for line in ledger)
            source_file = _display_path(run_dir / f.name)
            counts.append(FileCount(manifest.run_id, source_file, f.database, f.count_in_file, f.count_reported, len(lines) + len(f.already_archived), len(f.already_archived)))
    if set(seen) != {rid for rid, _ in ledger_lines}:
        raise ReconciliationError("the per-file ledger tables do not name the same records as the record tables", where=str(ledger_parts_dir), fix="delete the parts and re-run snakemake")
    if not counts:
        LOG.warning("no archived runs under %s", runs_root)
    record_lines.sort(key=lambda x: x[0])
    ledger_lines.sort(key=lambda x: x[0])
    with atomic_path(records_out) as tmp_records, atomic_path(ledger_out) as tmp_ledger:
        for tmp, fields, rows in ((tmp_records, RECORD_FIELDS, record_lines), (tmp_ledger, LEDGER_FIELDS, ledger_lines)):
            with open(tmp, "w", encoding="utf-8", newline="") as fh:
                fh.write("\t".join(fields) + "\n")
                fh.writelines(line for _rid, line in rows)
    LOG.info("merged %d records from %d files", len(record_lines), len(counts))
    return counts


__all__ = [
    "FileCount",
    "check_left_out",
    "check_run_folder",
    "collect_records",
    "identification_rows",
    "import_file",
    "merge_parts",
    "parse_run_file",
    "part_path",
    "run_import",
]
