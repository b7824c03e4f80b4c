"""Snakemake glue for rule screen_automation: the eligibility rules on one shard of a run's records."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821  the package in this checkout (also under --use-conda)

from livingreview.logutil import run_step
from livingreview.screen_stage import run_automation

run_step(
    run_automation,
    snakemake.log[0],  # noqa: F821
    records=list(snakemake.input.records),  # noqa: F821
    rules=snakemake.input.rules,  # noqa: F821
    shard=int(snakemake.wildcards.shard),  # noqa: F821
    n_shards=snakemake.params.n_shards,  # noqa: F821
    out=snakemake.output.automation,  # noqa: F821
)
