"""`livingreview screen`: screen a records or canonical TSV with the rules and (optionally) human decisions."""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from typing import Any

from ..constants import SCREENING_FIELDS
from ..decisions import build_index, load_decisions, resolve_decisions
from ..screen_stage import read_canonical, read_clusters, screen_clusters, singleton_clusters
from ..tables import format_value, write_tsv


def register(subparsers: Any) -> None:
    """Add the ``screen`` sub-command."""
    parser = subparsers.add_parser(
        "screen",
        help="screen a records.tsv or canonical.tsv with the eligibility rules and human decisions",
        description=(
            "Apply the ordered rules of config/screening.yaml to every record of a TSV with records.tsv "
            "columns, then the human decisions (if given). Without --clusters every record is its own "
            "cluster. Writes screening.tsv rows (stage, decision, rule or decisions.tsv line, reason, "
            "evidence) to --output or standard output and a count per stage and outcome to standard error."
        ),
    )
    parser.add_argument("records", help="TSV with records.tsv columns (results/records/records.tsv or results/dedup/canonical.tsv)")
    parser.add_argument("--rules", default="config/screening.yaml", help="rule file (default: %(default)s)")
    parser.add_argument("--decisions", default=None, help="human decisions TSV (e.g. resources/screening/decisions.tsv); default: rules only")
    parser.add_argument("--clusters", default=None, help="clusters.tsv from deduplication (default: one cluster per record)")
    parser.add_argument("-o", "--output", default=None, help="write screening rows here (default: standard output)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Screen the table and print the rows and a summary."""
    from ..screening import load_rules, screen_record

    ruleset = load_rules(args.rules)
    records = read_canonical(args.records)
    clusters = read_clusters(args.clusters) if args.clusters else singleton_clusters(records)
    index = build_index(records, clusters)
    settled = resolve_decisions(load_decisions(args.decisions, ruleset.reasons), index) if args.decisions else {}
    result = screen_clusters(records, index, ruleset, settled, screen=screen_record)
    if args.output:
        write_tsv(args.output, SCREENING_FIELDS, result.screening)
    else:
        sys.stdout.write("\t".join(SCREENING_FIELDS) + "\n")
        for row in result.screening:
            sys.stdout.write("\t".join(format_value(row.get(f)) for f in SCREENING_FIELDS) + "\n")
    finals: Counter[str] = Counter()
    last: dict[str, dict[str, Any]] = {}
    for row in result.screening:
        last[row["cluster_id"]] = row
    for row in last.values():
        finals[f"{row['stage']} {row['decision']}"] += 1
    print(f"screened {len(records)} records in {len(last)} clusters", file=sys.stderr)
    for k, v in sorted(finals.items()):
        print(f"  {k}: {v}", file=sys.stderr)
    return 0
