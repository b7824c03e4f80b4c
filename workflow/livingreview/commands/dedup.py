"""`livingreview dedup FILE... -o clusters.tsv`: the dedup engine on any mix of export files."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from ..constants import CLUSTER_FIELDS, MAYBE_PAIR_FIELDS, OUTCOME_DUPLICATE
from ..dedup import deduplicate, load_dedup_decisions
from ..errors import InputFormatError
from ..parsers import detect_format, read_records
from ..records import Record
from ..tables import write_tsv

# Database assumed for each export format when the file does not say (canonical preference).
FORMAT_DATABASE: dict[str, str] = {
    "pubmed_xml": "pubmed",
    "medline": "pubmed",
    "ris": "other",
    "csv": "other",
    "ctgov_csv": "clinicaltrials",
}


def _positive_int(text: str) -> int:
    """argparse type: a whole number of threads, 1 or more."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of threads of 1 or more")
    return value


def read_files(paths: list[str]) -> list[Record]:
    """Records of every file, in the order given. A record id seen in an earlier file gets
    "@<file name>" appended (then "~2", "~3", ... while that is taken too: the same file or file
    name given again) so that every record keeps its own row."""
    records: list[Record] = []
    seen: set[str] = set()
    for path in paths:
        if not Path(path).exists():
            raise InputFormatError("file not found", where=path, fix="check the path")
        try:
            fmt = detect_format(path)
        except InputFormatError:
            if Path(path).suffix.lower() not in (".csv", ".tsv", ".txt"):
                raise
            fmt = "csv"  # let the CSV parser name what is missing (e.g. the title column)
        stem = Path(path).name
        for rec in read_records(path, fmt=fmt, database=FORMAT_DATABASE[fmt], run_id=stem):
            if rec.record_id in seen:
                base = f"{rec.record_id}@{stem}"
                rec.record_id, copy = base, 1
                while rec.record_id in seen:
                    copy += 1
                    rec.record_id = f"{base}~{copy}"
            seen.add(rec.record_id)
            records.append(rec)
    return records


def run(args: argparse.Namespace) -> int:
    """Deduplicate the files and write clusters (and maybe pairs)."""
    records = read_files(args.files)
    decisions = load_dedup_decisions(args.decisions) if args.decisions else []
    result = deduplicate(records, decisions=decisions, workers=args.workers)
    write_tsv(args.output, CLUSTER_FIELDS, result.clusters)
    if args.maybe:
        write_tsv(args.maybe, MAYBE_PAIR_FIELDS, result.maybe_pairs)
    dups = sum(1 for r in result.ledger if r["outcome"] == OUTCOME_DUPLICATE)
    n_maybe = len(result.maybe_pairs)
    pairs = f"{n_maybe} pair{'' if n_maybe == 1 else 's'} to check"
    if args.maybe:
        pairs += f" in {args.maybe}"
    elif n_maybe:
        pairs += " (list them with --maybe FILE)"
    print(f"{len(records)} records from {len(args.files)} file(s) -> {result.n_clusters} clusters ({dups} duplicates); {pairs}; wrote {args.output}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``dedup`` sub-command."""
    parser = subparsers.add_parser(
        "dedup",
        help="deduplicate PubMed XML, MEDLINE/nbib, RIS and CSV files",
        description=(
            "Deduplicate any mix of PubMed XML, MEDLINE/nbib, RIS and CSV files (CSV: title column required; "
            "record_id from a record_id/ID column, otherwise the row number). Writes one row per record: "
            "record_id, cluster_id, canonical_id, rule, score."
        ),
    )
    parser.add_argument("files", nargs="+", metavar="FILE", help="export files (format detected from content)")
    parser.add_argument("-o", "--output", required=True, help="clusters TSV to write")
    parser.add_argument("--maybe", help="also write pairs close to the threshold (for a person to decide)")
    parser.add_argument("--decisions", help="TSV of human link/keep_apart decisions (record_a, record_b, decision, reviewer, date, note)")
    parser.add_argument("--workers", type=_positive_int, default=min(2, os.cpu_count() or 1), help="threads for rapidfuzz (default: 2)")
    parser.set_defaults(func=run)
