"""Snakemake glue for rule dedup_index: the blocking index of one run (logic in livingreview.dedup)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821  the package in this checkout (also under --use-conda)

from livingreview.dedup import run_index
from livingreview.logutil import run_step

run_step(
    run_index,
    snakemake.log[0],  # noqa: F821
    parts=list(snakemake.input.parts),  # noqa: F821
    out=snakemake.output.index,  # noqa: F821
)
