"""Snakemake glue: PRISMA 2020 counts from the audit ledger (rule prisma_counts)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821  the package in this checkout (also under --use-conda)

from livingreview.logutil import run_step
from livingreview.prisma import run_prisma_counts

run_step(
    run_prisma_counts,
    snakemake.log[0],  # noqa: F821
    ledger=snakemake.input.ledger,  # noqa: F821
    decisions=snakemake.input.decisions,  # noqa: F821
    records=snakemake.input.records,  # noqa: F821
    canonical=snakemake.input.canonical,  # noqa: F821
    dedup_decisions=(list(snakemake.input.dedup_decisions) or [None])[0],  # noqa: F821  (optional: none when the file is absent)
    studies=snakemake.input.studies,  # noqa: F821
    config=snakemake.params.config,  # noqa: F821
    counts_out=snakemake.output.counts,  # noqa: F821
    csv_out=snakemake.output.csv,  # noqa: F821
)
