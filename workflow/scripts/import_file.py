"""Snakemake glue for rule import_file: verify and parse one archived file into its part tables."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821  the package in this checkout (also under --use-conda)

from livingreview.importer import import_file
from livingreview.logutil import run_step

run_step(
    import_file,
    snakemake.log[0],  # noqa: F821
    run_dir=snakemake.params.run_dir,  # noqa: F821
    file_name=snakemake.wildcards.file,  # noqa: F821
    records_out=snakemake.output.records,  # noqa: F821
    ledger_out=snakemake.output.ledger,  # noqa: F821
)
