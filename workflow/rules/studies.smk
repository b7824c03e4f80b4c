rule link_studies:
    input:
        screening="results/screening/screening.tsv",
        canonical="results/dedup/canonical.tsv",
        clusters="results/dedup/clusters.tsv",
        studies=config["extraction"]["studies"],
    output:
        studies="results/studies/included_studies.tsv",
        reports="results/studies/reports.tsv",
        ledger="results/audit/stages/study.tsv",
    log:
        "logs/studies/link_studies.log",
    benchmark:
        "benchmarks/studies/link_studies.tsv"
    conda:
        "../envs/livingreview.yaml"
    script:
        "../scripts/link_studies.py"
