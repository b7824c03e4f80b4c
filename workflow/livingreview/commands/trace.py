"""`livingreview trace KEY`: the whole path of a record (record_id, PMID, DOI) or a study (study_id)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ..tables import dumps_json
from ..trace import format_trace, trace


def register(subparsers: Any) -> None:
    """Add the ``trace`` sub-command."""
    parser = subparsers.add_parser(
        "trace",
        help="the whole path of a record or study: archived file and line, cluster, rules, decisions, study, analyses",
        description=(
            "Follow a record (record_id such as pubmed:24740528, a PMID, or a DOI) or a study (study_id) "
            "from the archived file and line that held it, through its duplicate cluster and every rule and "
            "human decision (with its decisions.tsv line), to the study and the analyses it feeds."
        ),
    )
    parser.add_argument("key", metavar="KEY", help="record_id, PMID, DOI or study_id")
    parser.add_argument("--json", action="store_true", help="print JSON for machines")
    parser.add_argument("--results", default="results", help="results folder of a workflow run (default: %(default)s)")
    parser.add_argument("--studies", default="resources/extraction/studies.tsv", help="studies table, for study ids not included (default: %(default)s)")
    parser.add_argument("--outcomes", default="resources/extraction/outcomes.tsv",
                        help="outcomes table: the row (file:line) behind each plotted number (default: %(default)s)")
    parser.add_argument("--searches", default="resources/searches",
                        help="archived runs: the later runs that met a record again, from their manifests (default: %(default)s)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Print the trace as text or JSON."""
    data = trace(args.key, results_dir=args.results, studies_table=args.studies, outcomes_table=args.outcomes, runs_root=args.searches)
    sys.stdout.write(dumps_json(data) if args.json else format_trace(data))
    return 0
