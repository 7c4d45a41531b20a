# Official Neuralangelo backend: NVIDIA's code as an external tool, at the run's pinned commit
# (the user accepts NVIDIA's licence: non-commercial use, NVIDIA GPUs). These rules make what its
# segments and meshes need (video2mesh.backends.official asks for them): one source archive per
# run and one config per chain. Segments and meshes are the `train` and `extract` rules.


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
