"""`livingreview validate`: check the config and every human-edited table; non-zero exit on the first error."""

from __future__ import annotations

import argparse
from typing import Any

from ..config import load_config


def register(subparsers: Any) -> None:
    """Add the ``validate`` sub-command."""
    parser = subparsers.add_parser(
        "validate",
        help="check config/config.yaml and every human-edited table (rules, decisions, studies, outcomes)",
        description=(
            "Validate the config against workflow/schemas/config.schema.yaml, then the screening rules, "
            "dedup and screening decisions, studies and outcomes tables it names. Prints what was checked; "
            "on the first error prints file, line and fix and exits 1."
        ),
    )
    parser.add_argument("--config", default="config/config.yaml", help="config file (default: %(default)s)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Validate and print the summary."""
    from ..validate import validate_inputs

    config = load_config(args.config)
    summary = validate_inputs(config, where=args.config)
    print(f"{args.config}: valid")
    for what, n in summary.items():
        print(f"  {what}: {n}")
    return 0
