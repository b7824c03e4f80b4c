"""Snakemake glue for rule pool_analysis: one configured analysis -> JSON, forest, funnel and cumulative plots (SVG and PNG)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821  the package in this checkout (also under --use-conda)

from livingreview.logutil import run_step
from livingreview.meta import run_pool_analysis

run_step(
    run_pool_analysis,
    snakemake.log[0],  # noqa: F821
    effects_path=snakemake.input.effects,  # noqa: F821
    studies_path=snakemake.input.studies,  # noqa: F821
    analysis_id=snakemake.wildcards.analysis,  # noqa: F821
    synthesis=snakemake.params.config["synthesis"],  # noqa: F821
    summary_out=snakemake.output.summary,  # noqa: F821
    forest_out=snakemake.output.forest,  # noqa: F821
    funnel_out=snakemake.output.funnel,  # noqa: F821
    cumulative_out=snakemake.output.cumulative,  # noqa: F821
    forest_png_out=snakemake.output.forest_png,  # noqa: F821
    funnel_png_out=snakemake.output.funnel_png,  # noqa: F821
    cumulative_png_out=snakemake.output.cumulative_png,  # noqa: F821
    update_summaries=list(snakemake.input.update_summaries),  # noqa: F821
)
