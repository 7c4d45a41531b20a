# Textured meshes: every sweep mesh decimated, unwrapped and baked from the photos (or the
# colour network) into mesh/it{N}_res{R}.glb, plus the configured levels of detail and OBJ.
# A GPU rule like extract (torch rasterises on CUDA when there is one, else on the CPU).


rule texture:
    input:
        unpack(texture_inputs),
    output:
        glb=report(
            "results/{scene}/{run}/mesh/it{iterations}_res{resolution}.glb",
            caption="../report/texture.rst",
            category="10. Textured meshes (GLB)",
            subcategory="{scene}",
            labels=eval_labels,
        ),
        stats="results/{scene}/{run}/mesh/it{iterations}_res{resolution}.texture.json",
        extra=texture_extra_outputs(),
    log:
        "results/{scene}/{run}/logs/texture_it{iterations}_res{resolution}.log",
    wildcard_constraints:
        iterations=r"\d+",
        resolution=r"\d+",
    conda:
        "../envs/video2mesh.yaml"
    resources:
        gpu=1,
    params:
        options=texture_args,
    shell:
        "python -m video2mesh texture --mesh {input.mesh:q} --transforms {input.transforms:q}"
        " {params.options} --threads {threads} --out {output.glb:q} --stats {output.stats:q} > {log:q} 2>&1"
