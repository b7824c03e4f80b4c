"""Snakemake glue for rule whats_new: new clusters, to-do list and summary of every run (logic in livingreview.update)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821  the package in this checkout (also under --use-conda)

from livingreview.logutil import run_step
from livingreview.update import run_whats_new

run_step(
    run_whats_new,
    snakemake.log[0],
    run_ids=list(snakemake.params.run_ids),
    records=snakemake.input.records,
    clusters=snakemake.input.clusters,
    screening=snakemake.input.screening,
    studies=snakemake.input.studies,
    new_out=list(snakemake.output.new),
    todo_out=list(snakemake.output.todo),
    summary_out=list(snakemake.output.summary),
)
