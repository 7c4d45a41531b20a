# Wildcard bindings of rules/neuralangelo.smk to the Plan of common.smk (functions only, as
# snakemake --lint asks), prefixed `neuralangelo_`.


def neuralangelo_runs():
    return W.runs_of("neuralangelo")


def neuralangelo_gpus(wildcards):
    return W.gpus(wildcards.run)


def neuralangelo_gpu_model(wildcards):
    return W.gpu_model(wildcards.run)


def neuralangelo_image(wildcards):
    """The job image (the rules' container: directive), from the run or by GPU model."""
    from video2mesh.neuralangelo import OfficialRun, job_image

    return job_image(OfficialRun.from_config(RUNS[wildcards.run]))


def neuralangelo_train_inputs(wildcards):
    return W.train_inputs(wildcards.scene, wildcards.run, wildcards.iterations)


def neuralangelo_resume_args(wildcards, input):
    if "resume" not in input.keys():
        return ""
    return f"{quoted('--resume', input.resume)} {quoted('--resume-metrics', input.resume_metrics)}"


def neuralangelo_extract_args(wildcards):
    return W.extract_args(wildcards.run)
