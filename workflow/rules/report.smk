rule render_report:
    input:
        ledger="results/audit/ledger.tsv",
        counts="results/prisma/counts.json",
        prisma="results/prisma/prisma.svg",
        screening="results/screening/screening.tsv",
        performance="results/screening/rule_performance.tsv",
        studies="results/studies/included_studies.tsv",
        effects="results/synthesis/effects.tsv",
        direction="results/synthesis/effect_direction.svg",
        analyses=expand("results/synthesis/{analysis}.json", analysis=ANALYSES),
        forests=expand("results/synthesis/{analysis}_forest.svg", analysis=ANALYSES),
        updates=expand("results/update/{run_id}/new_records.tsv", run_id=RUN_IDS),
        update_summaries=expand("results/update/{run_id}/summary.json", run_id=RUN_IDS),
        template=workflow.source_path("../templates/report.html.j2"),
        template_md=workflow.source_path("../templates/report.md.j2"),
    output:
        html=report("results/report/index.html", caption="../report/report.rst", category="Report"),
        md="results/report/report.md",
    params:
        config=config,
        runs_root=RUNS_ROOT,
    log:
        "logs/report/render_report.log",
    script:
        "../scripts/render_report.py"
