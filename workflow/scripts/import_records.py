"""Snakemake glue for rule import_records: join the per-file tables into records.tsv (runs verified again)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821  the package in this checkout (also under --use-conda)

from livingreview.importer import merge_parts
from livingreview.logutil import run_step

run_step(
    merge_parts,
    snakemake.log[0],  # noqa: F821
    runs_root=snakemake.config["searches"]["root"],  # noqa: F821
    # the per-file tables of rule import_file live beside the merged outputs
    parts_dir=str(Path(snakemake.output.records).parent / "parts"),  # noqa: F821
    ledger_parts_dir=str(Path(snakemake.output.ledger).parent / "identification_parts"),  # noqa: F821
    records_out=snakemake.output.records,  # noqa: F821
    ledger_out=snakemake.output.ledger,  # noqa: F821
)
