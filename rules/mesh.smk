# Extraction: one mesh per (checkpoint, resolution), welded, in world units. A GPU rule.


rule extract:
    input:
        ckpt="results/{scene}/{run}/ckpt/it{iterations}.pt",
        transforms="results/{scene}/transforms.json",
    output:
        mesh="results/{scene}/{run}/mesh/it{iterations}_res{resolution}.ply",
        stats="results/{scene}/{run}/mesh/it{iterations}_res{resolution}.json",
    log:
        "results/{scene}/{run}/logs/extract_it{iterations}_res{resolution}.log",
    wildcard_constraints:
        run=one_of(BUILTIN_RUNS),
        iterations=r"\d+",
        resolution=r"\d+",
    conda:
        "../envs/video2mesh.yaml"
    resources:
        gpu=1,
    params:
        options=extract_args,
        isolate=isolate_args,
    shell:
        "python -m video2mesh extract --ckpt {input.ckpt:q} --resolution {wildcards.resolution}"
        " {params.options} --transforms {input.transforms:q} {params.isolate}"
        " --out {output.mesh:q} --stats {output.stats:q} > {log:q} 2>&1"
