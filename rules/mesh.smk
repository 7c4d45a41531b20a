# Extraction: one mesh per (checkpoint, resolution), welded, in world units. A GPU rule.


rule extract:
    input:
        unpack(extract_inputs),
    output:
        mesh="results/{scene}/{run}/mesh/it{iterations}_res{resolution}.ply",
        stats="results/{scene}/{run}/mesh/it{iterations}_res{resolution}.json",
    log:
        "results/{scene}/{run}/logs/extract_it{iterations}_res{resolution}.log",
    wildcard_constraints:
        run=one_of(RUNS),
        iterations=r"\d+",
        resolution=r"\d+",
    conda:
        "../envs/video2mesh.yaml"
    container:
        backend_image
    resources:
        gpu=backend_gpus,
        gpu_model=backend_gpu_model,
    params:
        run=run_config,
        inputs=backend_input_args,
        isolate=isolate_args,
    shell:
        "python -m video2mesh mesh --run-config {params.run} --ckpt {input.ckpt:q}"
        " --resolution {wildcards.resolution} {params.inputs}"
        " --transforms {input.transforms:q} {params.isolate}"
        " --out {output.mesh:q} --stats {output.stats:q} > {log:q} 2>&1"
