# What each run added: one job for every run, so the whole-review tables are read once however
# many monthly runs the review has.


rule whats_new:
    input:
        records="results/records/records.tsv",
        clusters="results/dedup/clusters.tsv",
        screening="results/screening/screening.tsv",
        studies="results/studies/included_studies.tsv",
        decisions=config["screening"]["decisions"],
        rules=config["screening"]["rules"],
    output:
        new=expand("results/update/{run_id}/new_records.tsv", run_id=RUN_IDS),
        todo=expand("results/update/{run_id}/todo.tsv", run_id=RUN_IDS),
        summary=expand("results/update/{run_id}/summary.json", run_id=RUN_IDS),
    log:
        "logs/update/whats_new.log",
    benchmark:
        "benchmarks/update/whats_new.tsv"
    conda:
        "../envs/livingreview.yaml"
    params:
        code=CODE,
        run_ids=RUN_IDS,
    script:
        "../scripts/whats_new.py"
