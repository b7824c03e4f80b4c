rule prisma_counts:
    input:
        ledger="results/audit/ledger.tsv",
        decisions=config["screening"]["decisions"],
    output:
        counts="results/prisma/counts.json",
        csv="results/prisma/PRISMA.csv",
    log:
        "logs/prisma/prisma_counts.log",
    benchmark:
        "benchmarks/prisma/prisma_counts.tsv"
    conda:
        "../envs/livingreview.yaml"
    params:
        code=CODE,
        config=config,
    script:
        "../scripts/prisma_counts.py"


rule prisma_diagram:
    input:
        counts="results/prisma/counts.json",
        template=workflow.source_path("../templates/prisma.svg.j2"),
    output:
        svg=report(
            "results/prisma/prisma.svg",
            caption="../report/prisma.rst",
            category="PRISMA",
        ),
        png="results/prisma/prisma.png",
    log:
        "logs/prisma/prisma_diagram.log",
    benchmark:
        "benchmarks/prisma/prisma_diagram.tsv"
    conda:
        "../envs/livingreview.yaml"
    params:
        code=CODE,
    script:
        "../scripts/prisma_diagram.py"
