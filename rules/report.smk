# The comparison report: summary table, curves and the 3D viewer per scene.
# Needs rules/evaluate.smk (which includes the helpers) to be included first.


rule summary:
    input:
        stats=report_sweep(
            "results/{scene}/{run}/mesh/it{iterations}_res{resolution}.json"
        ),
        evals=report_sweep(
            "results/{scene}/{run}/eval/it{iterations}_res{resolution}.json"
        ),
        train=report_sweep(
            "results/{scene}/{run}/ckpt/it{iterations}.csv", resolution=0
        ),
    output:
        csv=report(
            "results/summary.csv",
            caption="../report/summary_csv.rst",
            category="0. Summary",
            labels={"table": "summary.csv (download)"},
        ),
        html=report(
            "results/summary.html",
            caption="../report/summary.rst",
            category="0. Summary",
            labels={"table": "all meshes"},
        ),
    log:
        "results/logs/summary.log",
    localrule: True
    conda:
        "../envs/video2mesh.yaml"
    params:
        options=report_summary_options(),
    shell:
        "python -m video2mesh summary --stats {input.stats:q} --evals {input.evals:q}"
        " --train-csvs {input.train:q} {params.options}"
        " --output {output.csv:q} --html {output.html:q} > {log:q} 2>&1"


rule curves:
    input:
        summary="results/summary.csv",
        train=lambda wildcards: report_sweep(
            "results/{scene}/{run}/ckpt/it{iterations}.csv",
            scene=wildcards.scene,
            resolution=0,
        ),
    output:
        training=report(
            "results/{scene}/curves/training.png",
            caption="../report/training.rst",
            category="8. Curves",
            subcategory="{scene}",
            labels={"scene": "{scene}", "curve": "training"},
        ),
        quality=report(
            "results/{scene}/curves/quality.png",
            caption="../report/quality.rst",
            category="8. Curves",
            subcategory="{scene}",
            labels={"scene": "{scene}", "curve": "quality"},
        ),
        time=report(
            "results/{scene}/curves/time.png",
            caption="../report/time.rst",
            category="8. Curves",
            subcategory="{scene}",
            labels={"scene": "{scene}", "curve": "time"},
        ),
    log:
        "results/{scene}/logs/curves.log",
    localrule: True
    conda:
        "../envs/video2mesh.yaml"
    shell:
        "python -m video2mesh curves --scene {wildcards.scene:q} --summary {input.summary:q}"
        " --train-csvs {input.train:q} --training {output.training:q}"
        " --quality {output.quality:q} --time {output.time:q} > {log:q} 2>&1"


rule viewer:
    input:
        meshes=lambda wildcards: report_sweep(
            "results/{scene}/{run}/mesh/it{iterations}_res{resolution}.ply",
            scene=wildcards.scene,
        ),
        evals=lambda wildcards: report_sweep(
            "results/{scene}/{run}/eval/it{iterations}_res{resolution}.json",
            scene=wildcards.scene,
        ),
        textured=lambda wildcards: texture_targets(wildcards.scene),
        texture_stats=lambda wildcards: texture_targets(
            wildcards.scene, ".texture.json"
        ),
        transforms="results/{scene}/transforms.json",
        reference=eval_framing_reference,
    output:
        report(
            "results/{scene}/viewer.html",
            caption="../report/viewer.rst",
            category="9. 3D viewer",
            labels={"scene": "{scene}"},
        ),
    log:
        "results/{scene}/logs/viewer.log",
    localrule: True
    conda:
        "../envs/video2mesh.yaml"
    params:
        reference=eval_reference_arg,
        max_faces=config.get("report", {}).get("viewer_max_faces", 30000),
    shell:
        "python -m video2mesh viewer --scene {wildcards.scene:q} --meshes {input.meshes:q}"
        " --evals {input.evals:q} --textured {input.textured:q}"
        " --transforms {input.transforms:q} {params.reference}"
        " --max-faces {params.max_faces} --output {output:q} > {log:q} 2>&1"
