rule whats_new:
    input:
        records="results/records/records.tsv",
        clusters="results/dedup/clusters.tsv",
        screening="results/screening/screening.tsv",
        studies="results/studies/included_studies.tsv",
    output:
        new="results/update/{run_id}/new_records.tsv",
        todo="results/update/{run_id}/todo.tsv",
        summary="results/update/{run_id}/summary.json",
    log:
        "logs/update/whats_new_{run_id}.log",
    benchmark:
        "benchmarks/update/whats_new_{run_id}.tsv"
    conda:
        "../envs/livingreview.yaml"
    script:
        "../scripts/whats_new.py"
