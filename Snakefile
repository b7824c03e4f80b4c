# Entry point: `snakemake --cores 4` rebuilds the review from the archived inputs.
include: "workflow/Snakefile"


# Snakemake keeps the default target of the main Snakefile only (an included file's
# `default_target: True` is discarded), so the default is declared here: everything `all` builds.
rule default:
    default_target: True
    input:
        rules.all.input,
