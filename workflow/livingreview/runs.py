"""Archived search runs: one immutable folder per run with a manifest.json and its files."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
import re
import shutil
import tempfile
from collections import Counter
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import ArchiveError

try:  # POSIX: archiving and cleaning take an exclusive lock on the runs folder
    import fcntl
except ImportError:  # pragma: no cover - Windows has no flock; runs are then written unlocked
    fcntl = None  # type: ignore[assignment]
from .tables import read_json, umask_mode

LOG = logging.getLogger(__name__)

MANIFEST = "manifest.json"
# A run id: the search date, and -2, -3, ... for later runs of the same day (next_run_id).
# ASCII digits, the whole text (re's \d takes any script's digits and $ a text ending in a newline).
_RUN_ID_RE = re.compile(r"([0-9]{4}-[0-9]{2}-[0-9]{2})(?:-([0-9]+))?")


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Hex sha256 of a file, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


@dataclass
class RunFile:
    """One file of a run and what the database said about it."""

    name: str  # file name inside the run folder
    database: str  # pubmed, embase, psycinfo, clinicaltrials, ...
    platform: str  # "PubMed (NCBI E-utilities)", "Ovid", "ClinicalTrials.gov", ...
    format: str  # pubmed_xml | medline | ris | csv | ctgov_csv
    query: str  # the exact query as run
    date_limits: dict[str, str]  # {"from": "inception", "to": "2025/09/30"}
    count_reported: int | None  # what the database said it found
    count_in_file: int  # records in the file, every one (those already archived too): it verifies the file
    query_translation: str = ""
    encoding: str = "utf-8"
    sha256: str = ""
    notes: str = ""
    # record_id -> the earlier run that archived it, for the records of this file that an earlier run
    # holds already (an export made elsewhere, archived byte for byte by add-run): the import leaves
    # them out of this run. Written only when not empty, so manifests without it read as before.
    already_archived: dict[str, str] = field(default_factory=dict)
    # record_id -> the earlier run that archived it, for the records the search found that an earlier
    # run holds already and that were therefore not written to this file (`search pubmed` leaves them
    # out); count_in_file does not count them. Written only when not empty. `trace` shows them.
    found_again: dict[str, str] = field(default_factory=dict)

    @property
    def records_kept(self) -> int:
        """Records this file adds to the review: count_in_file less those already archived."""
        return self.count_in_file - len(self.already_archived)

    def to_json(self) -> dict[str, Any]:
        """Manifest entry for this file (already_archived and found_again sorted by record id, each only when not empty)."""
        data: dict[str, Any] = {
            "name": self.name,
            "database": self.database,
            "platform": self.platform,
            "format": self.format,
            "query": self.query,
            "query_translation": self.query_translation,
            "date_limits": dict(self.date_limits),
            "count_reported": self.count_reported,
            "count_in_file": self.count_in_file,
            "encoding": self.encoding,
            "sha256": self.sha256,
            "notes": self.notes,
        }
        if self.already_archived:
            data["already_archived"] = dict(sorted(self.already_archived.items()))
        if self.found_again:
            data["found_again"] = dict(sorted(self.found_again.items()))
        return data


def archived_by_runs(already_archived: Mapping[str, str]) -> str:
    """'2025-09-30 (2), 2025-10-31 (1)': how many of ``already_archived`` each earlier run archived, in run order."""
    per_run = Counter(already_archived.values())
    return ", ".join(f"{run} ({n})" for run, n in sorted(per_run.items(), key=lambda item: run_sort_key(item[0])))


def already_archived_note(already_archived: Mapping[str, str], count_in_file: int) -> str:
    """The manifest note for a file holding records earlier runs archived, as `search pubmed` words it:
    "3 of 12 records in this file are already archived and left out: 2025-09-30 (2), 2025-10-31 (1)"."""
    return f"{len(already_archived)} of {count_in_file} records in this file are already archived and left out: {archived_by_runs(already_archived)}"


@dataclass
class Manifest:
    """manifest.json of one run."""

    run_id: str
    date_run: str  # YYYY-MM-DD (the search log: the one place a date is allowed)
    files: list[RunFile]
    tool_versions: dict[str, str] = field(default_factory=dict)
    description: str = ""

    def to_json(self) -> dict[str, Any]:
        """Serialisable form, files in name order."""
        return {
            "run_id": self.run_id,
            "date_run": self.date_run,
            "description": self.description,
            "tool_versions": dict(sorted(self.tool_versions.items())),
            "files": [f.to_json() for f in sorted(self.files, key=lambda f: f.name)],
        }


# What each manifest field must hold: (JSON type(s), words for messages, required).
_TOP_FIELDS: dict[str, tuple[str, bool]] = {
    "run_id": ("text", True),
    "date_run": ("text", True),
    "description": ("text", False),
    "tool_versions": ("mapping", False),
    "files": ("list", True),
}
_FILE_FIELDS: dict[str, tuple[str, bool]] = {
    "name": ("name", True),
    "database": ("text", True),
    "platform": ("text", True),
    "format": ("text", True),
    "query": ("text", True),
    "date_limits": ("mapping", True),
    "count_reported": ("count_or_null", True),
    "count_in_file": ("count", True),
    "query_translation": ("text", False),
    "encoding": ("text", False),
    "sha256": ("text", False),
    "notes": ("text", False),
    "already_archived": ("mapping", False),
    "found_again": ("mapping", False),
}
_MANIFEST_FIX = "restore manifest.json from git (archived runs are never edited; `livingreview add-run` writes a new run with a correct manifest)"
_KIND_WORDS = {
    "text": "a JSON string",
    "name": "a file name in the run folder (a JSON string, no '/', '\\' or control character such as a newline or tab, not manifest.json)",
    "mapping": "a JSON object of strings",
    "list": "a JSON list of file entries",
    "count": "a whole number >= 0",
    "count_or_null": "a whole number >= 0 or null",
}


def _is_kind(value: Any, kind: str) -> bool:
    if kind == "text":
        return isinstance(value, str)
    if kind == "name":
        return isinstance(value, str) and value not in ("", ".", "..", MANIFEST) and "/" not in value and "\\" not in value and not has_control(value)
    if kind == "mapping":
        return isinstance(value, dict) and all(isinstance(v, str) for v in value.values())
    if kind == "list":
        return isinstance(value, list) and all(isinstance(v, dict) for v in value)
    if kind == "count_or_null" and value is None:
        return True
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _check_fields(data: dict[str, Any], spec: dict[str, tuple[str, bool]], prefix: str, path: Path, label: str = "", fix: str = _MANIFEST_FIX) -> None:
    for key, (kind, required) in spec.items():
        if key not in data:
            if required:
                raise ArchiveError(f"manifest lacks '{prefix}{key}'{label}", where=str(path), fix=fix)
            continue
        if not _is_kind(data[key], kind):
            raise ArchiveError(f"field '{prefix}{key}'{label} must be {_KIND_WORDS[kind]}, not {json.dumps(data[key])[:60]}", where=str(path), fix=fix)


def check_manifest_data(data: Any, path: Path, fix: str = _MANIFEST_FIX) -> None:
    """Check the parsed JSON of a manifest: every field present and of its type, no file name twice
    (ArchiveError naming ``path``, the field and ``fix``)."""
    entries = data.get("files") if isinstance(data, dict) else None
    if not isinstance(entries, list) or not all(isinstance(f, dict) for f in entries):
        raise ArchiveError("manifest has no 'files' list of file entries", where=str(path), fix=fix)
    _check_fields(data, _TOP_FIELDS, "", path, fix=fix)
    seen: set[str] = set()
    for i, entry in enumerate(entries):
        name = entry.get("name")
        _check_fields(entry, _FILE_FIELDS, f"files[{i}].", path, f" ({name})" if isinstance(name, str) and name else "", fix=fix)
        if entry["name"] in seen:
            raise ArchiveError(f"file {entry['name']} is listed twice (files[{i}].name)", where=str(path), fix=fix)
        seen.add(entry["name"])
        _check_already_archived(entry, i, str(data.get("run_id", "")), path, fix)


def _check_already_archived(entry: dict[str, Any], i: int, run_id: str, path: Path, fix: str) -> None:
    """files[i].already_archived and files[i].found_again: record ids of the file's database, each
    mapped to a run id before ``run_id``; no more already_archived than count_in_file, and no more
    found_again than the database reported beyond count_in_file."""
    for key in ("already_archived", "found_again"):
        listed = entry.get(key) or {}
        label = f"'files[{i}].{key}' ({entry['name']})"
        prefix = f"{entry['database']}:"
        for record_id, run in sorted(listed.items()):
            if not record_id.startswith(prefix) or record_id == prefix:
                raise ArchiveError(f"{label} names {record_id!r}, not a record id of database {entry['database']} ({prefix}<id>)", where=str(path), fix=fix)
            if not is_run_id(run) or (is_run_id(run_id) and run_sort_key(run) >= run_sort_key(run_id)):
                raise ArchiveError(f"{label} gives {run!r} as the run that archived {record_id}: not a run id before this run {run_id}", where=str(path), fix=fix)
    n_archived = len(entry.get("already_archived") or {})
    if n_archived > entry["count_in_file"]:
        raise ArchiveError(f"'files[{i}].already_archived' ({entry['name']}) lists {n_archived} records but count_in_file is {entry['count_in_file']}", where=str(path), fix=fix)
    n_found = len(entry.get("found_again") or {})
    reported = entry["count_reported"]
    if n_found and reported is not None and n_found > reported - entry["count_in_file"]:
        raise ArchiveError(
            f"'files[{i}].found_again' ({entry['name']}) lists {n_found} records but the database reported {reported} and count_in_file is {entry['count_in_file']}",
            where=str(path),
            fix=fix,
        )
    both = sorted(set(entry.get("found_again") or {}) & set(entry.get("already_archived") or {}))
    if both:
        raise ArchiveError(f"files[{i}] ({entry['name']}) lists {both[0]} both as in the file (already_archived) and as not written to it (found_again)", where=str(path), fix=fix)


def _check_archived(data: dict[str, Any], path: Path) -> None:
    """What an archived manifest holds beyond its types: a calendar date_run and every file's sha256."""
    date_run = data["date_run"]
    try:
        ok = bool(re.fullmatch(r"\d{4}-\d{2}-\d{2}", date_run)) and dt.date.fromisoformat(date_run) is not None
    except ValueError:
        ok = False
    if not ok:
        raise ArchiveError(f"field 'date_run' must be a calendar date YYYY-MM-DD, not {json.dumps(date_run)[:40]}", where=str(path), fix=_MANIFEST_FIX)
    for i, entry in enumerate(data["files"]):
        if not entry.get("sha256"):
            raise ArchiveError(f"manifest lacks 'files[{i}].sha256' ({entry['name']})", where=str(path), fix=_MANIFEST_FIX)
        if has_wildcard_brace(entry["name"]):
            raise ArchiveError(
                f"file name {entry['name']!r} (files[{i}].name) holds '{{' or '}}', which Snakemake reads as a wildcard: "
                "the workflow cannot build the jobs that import it",
                where=str(path),
                fix="rename the export without braces and archive it again with `livingreview add-run`, after deleting this run folder (no job could read it)",
            )


_CONTROL_CHAR = re.compile("[\x00-\x1f\x7f-\x9f]")


def has_control(name: str) -> bool:
    """Whether a file name holds a control character (a newline, a tab): records.tsv, the ledger and
    the report name the archived file in one cell or line, so such a name would be written as another
    file's name (the newline folded to a space) that trace and an auditor cannot open."""
    return bool(_CONTROL_CHAR.search(name))


def has_wildcard_brace(name: str) -> bool:
    """Whether a file name holds '{' or '}': Snakemake reads them in a path as a wildcard, so a run
    file so named cannot be imported (add-run refuses the name; a manifest naming one is an error)."""
    return "{" in name or "}" in name


def load_manifest(run_dir: str | os.PathLike[str]) -> Manifest:
    """Read a run's manifest.json and check the type of every field it uses.

    Raises ArchiveError naming the manifest and the field (``files[0].count_in_file``) on a missing
    file, a JSON syntax error (with its line), a missing field, a field of the wrong type, or a
    file name listed twice.
    """
    path = Path(run_dir) / MANIFEST
    if not path.exists():
        raise ArchiveError("manifest.json is missing", where=str(path), fix="restore the run folder from git or delete it whole")
    data = read_json(path, error=ArchiveError, fix="restore the file from git")
    check_manifest_data(data, path)
    _check_archived(data, path)
    files = [RunFile(**{k: v for k, v in f.items() if k in RunFile.__dataclass_fields__}) for f in data["files"]]
    return Manifest(
        run_id=data["run_id"],
        date_run=data["date_run"],
        files=files,
        tool_versions=data.get("tool_versions", {}),
        description=data.get("description", ""),
    )


def verify_file(run_dir: str | os.PathLike[str], entry: RunFile) -> None:
    """Check that one archived file exists and has the sha256 its manifest records."""
    path = Path(run_dir) / entry.name
    if not path.exists():
        raise ArchiveError(
            f"file {entry.name} listed in manifest.json is missing",
            where=str(path),
            fix="restore it from git (archived runs are never edited); or remove the whole run folder",
        )
    digest = sha256_file(path)
    if digest != entry.sha256.strip().lower():  # hex is case-blind: a hand-written manifest may use upper case
        raise ArchiveError(
            f"sha256 {digest[:12]}... does not match the manifest's {entry.sha256[:12]}... (the archived file was edited)",
            where=str(path),
            fix="restore the file from git; to add new records, archive a new run with `livingreview add-run`",
        )


def verify_run(run_dir: str | os.PathLike[str]) -> Manifest:
    """Load a manifest and check every file exists with the recorded sha256."""
    run_dir = Path(run_dir)
    manifest = load_manifest(run_dir)
    for f in manifest.files:
        verify_file(run_dir, f)
    return manifest


RUN_ID_FORM = "YYYY-MM-DD, or YYYY-MM-DD-N with N >= 2 for a later run the same day"
LATER_RUN_FIX = (
    "archive it under a date on or after the newest run's (e.g. today's: add-run --date, search --run-id) "
    "and give the day the search ran in the notes (add-run --notes)"
)


def version_closes(previous_runs: Sequence[str], update_run: str) -> str:
    """The day the review's version of ``previous_runs`` closed when the search ``update_run`` ran
    (YYYY-MM-DD; "" when ``update_run`` is not a dated run id): decisions dated before it are that
    version's, since the team screens a run's records after its search. A second search on the day
    of a previous run (-2) closes it the next day, so that day's screening stays the earlier version's.
    """
    if not is_run_id(update_run):
        return ""
    day = update_run[:10]
    if any(r[:10] == day for r in previous_runs):
        return (dt.date.fromisoformat(day) + dt.timedelta(days=1)).isoformat()
    return day


def version_of_decision(run_ids: Sequence[str], date: str) -> str:
    """The run whose review version a decision dated ``date`` belongs to: the last run (in run order)
    whose version had opened by then (version_closes of the runs before it); the first run when none."""
    ordered = sorted(run_ids, key=run_sort_key)
    owner = ordered[0] if ordered else ""
    for i, run in enumerate(ordered[1:], start=1):
        opened = version_closes(ordered[:i], run)
        if opened and date >= opened:
            owner = run
    return owner


def is_run_id(run_id: str) -> bool:
    """True for a run id as runs are named: a calendar date YYYY-MM-DD, optionally -2, -3, ... (no -1, no leading zero).

    Run ids are folder names and sort chronologically (run_sort_key), so `--since last` and the
    update stages find the newest run; anything else (a slash, a word) is refused where a run id is given.
    """
    match = _RUN_ID_RE.fullmatch(run_id)
    if not match:
        return False
    suffix = match.group(2)
    if suffix is not None and (suffix.startswith("0") or int(suffix) < 2):
        return False
    try:
        dt.date.fromisoformat(match.group(1))
    except ValueError:
        return False
    return True


def check_run_folder_name(run_id: str, manifest_path: str) -> None:
    """Refuse a run (folder and manifest run_id) not named by a run id (is_run_id): a hand-made or
    renamed run ("latest", "2025-10-31 <b>x</b>") would sort by its text instead of its date, and its
    name goes into record ids, result paths and report.md as it stands."""
    if not is_run_id(run_id):
        raise ArchiveError(
            f"run folder {run_id!r} is not named by a run id ({RUN_ID_FORM}): runs are ordered by their id, "
            "which is also written into record ids, result paths and the report",
            where=manifest_path,
            fix="delete the folder and archive its exports again with `livingreview add-run` (it names the run by the search date), "
            "or restore the folder from git",
        )


def archived_copy(root: str | os.PathLike[str], digest: str, database: str) -> Path | None:
    """The file of ``database`` archived under root whose manifest records sha256 ``digest`` (None when there is none)."""
    for run_dir in list_runs(root):
        for entry in load_manifest(run_dir).files:
            if entry.database == database and entry.sha256.strip().lower() == digest:
                return run_dir / entry.name
    return None


def archived_record_ids(root: str | os.PathLike[str], database: str, *, run_dirs: Sequence[Path] | None = None) -> dict[str, str]:
    """Record ids the runs under root (or only ``run_dirs``) archive for ``database``, each mapped to
    the run that archived it.

    Exports with the database's own ids (PMIDs, NCT numbers, Ovid accession numbers) keep them as
    record ids, and a record id is archived by one run only: a record a later file holds again is
    listed in that file's ``already_archived`` and left out of its run, so it is not counted here.
    Exports without ids get ids of their own run and never match.
    """
    from .parsers import (
        read_records,  # imported here, as search.py does, to keep runs light
    )

    archived: dict[str, str] = {}
    for run_dir in list_runs(root) if run_dirs is None else run_dirs:
        manifest = load_manifest(run_dir)
        for entry in manifest.files:
            if entry.database != database:
                continue
            for rec in read_records(run_dir / entry.name, fmt=entry.format, database=database, run_id=manifest.run_id, source_file=str(run_dir / entry.name)):
                if rec.record_id not in entry.already_archived:
                    archived.setdefault(rec.record_id, manifest.run_id)
    return archived


def check_none_archived_since(
    root: str | os.PathLike[str], database: str, known_runs: Collection[str], record_ids: Collection[str], *, what: str
) -> None:
    """Raise ArchiveError when a run archived after ``known_runs`` were listed holds one of ``record_ids``.

    A search or add-run leaves out the records earlier runs archived, scanning the runs before it
    takes the runs lock (a search takes minutes). Called again under the lock (write_run's
    ``recheck``), this finds a run another search or add-run archived meanwhile; only runs not in
    ``known_runs`` are read (runs are immutable).
    """
    new_runs = [d for d in list_runs(root) if d.name not in known_runs]
    if not new_runs:
        return
    wanted = set(record_ids)
    clash = sorted((rid, run) for rid, run in archived_record_ids(root, database, run_dirs=new_runs).items() if rid in wanted)
    if clash:
        rid, run = clash[0]
        raise ArchiveError(
            f"{len(clash)} record(s) of {what} (first {rid}) were archived by run {run} while this one was being made",
            where=str(Path(root) / run),
            fix="nothing was written; run the command again: it leaves out what is archived now",
        )


def next_run_id(root: str | os.PathLike[str], date: str) -> str:
    """The id of a new run of ``date`` (YYYY-MM-DD): the date itself, or after the newest run of that
    day the next -2, -3, ... (never a gap left by a deleted run: that id would sort before a later run
    of the day, which check_run_comes_last refuses)."""
    root = Path(root)
    taken = [p.name for p in root.iterdir() if p.is_dir()] if root.is_dir() else []
    numbers = [1 for name in taken if name == date]
    numbers += [int(name[len(date) + 1:]) for name in taken if name.startswith(date + "-") and name[len(date) + 1:].isdigit()]
    return f"{date}-{max(numbers) + 1}" if numbers else date


def run_sort_key(run_id: str) -> tuple[str, int, str]:
    """Chronological order of run ids: by date, then the same day's -2, -3, ..., -10 numerically.

    Plain string order would put "2025-09-30-10" before "2025-09-30-2". Ids not of the form
    YYYY-MM-DD[-N] sort by their text.
    """
    match = _RUN_ID_RE.fullmatch(run_id)
    if not match:
        return (run_id, 0, "")
    return (match.group(1), int(match.group(2) or 1), run_id)


def check_run_comes_last(root: str | os.PathLike[str], run_id: str, *, fix: str) -> None:
    """Refuse to archive ``run_id`` when a run already archived under root sorts after it.

    Runs are ordered by id (run_sort_key) and deduplication is append-only in that order: a run
    slotted before runs archived already would take over their clusters (a record of the earlier-dated
    run becomes the first of a cluster a later run made), so their cluster ids, canonical records,
    screening rows and update files would change. ArchiveError naming the later run and ``fix``.
    """
    root = Path(root)
    if not root.is_dir():
        return
    key = run_sort_key(run_id)
    later = sorted(
        (p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith(".") and run_sort_key(p.name) > key),
        key=run_sort_key,
    )
    if later:
        raise ArchiveError(
            f"run {run_id} would come before run {later[-1]}, archived already (runs are ordered by their id): "
            "the clusters, screening and update files of the later runs would change",
            where=str(root / run_id),
            fix=fix,
        )


def list_runs(root: str | os.PathLike[str]) -> list[Path]:
    """Run folders under root (those with a manifest.json), oldest first (run_sort_key).

    Hidden folders (``.<run_id>.*.partial`` left by an interrupted search or add-run) are skipped. A
    visible folder without a manifest.json is a half-written or hand-made run folder: its files would
    silently be left out of the review, so it is an ArchiveError naming the folder.
    """
    root = Path(root)
    if not root.exists():
        return []
    runs = []
    for p in root.iterdir():
        if not p.is_dir() or p.name.startswith("."):
            continue
        if not (p / MANIFEST).exists():
            held = sorted(child.name for child in p.iterdir())
            raise ArchiveError(
                f"run folder {p.name} has no manifest.json ({'holds ' + ', '.join(held[:5]) if held else 'it is empty'}): "
                "a half-written or hand-made run folder, whose files the review would silently leave out",
                where=str(p),
                fix="restore the folder from git if it is an archived run, else delete it; archive exports with `livingreview add-run` (it writes the manifest)",
            )
        runs.append(p)
    return sorted(runs, key=lambda p: run_sort_key(p.name))


@contextmanager
def _runs_lock(root: Path) -> Iterator[None]:
    """Hold an exclusive lock on the runs folder (flock on the folder itself: no lock file to archive).

    write_run holds it from its temporary folder to the rename and clean_partial_runs while it
    deletes, so a search or add-run started meanwhile cannot delete a run being written.
    """
    if fcntl is None:  # pragma: no cover
        yield
        return
    fd = os.open(root, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
        except OSError as err:
            # NFS/CIFS emulate flock with byte-range locks, which refuse an exclusive lock on a file not
            # open for writing (EBADF; a folder never is) or have no lock service (ENOLCK): archive
            # unlocked, as without fcntl, rather than stop every search on a cluster's network home.
            LOG.warning("%s: cannot lock the runs folder (%s); archiving without the lock (do not start two searches or add-runs at once)",
                        root, err.strerror or err)
        yield
    finally:
        os.close(fd)


def _fsync(path: Path) -> None:
    """Flush a file's or a folder's data to disk (so a crash after the rename cannot leave empty files)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_run(
    root: str | os.PathLike[str],
    manifest: Manifest,
    files: dict[str, bytes | Path],
    *,
    recheck: Callable[[], None] | None = None,
) -> Path:
    """Write a run folder atomically: files into a temporary folder, sha256 into the manifest, then rename.

    ``files`` maps each RunFile.name to its bytes or to a path to copy. An existing run with the
    same id is never overwritten. Every file and the folder are flushed to disk before the rename
    (a crash or power cut cannot leave a renamed run with empty files), and the runs folder is
    locked from the temporary folder to the rename (see clean_partial_runs). A run whose id sorts
    before a run archived already is refused (check_run_comes_last): earlier work never changes.
    ``recheck``, when given, runs under the lock before anything is written and may raise
    (check_none_archived_since: what the caller left out as archived is still all there is).
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    final = root / manifest.run_id
    if final.exists():
        raise ArchiveError(
            f"run {manifest.run_id} already exists (runs are immutable)",
            where=str(final),
            fix="use another run id (e.g. add a suffix) or delete the folder if it was made by mistake",
        )
    # What is archived must load again: the same checks as load_manifest, before anything is written.
    check_manifest_data(
        manifest.to_json(),
        final / MANIFEST,
        fix="correct the value given to add-run or search (counts are whole numbers >= 0, file names have no '/' or '\\')",
    )
    names = {f.name for f in manifest.files}
    if names != set(files):
        raise ArchiveError(f"manifest names {sorted(names)} but files given are {sorted(files)}", where=str(final))
    with _runs_lock(root):
        if final.exists():  # another search or add-run archived this id meanwhile
            raise ArchiveError(
                f"run {manifest.run_id} already exists (runs are immutable); it was archived while this one was being made",
                where=str(final),
                fix="run the command again: it takes the next free run id",
            )
        check_run_comes_last(root, manifest.run_id, fix=LATER_RUN_FIX)
        if recheck is not None:
            recheck()
        tmp = Path(tempfile.mkdtemp(prefix=f".{manifest.run_id}.", suffix=".partial", dir=root))
        try:
            for f in manifest.files:
                src = files[f.name]
                dst = tmp / f.name
                if isinstance(src, (bytes, bytearray)):
                    dst.write_bytes(src)
                else:
                    shutil.copyfile(src, dst)
                _fsync(dst)
                f.sha256 = sha256_file(dst)
            (tmp / MANIFEST).write_text(json.dumps(manifest.to_json(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
            _fsync(tmp / MANIFEST)
            os.chmod(tmp, umask_mode(0o777))  # mkdtemp makes the folder 0700
            _fsync(tmp)
            os.rename(tmp, final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        _fsync(root)
    return final


def clean_partial_runs(root: str | os.PathLike[str]) -> list[Path]:
    """Remove half-written run folders left by an interrupted search or add-run; returns what was removed.

    Waits while another process is writing a run (write_run's lock), so its folder is never taken
    for a left-over one.
    """
    root = Path(root)
    removed = []
    if root.is_dir():
        with _runs_lock(root):
            for p in sorted(root.glob(".*.partial")):
                shutil.rmtree(p, ignore_errors=True)
                removed.append(p)
    return removed
