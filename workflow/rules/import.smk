rule import_records:
    input:
        files=run_file_paths(RUNS_ROOT),
    output:
        records="results/records/records.tsv",
        ledger="results/audit/stages/identification.tsv",
    params:
        runs_root=RUNS_ROOT,
    log:
        "logs/import/import_records.log",
    benchmark:
        "benchmarks/import/import_records.tsv"
    script:
        "../scripts/import_records.py"
