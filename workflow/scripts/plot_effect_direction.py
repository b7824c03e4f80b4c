"""Snakemake glue for rule plot_effect_direction: the SWiM effect-direction plot of every included study (SVG and PNG)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821  the package in this checkout (also under --use-conda)

from livingreview.logutil import run_step
from livingreview.plots import run_effect_direction_plot

run_step(
    run_effect_direction_plot,
    snakemake.log[0],  # noqa: F821
    direction_path=snakemake.input.direction,  # noqa: F821
    plot_out=snakemake.output.plot,  # noqa: F821
    png_out=snakemake.output.png,  # noqa: F821
    synthesis=snakemake.params.synthesis,  # noqa: F821
)
