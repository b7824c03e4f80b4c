"""Snakemake glue for rule link_studies: full-text-included reports resolved to studies."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821  the package in this checkout (also under --use-conda)

from livingreview.logutil import run_step
from livingreview.studies import run_link_studies

run_step(
    run_link_studies,
    snakemake.log[0],  # noqa: F821
    screening=snakemake.input.screening,  # noqa: F821
    canonical=snakemake.input.canonical,  # noqa: F821
    clusters=snakemake.input.clusters,  # noqa: F821
    studies=snakemake.input.studies,  # noqa: F821
    studies_out=snakemake.output.studies,  # noqa: F821
    reports_out=snakemake.output.reports,  # noqa: F821
    ledger_out=snakemake.output.ledger,  # noqa: F821
)
