"""Snakemake glue for rule deduplicate_records (logic in livingreview.dedup)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821  the package in this checkout (also under --use-conda)

from livingreview.dedup import run_dedup
from livingreview.logutil import run_step

run_step(
    run_dedup,
    snakemake.log[0],  # noqa: F821
    records=snakemake.input.records,  # noqa: F821
    candidates=list(snakemake.input.candidates),  # noqa: F821  (one file per run and shard)
    index=list(snakemake.input.index),  # noqa: F821  (one blocking index per run)
    decisions=snakemake.input.decisions,  # noqa: F821  (a list: empty when the file is absent)
    clusters_out=snakemake.output.clusters,  # noqa: F821
    maybe_out=snakemake.output.maybe_pairs,  # noqa: F821
    canonical_out=snakemake.output.canonical,  # noqa: F821
    provenance_out=snakemake.output.provenance,  # noqa: F821
    ledger_out=snakemake.output.ledger,  # noqa: F821
    workers=snakemake.threads,  # noqa: F821
)
