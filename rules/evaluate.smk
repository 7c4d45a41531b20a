# Evaluate and render every mesh of the sweep (local, CPU): metrics against the scene's
# reference (or the run's finest mesh when the scene has none), thumbnails, grid per run.


include: "report_helpers.smk"


rule evaluate:
    input:
        mesh="results/{scene}/{run}/mesh/it{iterations}_res{resolution}.ply",
        reference=eval_reference,
        alignment=eval_alignment,
        silhouette=eval_silhouette,
        transforms="results/{scene}/transforms.json",
    output:
        "results/{scene}/{run}/eval/it{iterations}_res{resolution}.json",
    log:
        "results/{scene}/{run}/logs/evaluate_it{iterations}_res{resolution}.log",
    wildcard_constraints:
        iterations=r"\d+",
        resolution=r"\d+",
    localrule: True
    conda:
        "../envs/video2mesh.yaml"
    params:
        kind=eval_reference_kind,
        alignment=eval_alignment_arg,
        silhouette=eval_silhouette_arg,
        samples=config.get("evaluate", {}).get("samples", 100000),
    shell:
        "python -m video2mesh evaluate --mesh {input.mesh:q} --reference {input.reference:q}"
        " --reference-kind {params.kind} --transforms {input.transforms:q} {params.alignment}"
        " {params.silhouette} --samples {params.samples} --output {output:q} > {log:q} 2>&1"


# Scenes with object masks (reference_masks, seen by reference_cameras): the mesh's silhouettes
# under those cameras, the SfM frame aligned to theirs on the camera centres.
rule silhouette:
    input:
        unpack(silhouette_inputs),
        mesh="results/{scene}/{run}/mesh/it{iterations}_res{resolution}.ply",
    output:
        "results/{scene}/{run}/eval/it{iterations}_res{resolution}.silhouette.json",
    log:
        "results/{scene}/{run}/logs/silhouette_it{iterations}_res{resolution}.log",
    wildcard_constraints:
        iterations=r"\d+",
        resolution=r"\d+",
    localrule: True
    conda:
        "../envs/video2mesh.yaml"
    params:
        masks=silhouette_masks,
    shell:
        "python -m video2mesh silhouette --mesh {input.mesh:q} --cameras {input.cameras:q}"
        ' --masks {params.masks:q} --sparse "$(dirname {input.model[0]:q})"'
        " --out {output:q} > {log:q} 2>&1"


rule render:
    input:
        mesh="results/{scene}/{run}/mesh/it{iterations}_res{resolution}.ply",
        transforms="results/{scene}/transforms.json",
        reference=eval_framing_reference,
    output:
        report(
            "results/{scene}/{run}/eval/it{iterations}_res{resolution}.png",
            caption="../report/render.rst",
            category="6. Meshes",
            subcategory="{scene}",
            labels=eval_labels,
        ),
    log:
        "results/{scene}/{run}/logs/render_it{iterations}_res{resolution}.log",
    wildcard_constraints:
        iterations=r"\d+",
        resolution=r"\d+",
    localrule: True
    conda:
        "../envs/video2mesh.yaml"
    params:
        reference=eval_reference_arg,
    shell:
        "python -m video2mesh render --mesh {input.mesh:q} --transforms {input.transforms:q}"
        " {params.reference} --output {output:q} > {log:q} 2>&1"


rule render_grid:
    input:
        expand(
            "results/{{scene}}/{{run}}/eval/it{iterations}_res{resolution}.png",
            iterations=ITERATIONS,
            resolution=RESOLUTIONS,
        ),
    output:
        report(
            "results/{scene}/{run}/eval/grid.png",
            caption="../report/grid.rst",
            category="7. Sweep grids",
            subcategory="{scene}",
            labels={"scene": "{scene}", "run": "{run}"},
        ),
    log:
        "results/{scene}/{run}/logs/render_grid.log",
    localrule: True
    conda:
        "../envs/video2mesh.yaml"
    params:
        title="{scene} / {run}",
    shell:
        "python -m video2mesh render-grid --images {input:q} --title {params.title:q}"
        " --output {output:q} > {log:q} 2>&1"
