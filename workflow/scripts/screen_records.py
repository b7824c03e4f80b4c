"""Snakemake glue for rule screen_records: automation rules, then human decisions per stage."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821  the package in this checkout (also under --use-conda)

from livingreview.logutil import run_step
from livingreview.screen_stage import run_screening

run_step(
    run_screening,
    snakemake.log[0],  # noqa: F821
    canonical=snakemake.input.canonical,  # noqa: F821
    clusters=snakemake.input.clusters,  # noqa: F821
    automation=list(snakemake.input.automation),  # noqa: F821  (one file per shard)
    rules=snakemake.input.rules,  # noqa: F821
    decisions=snakemake.input.decisions,  # noqa: F821
    studies=snakemake.input.studies,  # noqa: F821
    screening_out=snakemake.output.screening,  # noqa: F821
    performance_out=snakemake.output.performance,  # noqa: F821
    agreement_out=snakemake.output.agreement,  # noqa: F821
    ledger_out=snakemake.output.ledger,  # noqa: F821
)
