"""`livingreview import`: verify and parse every archived run into records.tsv and the identification ledger."""

from __future__ import annotations

import argparse
from typing import Any

from ..importer import run_import


def register(subparsers: Any) -> None:
    """Add the ``import`` sub-command."""
    parser = subparsers.add_parser(
        "import",
        help="parse every archived run into records.tsv (checks sha256 and counts)",
        description=(
            "Verify every run under --runs (sha256 of each file against its manifest.json), parse every "
            "file, check the records per file against the manifest's count_in_file, and write records.tsv "
            "(sorted by record_id) and the identification ledger fragment. Nothing is written on error."
        ),
    )
    parser.add_argument("--runs", default="resources/searches", help="folder of archived runs (default: %(default)s)")
    parser.add_argument("-o", "--output", default="results/records/records.tsv", help="records table to write (default: %(default)s)")
    parser.add_argument(
        "--ledger",
        default="results/audit/stages/identification.tsv",
        help="identification ledger fragment to write (default: %(default)s)",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Import and print one line per file and a total: the records each file gives records.tsv (those
    its manifest lists as already archived are left out, and said so)."""
    counts = run_import(runs_root=args.runs, records_out=args.output, ledger_out=args.ledger)
    for c in counts:
        reported = "" if c.count_reported is None else f" (database reported {c.count_reported})"
        left_out = f"; {c.already_archived} of {c.parsed} already archived by an earlier run, left out" if c.already_archived else ""
        print(f"{c.source_file}\t{c.database}\t{c.kept} records{reported}{left_out}")
    print(f"total\t{sum(c.kept for c in counts)} records from {len(counts)} files -> {args.output}")
    return 0
