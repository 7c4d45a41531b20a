# Official Neuralangelo backend: NVIDIA's code as an external tool, at the run's pinned commit
# (the user accepts NVIDIA's licence: non-commercial use, NVIDIA GPUs). One source archive per
# run (fetched here), one config per chain, then segments and meshes as for the builtin backend.


include: "neuralangelo_helpers.smk"


rule neuralangelo_source:
    output:
        "results/neuralangelo/{run}/source.tar.gz",
    log:
        "results/neuralangelo/{run}/source.log",
    wildcard_constraints:
        run=one_of(neuralangelo_runs()),
    localrule: True
    conda:
        "../envs/video2mesh.yaml"
    params:
        run=run_config,
    shell:
        "python -m video2mesh official-source --run-config {params.run} --out {output:q} > {log:q} 2>&1"


rule neuralangelo_config:
    input:
        transforms="results/{scene}/transforms.json",
        source="results/neuralangelo/{run}/source.tar.gz",
    output:
        "results/{scene}/{run}/neuralangelo.yaml",
    log:
        "results/{scene}/{run}/logs/neuralangelo_config.log",
    wildcard_constraints:
        run=one_of(neuralangelo_runs()),
    localrule: True
    conda:
        "../envs/video2mesh.yaml"
    params:
        run=run_config,
        type=scene_type,
        iterations=" ".join(str(n) for n in ITERATIONS),
    shell:
        "python -m video2mesh official-config --transforms {input.transforms:q}"
        " --scene-type {params.type:q} --run-config {params.run}"
        " --iterations {params.iterations} --source {input.source:q}"
        " --out {output:q} > {log:q} 2>&1"


rule neuralangelo_train:
    input:
        unpack(neuralangelo_train_inputs),
    output:
        ckpt="results/{scene}/{run}/ckpt/it{iterations}.pt",
        metrics="results/{scene}/{run}/ckpt/it{iterations}.csv",
    log:
        "results/{scene}/{run}/logs/train_it{iterations}.log",
    wildcard_constraints:
        run=one_of(neuralangelo_runs()),
        iterations=r"\d+",
    conda:
        "../envs/video2mesh.yaml"
    container:
        neuralangelo_image
    resources:
        gpu=neuralangelo_gpus,
        gpu_model=neuralangelo_gpu_model,
    params:
        final=ITERATIONS[-1],
        resume=neuralangelo_resume_args,
    shell:
        "python -m video2mesh official-train --source {input.source:q} --config {input.config:q}"
        " --transforms {input.transforms:q} --images {input.images:q}"
        " --until {wildcards.iterations} --final {params.final} {params.resume}"
        " --gpus {resources.gpu} --out {output.ckpt:q} --metrics {output.metrics:q} > {log:q} 2>&1"


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
        run=one_of(neuralangelo_runs()),
        iterations=r"\d+",
        resolution=r"\d+",
    conda:
        "../envs/video2mesh.yaml"
    container:
        neuralangelo_image
    resources:
        gpu=neuralangelo_gpus,
        gpu_model=neuralangelo_gpu_model,
    params:
        options=neuralangelo_extract_args,
    shell:
        "python -m video2mesh official-extract --source {input.source:q} --config {input.config:q}"
        " --transforms {input.transforms:q} --ckpt {input.ckpt:q}"
        " --resolution {wildcards.resolution} {params.options} --gpus {resources.gpu}"
        " --out {output.mesh:q} --stats {output.stats:q} > {log:q} 2>&1"
