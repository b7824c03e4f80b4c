rule deduplicate_records:
    input:
        records="results/records/records.tsv",
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
