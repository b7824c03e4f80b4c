"""Snakemake glue: PRISMA 2020 flow diagram as SVG and PNG (rule prisma_diagram)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821  the package in this checkout (also under --use-conda)

from livingreview.logutil import run_step
from livingreview.prisma_diagram import run_prisma_diagram

run_step(
    run_prisma_diagram,
    snakemake.log[0],  # noqa: F821
    counts=snakemake.input.counts,  # noqa: F821
    template=snakemake.input.template,  # noqa: F821
    svg_out=snakemake.output.svg,  # noqa: F821
    png_out=snakemake.output.png,  # noqa: F821
)
