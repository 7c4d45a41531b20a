# Helpers of rules/neuralangelo.smk (functions only, as snakemake --lint asks).


def neuralangelo_runs():
    return W.runs_of("neuralangelo")
