rule pool_analysis:
    input:
        effects="results/synthesis/effects.tsv",
        studies=config["extraction"]["studies"],
    output:
        summary="results/synthesis/{analysis}.json",
        forest=report(
            "results/synthesis/{analysis}_forest.svg",
            caption="../report/forest.rst",
            category="Synthesis",
        ),
        forest_png=report(
            "results/synthesis/{analysis}_forest.png",
            caption="../report/forest.rst",
            category="Synthesis",
        ),
        funnel=report(
            "results/synthesis/{analysis}_funnel.svg",
            caption="../report/funnel.rst",
            category="Synthesis",
        ),
        funnel_png="results/synthesis/{analysis}_funnel.png",
        cumulative=report(
            "results/synthesis/{analysis}_cumulative.svg",
            caption="../report/cumulative.rst",
            category="Synthesis",
        ),
        cumulative_png="results/synthesis/{analysis}_cumulative.png",
    params:
        config=config,
    wildcard_constraints:
        analysis="|".join(ANALYSES) if ANALYSES else "NO_ANALYSIS",
    log:
        "logs/synthesis/pool_{analysis}.log",
    benchmark:
        "benchmarks/synthesis/pool_{analysis}.tsv"
    script:
        "../scripts/pool_analysis.py"


rule plot_effect_direction:
    input:
        direction="results/synthesis/effect_direction.tsv",
    output:
        plot=report(
            "results/synthesis/effect_direction.svg",
            caption="../report/effect_direction.rst",
            category="Synthesis",
        ),
        png=report(
            "results/synthesis/effect_direction.png",
            caption="../report/effect_direction.rst",
            category="Synthesis",
        ),
    log:
        "logs/synthesis/plot_effect_direction.log",
    script:
        "../scripts/plot_effect_direction.py"
