# Deduplication, incremental per run: a blocking index per run, then candidate-pair jobs per run and
# shard (a run's records against themselves and every earlier run; blocks split by a stable hash of
# the block key), then one job joining exact links and every candidate part into clusters. Adding a
# run adds jobs for that run only; the jobs of earlier runs keep their outputs.


rule dedup_index:
    input:
        parts=lambda wildcards: run_parts(wildcards.run_id),
    output:
        index="results/dedup/index/{run_id}.tsv",
    log:
        "logs/dedup/index_{run_id}.log",
    benchmark:
        "benchmarks/dedup/index_{run_id}.tsv"
    wildcard_constraints:
        run_id="[^/]+",
    conda:
        "../envs/livingreview.yaml"
    params:
        code=CODE,
    script:
        "../scripts/dedup_index.py"


rule dedup_candidates:
    input:
        index=lambda wildcards: [
            f"results/dedup/index/{r}.tsv" for r in runs_up_to(wildcards.run_id)
        ],
    output:
        candidates="results/dedup/candidates/{run_id}/shard{shard}.tsv",
    log:
        "logs/dedup/candidates_{run_id}_shard{shard}.log",
    benchmark:
        "benchmarks/dedup/candidates_{run_id}_shard{shard}.tsv"
    wildcard_constraints:
        run_id="[^/]+",
        shard=r"\d+",
    conda:
        "../envs/livingreview.yaml"
    threads: 2
    params:
        code=CODE,
        n_shards=lambda wildcards: RUN_SHARDS[wildcards.run_id],
    script:
        "../scripts/dedup_candidates.py"


rule deduplicate_records:
    input:
        records="results/records/records.tsv",
        candidates=[
            f"results/dedup/candidates/{run_id}/shard{shard}.tsv"
            for run_id, shard in RUN_SHARD_PAIRS
        ],
        index=[f"results/dedup/index/{run_id}.tsv" for run_id in RUN_IDS],
        decisions=optional_input(config["dedup"]["decisions"]),
    output:
        clusters="results/dedup/clusters.tsv",
        maybe_pairs="results/dedup/maybe_pairs.tsv",
        canonical="results/dedup/canonical.tsv",
        provenance="results/dedup/provenance.tsv",
        ledger="results/audit/stages/dedup.tsv",
    log:
        "logs/dedup/deduplicate_records.log",
    benchmark:
        "benchmarks/dedup/deduplicate_records.tsv"
    conda:
        "../envs/livingreview.yaml"
    threads: 2
    params:
        code=CODE,
    script:
        "../scripts/deduplicate_records.py"
