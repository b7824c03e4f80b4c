# Import: one job per archived file (parse + checks), then one job merging the per-file tables.
# Files of earlier runs are not imported again when a run is added: only the merge re-runs.
IMPORT_FILES = RUNS.files


rule import_file:
    input:
        manifest=f"{RUNS_ROOT}/{{run_id}}/manifest.json",
        file=f"{RUNS_ROOT}/{{run_id}}/{{file}}",
    output:
        records="results/records/parts/{run_id}/{file}.tsv",
        ledger="results/audit/stages/identification_parts/{run_id}/{file}.tsv",
    log:
        "logs/import/{run_id}/{file}.log",
    benchmark:
        "benchmarks/import/{run_id}/{file}.tsv"
    wildcard_constraints:
        run_id="[^/]+",
        file="[^/]+",
    conda:
        "../envs/livingreview.yaml"
    params:
        code=CODE,
        run_dir=lambda wildcards: f"{RUNS_ROOT}/{wildcards.run_id}",
    script:
        "../scripts/import_file.py"


rule import_records:
    input:
        manifests=[f"{RUNS_ROOT}/{run_id}/manifest.json" for run_id in RUN_IDS],
        parts=[
            f"results/records/parts/{run_id}/{name}.tsv"
            for run_id, name in IMPORT_FILES
        ],
        ledgers=[
            f"results/audit/stages/identification_parts/{run_id}/{name}.tsv"
            for run_id, name in IMPORT_FILES
        ],
    output:
        records="results/records/records.tsv",
        ledger="results/audit/stages/identification.tsv",
    log:
        "logs/import/import_records.log",
    benchmark:
        "benchmarks/import/import_records.tsv"
    conda:
        "../envs/livingreview.yaml"
    params:
        code=CODE,
    script:
        "../scripts/import_records.py"
