"""Snakemake glue for rule assemble_ledger: stage fragments -> one checked ledger."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821  the package in this checkout (also under --use-conda)

from livingreview.ledger import run_assemble_ledger
from livingreview.logutil import run_step

run_step(
    run_assemble_ledger,
    snakemake.log[0],  # noqa: F821
    identification=snakemake.input.identification,  # noqa: F821
    dedup=snakemake.input.dedup,  # noqa: F821
    screening=snakemake.input.screening,  # noqa: F821
    study=snakemake.input.study,  # noqa: F821
    ledger_out=snakemake.output.ledger,  # noqa: F821
)
