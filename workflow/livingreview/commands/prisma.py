"""`livingreview prisma LEDGER [--json]`: PRISMA 2020 counts of an audit ledger, reconciled (as the pipeline's counts.json)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from ..config import load_config
from ..errors import ConfigError
from ..prisma import compute_counts, dedup_inputs, load_ledger


def register(subparsers: Any) -> None:
    """Add the ``prisma`` sub-command."""
    p = subparsers.add_parser(
        "prisma",
        help="print the PRISMA 2020 counts of an audit ledger (stops when they do not add up)",
        description="Count the PRISMA 2020 flow from results/audit/ledger.tsv and check its arithmetic.",
    )
    p.add_argument("ledger", nargs="?", default="results/audit/ledger.tsv", help="ledger TSV (default: %(default)s)")
    p.add_argument("--config", default="config/config.yaml", help="config naming the sources (default: %(default)s; optional)")
    p.add_argument("--previous-run", action="append", dest="previous_runs", metavar="RUN_ID", help="run id of the previous version (repeatable; default: every run but the newest)")
    p.add_argument(
        "--decisions",
        help="decisions.tsv whose dates count the previous version as it stood when this update's search ran, as the pipeline does "
        "(default: the config's screening.decisions; the path the ledger cites)",
    )
    p.add_argument("--rules", help="screening rules giving the reason codes of --decisions (default: the config's screening.rules)")
    p.add_argument(
        "--dedup-decisions",
        help="resources/dedup/decisions.tsv: with --decisions, a dedup decision dated since the previous version changes this update's "
        "clusters, not the previous version's, as in the pipeline (default: the config's dedup.decisions)",
    )
    p.add_argument("--records", default="results/records/records.tsv", help="records.tsv, read when a dedup decision is dated since the previous version (default: %(default)s)")
    p.add_argument(
        "--canonical",
        default="results/dedup/canonical.tsv",
        help="canonical.tsv, read when a --decisions key is no record_id or PMID the ledger names (default: %(default)s)",
    )
    p.add_argument("--studies", help="studies.tsv (default: the config's extraction.studies)")
    p.add_argument("--json", action="store_true", help="print counts.json to stdout")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Compute and print the counts; a reconciliation failure raises (exit 1 with the message)."""
    sources: list[dict[str, Any]] = []
    decisions, rules = args.decisions, args.rules
    dedup_decisions, studies = args.dedup_decisions, args.studies
    if args.config and Path(args.config).exists():
        config = load_config(args.config)
        sources = config["searches"]["sources"]
        screening = config.get("screening", {})
        decisions = decisions or (screening.get("decisions") if Path(screening.get("decisions", "")).is_file() else None)
        rules = rules or screening.get("rules")
        dedup_decisions = dedup_decisions or config.get("dedup", {}).get("decisions")
        studies = studies or config.get("extraction", {}).get("studies")
    inputs = None
    if decisions:
        if not rules:
            raise ConfigError("--decisions needs the screening rules for its reason codes", where="livingreview prisma", fix="pass --rules config/screening.yaml or --config")
        inputs = dedup_inputs(args.records, dedup_decisions, decisions, rules, studies, args.canonical)  # reads the rules and decisions once
    dates = inputs.decision_dates() if inputs is not None else None
    counts = compute_counts(
        load_ledger(args.ledger), sources=sources, previous_runs=args.previous_runs, source_name=args.ledger, decision_dates=dates, dedup_inputs=inputs
    )
    if args.json:
        print(json.dumps(counts, indent=2, sort_keys=True))
        return 0
    lines = []
    if counts["previous"]:
        prev = counts["previous"]
        lines.append(f"Previous version (runs {', '.join(prev['runs'])}): {prev['records_identified']} records; {counts['previous_studies']} studies, {counts['previous_reports']} reports included")
        runs = counts["newest_runs"]
        lines.append(f"This update (run{'s' if len(runs) > 1 else ''} {', '.join(runs)}):")
    # the counts below are this update's (every run's when there is no previous version), each database's under their total
    lines.append(f"Records identified: {counts['records_identified']} (databases {counts['database_results']}, registers {counts['register_results']})")
    lines += [f"  {d['label']}: {d['n']}" for d in counts["database_specific_results"] + counts["register_specific_results"]]
    lines += [
        f"Duplicates removed: {counts['duplicates']}",
        f"Marked ineligible by automation: {counts['excluded_automatic']}",
        f"Removed for other reasons: {counts['excluded_other']}",
        f"Records screened: {counts['records_screened']}",
        f"Records excluded: {counts['records_excluded']} (awaiting decision: {counts['records_awaiting']})",
        f"Reports sought for retrieval: {counts['dbr_sought_reports']}",
        f"Reports not retrieved: {counts['dbr_notretrieved_reports']}",
        f"Reports assessed for eligibility: {counts['dbr_assessed']}",
        f"Reports excluded: {counts['dbr_excluded_total']} (awaiting decision: {counts['dbr_awaiting']})",
    ]
    lines += [f"  {d['reason']}: {d['n']}" for d in counts["dbr_excluded"]]
    lines += [
        f"New studies included: {counts['new_studies']} ({counts['new_reports']} reports)",
        f"Total studies included: {counts['total_studies']} ({counts['total_reports']} reports)",
    ]
    print("\n".join(lines))
    return 0
