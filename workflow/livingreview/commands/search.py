"""`livingreview search pubmed`: run the PubMed strategy live and archive the result as a new run."""

from __future__ import annotations

import argparse
from typing import Any

from ..search import run_pubmed_search


def register(subparsers: Any) -> None:
    """Add the ``search`` sub-command."""
    parser = subparsers.add_parser(
        "search",
        help="search PubMed live (Bio.Entrez) and archive a new run",
        description=(
            "Search PubMed with the strategy in the config and archive the records as "
            "resources/searches/<run_id>/pubmed.xml.gz with a manifest.json. Without --since/--until the "
            "config's searches.date_from..date_to apply; with --since the search ends today unless --until "
            "is given. NCBI requires a real contact address: set NCBI_EMAIL (or entrez.email in the config); "
            "without one the search stops before any request. NCBI_API_KEY (optional, 10 requests/s instead "
            "of 3) is read from the environment only and never written."
        ),
    )
    parser.add_argument("database", choices=["pubmed"], help="database to search (only pubmed is live)")
    parser.add_argument(
        "--since",
        metavar="last|YYYY/MM/DD",
        help=(
            "start date; 'last' = the end date of the newest archived PubMed run that records one (runs without "
            "one are skipped with a warning). Update searches use the Entrez date (edat, the date a record entered PubMed)"
        ),
    )
    parser.add_argument("--until", metavar="YYYY/MM/DD", help="end date (default: config searches.date_to, or with --since today's date at NCBI, US Eastern)")
    parser.add_argument("--config", default="config/config.yaml", help="config file (default: %(default)s)")
    parser.add_argument("--root", default=None, help="folder of archived runs (default: config searches.root)")
    parser.add_argument(
        "--run-id",
        default=None,
        metavar="YYYY-MM-DD[-N]",
        help="run id: a date, with -2, -3... for a later run that day (default: today's date, with -2, -3... if taken)",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the search; print where the run went, or why there was nothing new."""
    outcome = run_pubmed_search(config_path=args.config, root=args.root, since=args.since, until=args.until, run_id=args.run_id)
    print(outcome.message)
    return 0
