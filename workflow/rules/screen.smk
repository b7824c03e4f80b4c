# Screening: the automation rules in jobs per run and shard (records split by a stable hash of
# record_id; a run's results never change when later runs are added), then one job applying the
# human decisions to the stored results (the rules run again only on a merged canonical record
# whose screened fields differ from its own record's).


rule screen_automation:
    input:
        records=lambda wildcards: run_parts(wildcards.run_id),
        rules=config["screening"]["rules"],
    output:
        automation="results/screening/automation/{run_id}/shard{shard}.tsv",
    log:
        "logs/screen/automation_{run_id}_shard{shard}.log",
    benchmark:
        "benchmarks/screen/automation_{run_id}_shard{shard}.tsv"
    wildcard_constraints:
        run_id="[^/]+",
        shard=r"\d+",
    conda:
        "../envs/livingreview.yaml"
    params:
        code=CODE,
        n_shards=lambda wildcards: RUN_SHARDS[wildcards.run_id],
    script:
        "../scripts/screen_automation.py"


rule screen_records:
    input:
        canonical="results/dedup/canonical.tsv",
        clusters="results/dedup/clusters.tsv",
        automation=[
            f"results/screening/automation/{run_id}/shard{shard}.tsv"
            for run_id, shard in RUN_SHARD_PAIRS
        ],
        rules=config["screening"]["rules"],
        decisions=config["screening"]["decisions"],
        studies=config["extraction"]["studies"],
    output:
        screening="results/screening/screening.tsv",
        performance="results/screening/rule_performance.tsv",
        agreement="results/screening/agreement.json",
        ledger="results/audit/stages/screening.tsv",
    log:
        "logs/screen/screen_records.log",
    benchmark:
        "benchmarks/screen/screen_records.tsv"
    conda:
        "../envs/livingreview.yaml"
    params:
        code=CODE,
        config=config,
    script:
        "../scripts/screen_records.py"
