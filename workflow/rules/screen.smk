# Screening: the automation rules in shard jobs (clusters split by a stable hash of cluster_id),
# then one job applying the human decisions to the rules' stored results.


rule screen_automation:
    input:
        canonical="results/dedup/canonical.tsv",
        rules=config["screening"]["rules"],
    output:
        automation="results/screening/automation/shard{shard}.tsv",
    params:
        n_shards=N_SHARDS,
    wildcard_constraints:
        shard=r"\d+",
    log:
        "logs/screen/automation_shard{shard}.log",
    benchmark:
        "benchmarks/screen/automation_shard{shard}.tsv"
    script:
        "../scripts/screen_automation.py"


rule screen_records:
    input:
        canonical="results/dedup/canonical.tsv",
        clusters="results/dedup/clusters.tsv",
        automation=expand("results/screening/automation/shard{shard}.tsv", shard=SHARDS),
        rules=config["screening"]["rules"],
        decisions=config["screening"]["decisions"],
        studies=config["extraction"]["studies"],
    output:
        screening="results/screening/screening.tsv",
        performance="results/screening/rule_performance.tsv",
        agreement="results/screening/agreement.json",
        ledger="results/audit/stages/screening.tsv",
    params:
        config=config,
    log:
        "logs/screen/screen_records.log",
    benchmark:
        "benchmarks/screen/screen_records.tsv"
    script:
        "../scripts/screen_records.py"
