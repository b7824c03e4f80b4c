"""Snakemake glue for rule import_records: join the per-file tables into records.tsv (runs verified again)."""

from livingreview.importer import merge_parts
from livingreview.logutil import run_step

run_step(
    merge_parts,
    snakemake.log[0],  # noqa: F821
    runs_root=snakemake.params.runs_root,  # noqa: F821
    parts_dir=snakemake.params.parts_dir,  # noqa: F821
    ledger_parts_dir=snakemake.params.ledger_parts_dir,  # noqa: F821
    records_out=snakemake.output.records,  # noqa: F821
    ledger_out=snakemake.output.ledger,  # noqa: F821
)
