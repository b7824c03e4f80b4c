"""Snakemake glue for rule import_records: verify and parse every archived run."""

from livingreview.importer import run_import
from livingreview.logutil import run_step

run_step(
    run_import,
    snakemake.log[0],  # noqa: F821
    runs_root=snakemake.params.runs_root,  # noqa: F821
    records_out=snakemake.output.records,  # noqa: F821
    ledger_out=snakemake.output.ledger,  # noqa: F821
)
