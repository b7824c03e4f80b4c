rule assemble_ledger:
    input:
        identification="results/audit/stages/identification.tsv",
        dedup="results/audit/stages/dedup.tsv",
        screening="results/audit/stages/screening.tsv",
        study="results/audit/stages/study.tsv",
    output:
        ledger="results/audit/ledger.tsv",
    log:
        "logs/audit/assemble_ledger.log",
    benchmark:
        "benchmarks/audit/assemble_ledger.tsv"
    conda:
        "../envs/livingreview.yaml"
    params:
        code=CODE,
    script:
        "../scripts/assemble_ledger.py"
