"""Snakemake glue for rule compute_effects: effect sizes per analysis and the SWiM effect-direction table."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821  the package in this checkout (also under --use-conda)

from livingreview.effects import run_compute_effects
from livingreview.logutil import run_step

run_step(
    run_compute_effects,
    snakemake.log[0],  # noqa: F821
    outcomes_path=snakemake.input.outcomes,  # noqa: F821
    studies_path=snakemake.input.studies,  # noqa: F821
    included_path=snakemake.input.included,  # noqa: F821
    synthesis=snakemake.params.config["synthesis"],  # noqa: F821
    effects_out=snakemake.output.effects,  # noqa: F821
    direction_out=snakemake.output.direction,  # noqa: F821
)
