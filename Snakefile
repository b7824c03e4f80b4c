# Entry point: `snakemake --cores 4` rebuilds the review from the archived inputs.
include: "workflow/Snakefile"
