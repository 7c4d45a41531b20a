# Helpers of rules/neuralangelo.smk (functions only, as snakemake --lint asks), prefixed
# `neuralangelo_`; they read `config` through common.smk's RUNS and previous_iteration.


def neuralangelo_runs():
    return [r for r, c in RUNS.items() if c["backend"] == "neuralangelo"]


def neuralangelo_gpus(wildcards):
    return int(RUNS[wildcards.run].get("gpus", 1))


def neuralangelo_gpu_model(wildcards):
    return RUNS[wildcards.run].get("gpu_model") or None


def neuralangelo_image(wildcards):
    """The job image (the rules' container: directive), from the run or by GPU model."""
    import sys

    src = f"{workflow.basedir}/src"
    if src not in sys.path:
        sys.path.insert(0, src)
    from video2mesh.neuralangelo import OfficialRun, job_image

    return job_image(OfficialRun.from_config(RUNS[wildcards.run]))


def neuralangelo_train_inputs(wildcards):
    scene, run = wildcards.scene, wildcards.run
    out = {
        "source": f"results/neuralangelo/{run}/source.tar.gz",
        "config": f"results/{scene}/{run}/neuralangelo.yaml",
        "transforms": f"results/{scene}/transforms.json",
        "images": f"results/{scene}/sfm/images.tar",
    }
    prev = previous_iteration(wildcards)
    if prev:
        out["resume"] = f"results/{scene}/{run}/ckpt/it{prev}.pt"
        out["resume_metrics"] = f"results/{scene}/{run}/ckpt/it{prev}.csv"
    return out


def neuralangelo_resume_args(wildcards, input):
    if "resume" not in input.keys():
        return ""
    return f"--resume {input.resume} --resume-metrics {input.resume_metrics}"


def neuralangelo_extract_args(wildcards):
    """Options of `runs: {run: {extract: {block, keep_largest, colors}}}`."""
    opts = RUNS[wildcards.run].get("extract", {})
    args = ["--block", str(int(opts.get("block", 128)))]
    if opts.get("keep_largest"):
        args.append("--keep-largest")
    if opts.get("colors") is False:
        args.append("--no-colors")
    return " ".join(args)
