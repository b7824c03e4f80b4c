rule render_report:
    input:
        ledger="results/audit/ledger.tsv",
        counts="results/prisma/counts.json",
        prisma="results/prisma/prisma.svg",
        canonical="results/dedup/canonical.tsv",
        maybe_pairs="results/dedup/maybe_pairs.tsv",
        dedup_decisions=optional_input(config["dedup"]["decisions"]),
        agreement="results/screening/agreement.json",
        studies="results/studies/included_studies.tsv",
        direction_tsv="results/synthesis/effect_direction.tsv",
        direction_svg="results/synthesis/effect_direction.svg",
        analyses=expand("results/synthesis/{analysis}.json", analysis=ANALYSES),
        forests=expand("results/synthesis/{analysis}_forest.svg", analysis=ANALYSES),
        cumulative=expand(
            "results/synthesis/{analysis}_cumulative.svg", analysis=ANALYSES
        ),
        funnels=expand("results/synthesis/{analysis}_funnel.svg", analysis=ANALYSES),
        update_summaries=expand("results/update/{run_id}/summary.json", run_id=RUN_IDS),
        rules=config["screening"]["rules"],
        risk_of_bias=optional_input(config["extraction"]["risk_of_bias"]),
        template_html=workflow.source_path("../templates/report.html.j2"),
        template_md=workflow.source_path("../templates/report.md.j2"),
    output:
        html=report(
            "results/report/index.html",
            caption="../report/report.rst",
            category="Report",
        ),
        md="results/report/report.md",
    log:
        "logs/report/render_report.log",
    benchmark:
        "benchmarks/report/render_report.tsv"
    conda:
        "../envs/livingreview.yaml"
    params:
        code=CODE,
        config=config,
        runs_root=RUNS_ROOT,
        configfiles=[str(f) for f in workflow.configfiles],
    script:
        "../scripts/render_report.py"
