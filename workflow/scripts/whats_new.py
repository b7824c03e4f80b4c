"""Snakemake glue for rule whats_new: new clusters, to-do list and summary of every run (logic in livingreview.update)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821  the package in this checkout (also under --use-conda)

from livingreview.logutil import run_step
from livingreview.update import run_whats_new

run_step(
    run_whats_new,
    snakemake.log[0],  # noqa: F821
    run_ids=list(snakemake.params.run_ids),  # noqa: F821
    records=snakemake.input.records,  # noqa: F821
    clusters=snakemake.input.clusters,  # noqa: F821
    screening=snakemake.input.screening,  # noqa: F821
    studies=snakemake.input.studies,  # noqa: F821
    decisions=snakemake.input.decisions,  # noqa: F821
    rules=snakemake.input.rules,  # noqa: F821
    new_out=list(snakemake.output.new),  # noqa: F821  (one path per run, in run order)
    todo_out=list(snakemake.output.todo),  # noqa: F821
    summary_out=list(snakemake.output.summary),  # noqa: F821
)
