"""Snakemake glue for rule dedup_candidates: the pairs one run adds, in one shard (logic in livingreview.dedup)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821  the package in this checkout (also under --use-conda)

from livingreview.dedup import run_candidates
from livingreview.logutil import run_step

run_step(
    run_candidates,
    snakemake.log[0],  # noqa: F821
    index=list(snakemake.input.index),  # noqa: F821
    run_id=snakemake.wildcards.run_id,  # noqa: F821
    shard=int(snakemake.wildcards.shard),  # noqa: F821
    n_shards=snakemake.params.n_shards,  # noqa: F821
    out=snakemake.output.candidates,  # noqa: F821
    workers=snakemake.threads,  # noqa: F821
)
