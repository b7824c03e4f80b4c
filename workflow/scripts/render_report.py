"""Snakemake glue: the HTML and Markdown report (rule render_report)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821  the package in this checkout (also under --use-conda)

from livingreview.logutil import run_step
from livingreview.report import run_render_report

run_step(
    run_render_report,
    snakemake.log[0],  # noqa: F821
    config=snakemake.params.config,  # noqa: F821
    ledger=snakemake.input.ledger,  # noqa: F821
    counts=snakemake.input.counts,  # noqa: F821
    prisma=snakemake.input.prisma,  # noqa: F821
    canonical=snakemake.input.canonical,  # noqa: F821
    studies=snakemake.input.studies,  # noqa: F821
    direction_tsv=snakemake.input.direction_tsv,  # noqa: F821
    direction_svg=snakemake.input.direction_svg,  # noqa: F821
    analyses=list(snakemake.input.analyses),  # noqa: F821
    update_summaries=list(snakemake.input.update_summaries),  # noqa: F821
    runs_root=snakemake.params.runs_root,  # noqa: F821
    configfiles=list(snakemake.params.configfiles),  # noqa: F821
    template_html=snakemake.input.template_html,  # noqa: F821
    template_md=snakemake.input.template_md,  # noqa: F821
    html_out=snakemake.output.html,  # noqa: F821
    md_out=snakemake.output.md,  # noqa: F821
    risk_of_bias_tsv=list(snakemake.input.risk_of_bias),  # noqa: F821
    agreement=snakemake.input.agreement,  # noqa: F821
    maybe_pairs=snakemake.input.maybe_pairs,  # noqa: F821
    dedup_decisions=list(snakemake.input.dedup_decisions),  # noqa: F821
)
