# Official Neuralangelo backend: NVIDIA's code as an external tool, at the run's pinned commit
# (the user accepts NVIDIA's licence: non-commercial use, NVIDIA GPUs). One source archive per
# run (fetched here), one config per chain, then segments and meshes as for the builtin backend.
# Helpers are prefixed `neuralangelo_` (functions only).

NEURALANGELO_RUNS = [r for r, c in RUNS.items() if c["backend"] == "neuralangelo"]


def neuralangelo_gpus(wildcards):
    return int(RUNS[wildcards.run].get("gpus", 1))


def neuralangelo_gpu_model(wildcards):
    return str(RUNS[wildcards.run].get("gpu_model", ""))


def neuralangelo_image(wildcards):
    """The job image (rule resource ovh_image): the run's image, else by GPU model."""
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


rule neuralangelo_source:
    output:
        "results/neuralangelo/{run}/source.tar.gz",
    log:
        "results/neuralangelo/{run}/source.log",
    wildcard_constraints:
        run=one_of(NEURALANGELO_RUNS),
    localrule: True
    conda:
        "../envs/video2mesh.yaml"
    params:
        run=run_config,
    shell:
        "python -m video2mesh official-source --run-config {params.run} --out {output} > {log} 2>&1"


rule neuralangelo_config:
    input:
        transforms="results/{scene}/transforms.json",
        source="results/neuralangelo/{run}/source.tar.gz",
    output:
        "results/{scene}/{run}/neuralangelo.yaml",
    log:
        "results/{scene}/{run}/logs/neuralangelo_config.log",
    wildcard_constraints:
        run=one_of(NEURALANGELO_RUNS),
    localrule: True
    conda:
        "../envs/video2mesh.yaml"
    params:
        run=run_config,
        type=scene_type,
        iterations=" ".join(str(n) for n in ITERATIONS),
    shell:
        "python -m video2mesh official-config --transforms {input.transforms}"
        " --scene-type {params.type} --run-config {params.run}"
        " --iterations {params.iterations} --source {input.source} --out {output} > {log} 2>&1"


rule neuralangelo_train:
    input:
        unpack(neuralangelo_train_inputs),
    output:
        ckpt="results/{scene}/{run}/ckpt/it{iterations}.pt",
        metrics="results/{scene}/{run}/ckpt/it{iterations}.csv",
    log:
        "results/{scene}/{run}/logs/train_it{iterations}.log",
    wildcard_constraints:
        run=one_of(NEURALANGELO_RUNS),
        iterations=r"\d+",
    conda:
        "../envs/video2mesh.yaml"
    resources:
        gpu=neuralangelo_gpus,
        gpu_model=neuralangelo_gpu_model,
        ovh_image=neuralangelo_image,
    params:
        final=ITERATIONS[-1],
        resume=neuralangelo_resume_args,
    shell:
        "python -m video2mesh official-train --source {input.source} --config {input.config}"
        " --transforms {input.transforms} --images {input.images}"
        " --until {wildcards.iterations} --final {params.final} {params.resume}"
        " --gpus {resources.gpu} --out {output.ckpt} --metrics {output.metrics} > {log} 2>&1"


rule neuralangelo_extract:
    input:
        source="results/neuralangelo/{run}/source.tar.gz",
        config="results/{scene}/{run}/neuralangelo.yaml",
        transforms="results/{scene}/transforms.json",
        ckpt="results/{scene}/{run}/ckpt/it{iterations}.pt",
    output:
        mesh="results/{scene}/{run}/mesh/it{iterations}_res{resolution}.ply",
        stats="results/{scene}/{run}/mesh/it{iterations}_res{resolution}.json",
    log:
        "results/{scene}/{run}/logs/extract_it{iterations}_res{resolution}.log",
    wildcard_constraints:
        run=one_of(NEURALANGELO_RUNS),
        iterations=r"\d+",
        resolution=r"\d+",
    conda:
        "../envs/video2mesh.yaml"
    resources:
        gpu=neuralangelo_gpus,
        gpu_model=neuralangelo_gpu_model,
        ovh_image=neuralangelo_image,
    params:
        options=neuralangelo_extract_args,
    shell:
        "python -m video2mesh official-extract --source {input.source} --config {input.config}"
        " --transforms {input.transforms} --ckpt {input.ckpt}"
        " --resolution {wildcards.resolution} {params.options} --gpus {resources.gpu}"
        " --out {output.mesh} --stats {output.stats} > {log} 2>&1"
