# Deduplication: candidate pairs in shard jobs (blocks split by a stable hash of the block key),
# then one job joining exact links and every shard's candidate links into clusters.


rule dedup_candidates:
    input:
        records="results/records/records.tsv",
    output:
        candidates="results/dedup/candidates/shard{shard}.tsv",
    params:
        n_shards=N_SHARDS,
    wildcard_constraints:
        shard=r"\d+",
    log:
        "logs/dedup/candidates_shard{shard}.log",
    benchmark:
        "benchmarks/dedup/candidates_shard{shard}.tsv"
    threads: 2
    script:
        "../scripts/dedup_candidates.py"


rule deduplicate_records:
    input:
        records="results/records/records.tsv",
        candidates=expand("results/dedup/candidates/shard{shard}.tsv", shard=SHARDS),
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
    threads: 2
    script:
        "../scripts/deduplicate_records.py"
