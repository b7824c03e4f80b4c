"""`livingreview add-run`: archive an export made elsewhere (PubMed XML, MEDLINE/nbib, RIS, CSV) as a new run."""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
import platform
import re
from pathlib import Path
from typing import Any

from .. import __version__
from ..constants import DATABASES
from ..errors import ConfigError, InputFormatError
from ..parsers import FORMATS, detect_format, read_records
from ..runs import MANIFEST, Manifest, RunFile, clean_partial_runs, write_run

_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
DEFAULT_PLATFORMS: dict[str, str] = {
    "pubmed": "PubMed",
    "clinicaltrials": "ClinicalTrials.gov",
}

LOG = logging.getLogger("livingreview.add_run")


def next_run_id(root: str | os.PathLike[str], date: str) -> str:
    """``date`` when no run of that id exists under root, else ``date-2``, ``date-3``, ..."""
    root = Path(root)
    run_id, n = date, 1
    while (root / run_id).exists():
        n += 1
        run_id = f"{date}-{n}"
    return run_id


def add_run(
    *,
    root: str | os.PathLike[str],
    database: str,
    file: str | os.PathLike[str],
    date: str,
    query: str = "",
    fmt: str | None = None,
    platform_name: str = "",
    count_reported: int | None = None,
    date_from: str = "",
    date_to: str = "",
    notes: str = "",
) -> tuple[Path, int, str]:
    """Parse an export to count and validate it, then write it as a new immutable run.

    Returns (run folder, records in the file, format). The run id is the date, with -2, -3, ...
    when taken. Raises ConfigError for a bad database name or date, InputFormatError when the file
    does not parse or holds the same record id twice; nothing is written then.
    """
    if database not in DATABASES:
        raise ConfigError(f"unknown database {database!r}", where="--database", fix=f"use one of {', '.join(DATABASES)}")
    if not _DATE_RE.match(date):
        raise ConfigError(f"date {date!r} is not YYYY-MM-DD", where="--date", fix="give the date the search was run, e.g. 2025-09-30")
    try:
        dt.date.fromisoformat(date)
    except ValueError:
        raise ConfigError(f"date {date!r} is not a calendar date", where="--date", fix="give a real date, e.g. 2025-09-30") from None
    src = Path(file)
    if not src.is_file():
        raise InputFormatError("file not found", where=str(src), fix="check the path of the export")
    if src.name == MANIFEST or src.name.startswith("."):
        raise InputFormatError(
            f"the export cannot be archived under the name {src.name!r}",
            where=str(src),
            fix="rename the export (e.g. embase.ris) and run add-run again",
        )
    name = fmt or detect_format(src)
    if name not in FORMATS:
        raise ConfigError(f"unknown format {name!r}", where="--format", fix=f"use one of {', '.join(FORMATS)}")
    for stale in clean_partial_runs(root):
        LOG.warning("removed %s, left by an interrupted search or add-run", stale)
    run_id = next_run_id(root, date)
    seen: dict[str, int] = {}
    encoding = "utf-8"
    for rec in read_records(src, fmt=name, database=database, run_id=run_id, source_file=str(src)):
        if rec.record_id in seen:
            raise InputFormatError(
                f"record id {rec.record_id} occurs twice (first at line {seen[rec.record_id]})",
                where=f"{src}:{rec.source_line}",
                fix="remove the repeated record from the export, or export again",
            )
        seen[rec.record_id] = rec.source_line
        encoding = rec.encoding or encoding
    count = len(seen)
    run_file = RunFile(
        name=src.name,
        database=database,
        platform=platform_name or DEFAULT_PLATFORMS.get(database, "not recorded"),
        format=name,
        query=query,
        date_limits={k: v for k, v in (("from", date_from), ("to", date_to)) if v},
        count_reported=count_reported,
        count_in_file=count,
        encoding=encoding,
        notes=notes or "archived with livingreview add-run",
    )
    manifest = Manifest(
        run_id=run_id,
        date_run=date,
        files=[run_file],
        tool_versions={"livingreview": __version__, "python": platform.python_version()},
        description=f"{database} export added with livingreview add-run",
    )
    path = write_run(root, manifest, {src.name: src})
    return path, count, name


def register(subparsers: Any) -> None:
    """Add the ``add-run`` sub-command."""
    parser = subparsers.add_parser(
        "add-run",
        help="archive an export made elsewhere (PubMed XML, MEDLINE/nbib, RIS, CSV) as a new run",
        description=(
            "Detect the export's format, parse it to count and validate its records, and write it with a "
            "manifest.json as resources/searches/<date>[-N]/. Runs are never overwritten."
        ),
    )
    parser.add_argument("--database", required=True, choices=list(DATABASES), help="database the export came from")
    parser.add_argument("--file", required=True, help="the export file as the database wrote it")
    parser.add_argument("--date", required=True, metavar="YYYY-MM-DD", help="date the search was run (also the run id)")
    parser.add_argument("--query", default="", help="the exact query as run")
    parser.add_argument("--format", default=None, choices=list(FORMATS), help="file format (default: detected)")
    parser.add_argument("--root", default="resources/searches", help="folder of archived runs (default: %(default)s)")
    parser.add_argument("--platform", default="", help="interface, e.g. 'Ovid Embase' (default: by database or 'not recorded')")
    parser.add_argument("--count-reported", type=int, default=None, help="number of hits the database reported")
    parser.add_argument("--date-from", default="", help="date limit: from (e.g. inception)")
    parser.add_argument("--date-to", default="", help="date limit: to (e.g. 2025/09/30)")
    parser.add_argument("--notes", default="", help="free-text note for the manifest")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Archive the export and print where it went."""
    path, count, fmt = add_run(
        root=args.root,
        database=args.database,
        file=args.file,
        date=args.date,
        query=args.query,
        fmt=args.format,
        platform_name=args.platform,
        count_reported=args.count_reported,
        date_from=args.date_from,
        date_to=args.date_to,
        notes=args.notes,
    )
    print(f"archived {count} {args.database} records ({fmt}) as run {path.name}: {path}")
    return 0
