rule compute_effects:
    input:
        outcomes=config["extraction"]["outcomes"],
        studies=config["extraction"]["studies"],
        included="results/studies/included_studies.tsv",
    output:
        effects="results/synthesis/effects.tsv",
        direction="results/synthesis/effect_direction.tsv",
    log:
        "logs/synthesis/compute_effects.log",
    benchmark:
        "benchmarks/synthesis/compute_effects.tsv"
    conda:
        "../envs/livingreview.yaml"
    params:
        config=config,
    script:
        "../scripts/compute_effects.py"
