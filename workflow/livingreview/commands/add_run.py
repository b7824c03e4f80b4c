"""`livingreview add-run`: archive an export made elsewhere (PubMed XML, MEDLINE/nbib, RIS, CSV) as a new run."""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
import platform
import re
from pathlib import Path
from typing import Any, NamedTuple

from .. import __version__
from ..config import load_config
from ..constants import DATABASES
from ..errors import ConfigError, InputFormatError
from ..parsers import FORMATS, detect_format, read_records
from ..runs import (
    MANIFEST,
    Manifest,
    RunFile,
    already_archived_note,
    archived_by_runs,
    archived_copy,
    archived_record_ids,
    check_none_archived_since,
    check_run_comes_last,
    clean_partial_runs,
    has_control,
    has_wildcard_brace,
    list_runs,
    next_run_id,
    sha256_file,
    write_run,
)
from ..search import (
    DATE_LIMIT_FORMS,
    INCEPTION,
    date_limit_period,
    normalize_date_limit,
)

_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
DEFAULT_CONFIG = "config/config.yaml"
DEFAULT_ROOT = "resources/searches"
# Platforms used when --platform is not given and the config names none for the database.
DEFAULT_PLATFORMS: dict[str, str] = {
    "pubmed": "PubMed",
    "clinicaltrials": "ClinicalTrials.gov",
}
NOT_RECORDED = "not recorded"

LOG = logging.getLogger("livingreview.add_run")


def configured_platforms(config_path: str | os.PathLike[str]) -> dict[str, str]:
    """database -> platform of the config's searches.sources (first entry per database).

    Live sources are skipped: their platform names livingreview's own search through NCBI
    E-utilities, which an export made elsewhere did not come from.
    """
    platforms: dict[str, str] = {}
    for source in load_config(config_path).get("searches", {}).get("sources", []):
        name = str(source.get("platform") or "").strip()
        if name and not source.get("live"):
            platforms.setdefault(str(source.get("database")), name)
    return platforms


def configured_root(config_path: str | os.PathLike[str] | None) -> str:
    """The folder of archived runs: the config's searches.root (where `search pubmed` and Snakemake
    read runs), else resources/searches when no config is given."""
    if config_path is None:
        return DEFAULT_ROOT
    return str(load_config(config_path).get("searches", {}).get("root") or DEFAULT_ROOT)


def default_platform(database: str, config_path: str | os.PathLike[str] | None) -> str:
    """The platform recorded when --platform is not given: the config's, else a built-in one, else 'not recorded'."""
    configured = configured_platforms(config_path) if config_path is not None else {}
    return configured.get(database) or DEFAULT_PLATFORMS.get(database, NOT_RECORDED)


def check_date_limit(value: str, option: str, *, inception: bool) -> str:
    """A --date-from/--date-to value in the form the manifest records ('' when not given).

    Accepts DATE_LIMIT_FORMS (YYYY-MM-DD is written YYYY/MM/DD) and, with ``inception``, 'inception';
    anything else is a ConfigError naming the option and the accepted forms (nothing is written):
    `search pubmed --since last` starts where the newest PubMed run's date_limits.to ends.
    """
    if value == "":
        return ""
    if inception and value.strip().lower() == INCEPTION:
        return INCEPTION
    if date_limit_period(value) is None:
        forms = DATE_LIMIT_FORMS + (", or inception" if inception else "")
        raise ConfigError(f"{option} {value!r} is not a date limit", where=option, fix=f"write it as {forms}, e.g. 2025/09/30")
    return normalize_date_limit(value)


def missing_details(*, query: str, date_from: str, date_to: str, count_reported: int | None, platform_name: str) -> list[str]:
    """What the manifest will lack, each with the add-run option that records it."""
    missing = []
    if not query.strip():
        missing.append("the query as run (--query)")
    if not date_from and not date_to:
        missing.append("the date limits (--date-from/--date-to)")
    elif not date_from:
        missing.append("the start date limit (--date-from)")
    elif not date_to:
        missing.append("the end date limit (--date-to)")
    if count_reported is None:
        missing.append("the number of hits the database reported (--count-reported)")
    if platform_name == NOT_RECORDED:
        missing.append("the platform (--platform)")
    return missing


def count_mismatch(run_id: str, name: str, count: int, count_reported: int) -> str:
    """The warning for a file that holds a different number of records than the database reported."""
    if count < count_reported:
        why = (
            "the export may be cut off (a download or copy that stopped early) or limited to fewer records "
            "than the search found (a per-export maximum, a page of results)"
        )
    else:
        why = "the export may hold records of another search, or --count-reported may be mistyped"
    return (
        f"run {run_id} ({name}) holds {count} records but the database reported {count_reported} (--count-reported); "
        f"{why}; check the export against the database's hit count and, if it is incomplete, export again and archive it as a new run"
    )


class AddRunResult(NamedTuple):
    """What add-run did: the run folder (None when every record was archived already and nothing was
    written), the records in the export, its format and, of them, those earlier runs archived
    (record id -> run)."""

    path: Path | None
    count: int
    format: str
    already_archived: dict[str, str]

    @property
    def kept(self) -> int:
        """Records the run adds to the review."""
        return self.count - len(self.already_archived)


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
    config_path: str | os.PathLike[str] | None = None,
) -> AddRunResult:
    """Parse an export to count and validate it, then write it byte for byte as a new immutable run.

    Returns the run folder, the records in the file, the format and the records of the file an
    earlier run of the database archived already. The run id is the date, with -2, -3, ...
    when taken. Records carrying the database's own id (PMID, NCT number, Ovid accession number)
    that an earlier run archived are listed in the manifest (the file entry's ``already_archived``,
    record id -> run, and a note counting them per run): the import leaves them out of this run, as
    `search pubmed` leaves them out of its file. count_in_file counts every record in the file (it
    verifies the file); the run adds count_in_file minus those listed. When every record of the
    export is archived already, nothing is written (path None), as `search pubmed` writes no run
    when nothing is new. Without ``platform_name`` the platform is the one config_path's searches.sources
    gives the database (non-live sources), else PubMed / ClinicalTrials.gov, else 'not recorded'.
    ``date_from``/``date_to`` may be YYYY/MM/DD, YYYY-MM-DD (recorded as YYYY/MM/DD), YYYY/MM or YYYY,
    and ``date_from`` 'inception'. Raises ConfigError for a bad database name, date, date limit,
    negative ``count_reported`` or config, InputFormatError when the file
    does not parse or holds the same record id twice; nothing is written then. After archiving,
    a warning names each detail left unrecorded (query, date limits, reported count, platform)
    and the option that records it; they are optional, but the report cannot give them. Another
    warning says when the file holds a different number of records than ``count_reported``
    (a truncated export that still parses).
    """
    if database not in DATABASES:
        raise ConfigError(f"unknown database {database!r}", where="--database", fix=f"use one of {', '.join(DATABASES)}")
    if not _DATE_RE.match(date):
        raise ConfigError(f"date {date!r} is not YYYY-MM-DD", where="--date", fix="give the date the search was run, e.g. 2025-09-30")
    try:
        dt.date.fromisoformat(date)
    except ValueError:
        raise ConfigError(f"date {date!r} is not a calendar date", where="--date", fix="give a real date, e.g. 2025-09-30") from None
    if count_reported is not None and count_reported < 0:
        raise ConfigError(
            f"--count-reported {count_reported} is negative",
            where="--count-reported",
            fix="give the number of hits the database reported (a whole number >= 0), or leave the option out",
        )
    date_from = check_date_limit(date_from, "--date-from", inception=True)
    date_to = check_date_limit(date_to, "--date-to", inception=False)
    first, last = date_limit_period(date_from), date_limit_period(date_to)
    if first and last and first[0] > last[1]:
        raise ConfigError(f"--date-from {date_from!r} is after --date-to {date_to!r}", where="--date-from/--date-to", fix="give the date limits the search used, the start first")
    src = Path(file)
    if not src.is_file():
        raise InputFormatError("file not found", where=str(src), fix="check the path of the export")
    if src.name == MANIFEST or src.name.startswith(".") or has_wildcard_brace(src.name) or has_control(src.name):
        raise InputFormatError(
            f"the export cannot be archived under the name {src.name!r}"
            + (" (Snakemake reads '{' and '}' in a file name as a wildcard)" if has_wildcard_brace(src.name) else "")
            + (" (a newline, tab or other control character cannot be written in records.tsv, the ledger or the report)" if has_control(src.name) else ""),
            where=str(src),
            fix="rename the export (e.g. embase.ris) and run add-run again",
        )
    name = fmt or detect_format(src)
    if name not in FORMATS:
        raise ConfigError(f"unknown format {name!r}", where="--format", fix=f"use one of {', '.join(FORMATS)}")
    platform_name = platform_name.strip() or default_platform(database, config_path)
    for stale in clean_partial_runs(root):
        LOG.warning("removed %s, left by an interrupted search or add-run", stale)
    run_id = next_run_id(root, date)
    check_run_comes_last(
        root,
        run_id,
        fix="give --date the day you archive it (on or after the newest run's date, e.g. today's) and the day the search ran in --notes",
    )
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
    known_runs = {d.name for d in list_runs(root)}
    archived = archived_record_ids(root, database)
    already = {rid: archived[rid] for rid in sorted(seen) if rid in archived}
    count = len(seen)
    if count and len(already) == count:
        return AddRunResult(None, count, name, already)
    copy = archived_copy(root, sha256_file(src), database)
    if copy is not None:
        raise InputFormatError(
            f"this export is byte for byte the {database} file archived as {copy.as_posix()}; its records have no ids the archive could recognise, so archiving it again would add each of them a second time",
            where=str(src),
            fix="nothing was written; archive a new export of the search (a later run of it), or nothing if the search found nothing new",
        )
    run_file = RunFile(
        name=src.name,
        database=database,
        platform=platform_name,
        format=name,
        query=query,
        date_limits={k: v for k, v in (("from", date_from), ("to", date_to)) if v},
        count_reported=count_reported,
        count_in_file=count,
        encoding=encoding,
        notes="; ".join(n for n in (notes or "archived with livingreview add-run", already_archived_note(already, count) if already else "") if n),
        already_archived=already,
    )
    manifest = Manifest(
        run_id=run_id,
        date_run=date,
        files=[run_file],
        tool_versions={"livingreview": __version__, "python": platform.python_version()},
        description=f"{database} export added with livingreview add-run",
    )
    path = write_run(
        root,
        manifest,
        {src.name: src},
        recheck=lambda: check_none_archived_since(root, database, known_runs, set(seen) - set(already), what=f"the export {src}"),
    )
    if count_reported is not None and count != count_reported:
        LOG.warning("%s", count_mismatch(run_id, src.name, count, count_reported))
    missing = missing_details(query=query, date_from=date_from, date_to=date_to, count_reported=count_reported, platform_name=platform_name)
    if missing:
        LOG.warning(
            "run %s (%s) was archived without: %s; the manifest and the report cannot give them (the report's search table says 'not reported' or leaves them blank), and PRISMA-S asks for each",
            run_id,
            src.name,
            ", ".join(missing),
        )
    return AddRunResult(path, count, name, already)


def register(subparsers: Any) -> None:
    """Add the ``add-run`` sub-command."""
    parser = subparsers.add_parser(
        "add-run",
        help="archive an export made elsewhere (PubMed XML, MEDLINE/nbib, RIS, CSV) as a new run",
        description=(
            "Detect the export's format, parse it to count and validate its records, and write it with a "
            "manifest.json as resources/searches/<date>[-N]/, byte for byte. Records an earlier run of the database "
            "archived (same PMID, NCT number or accession number) are listed in the manifest and left out by the import; "
            "an export holding nothing new is not archived. Runs are never overwritten."
        ),
    )
    parser.add_argument("--database", required=True, choices=list(DATABASES), help="database the export came from")
    parser.add_argument("--file", required=True, help="the export file as the database wrote it")
    parser.add_argument("--date", required=True, metavar="YYYY-MM-DD", help="date the search was run (also the run id); for a search older than the newest archived run, the day you archive it, with the search day in --notes")
    parser.add_argument("--query", default="", help="the exact query as run (optional; a warning names each detail left out)")
    parser.add_argument("--format", default=None, choices=list(FORMATS), help="file format (default: detected)")
    parser.add_argument(
        "--root",
        default=None,
        help=f"folder of archived runs (default: the config's searches.root, where `search pubmed` and Snakemake read runs; {DEFAULT_ROOT} without a config)",
    )
    parser.add_argument(
        "--platform",
        default="",
        help=(
            "interface, e.g. 'Ovid Embase' (default: the database's platform in the config's searches.sources, "
            "e.g. Ovid Embase for embase; else PubMed / ClinicalTrials.gov for those; else 'not recorded')"
        ),
    )
    parser.add_argument(
        "--config",
        default=None,
        help=f"config whose searches.sources give the default platform (default: {DEFAULT_CONFIG} when it exists)",
    )
    parser.add_argument("--count-reported", type=int, default=None, help="number of hits the database reported (the report says 'not reported' without it)")
    parser.add_argument("--date-from", default="", metavar="inception|YYYY/MM/DD", help="date limit: from (inception, YYYY/MM/DD, YYYY-MM-DD, YYYY/MM or YYYY)")
    parser.add_argument(
        "--date-to",
        default="",
        metavar="YYYY/MM/DD",
        help="date limit: to (YYYY/MM/DD, YYYY-MM-DD, YYYY/MM or YYYY); for PubMed, `search pubmed --since last` starts there",
    )
    parser.add_argument("--notes", default="", help="free-text note for the manifest")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Archive the export and print where it went."""
    config_path = args.config if args.config is not None else (DEFAULT_CONFIG if Path(DEFAULT_CONFIG).is_file() else None)
    root = args.root if args.root is not None else configured_root(config_path)
    result = add_run(
        root=root,
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
        config_path=config_path,
    )
    if result.path is None:
        print(
            f"no new records: all {result.count} {args.database} records of {args.file} are already archived "
            f"({archived_by_runs(result.already_archived)}); no run was written"
        )
        return 0
    left_out = f"; {len(result.already_archived)} already archived, left out by the import ({archived_by_runs(result.already_archived)})" if result.already_archived else ""
    print(f"archived {result.count} {args.database} records ({result.format}) as run {result.path.name}: {result.path}{left_out}")
    return 0
