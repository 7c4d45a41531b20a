# Wildcard bindings of rules/evaluate.smk and rules/report.smk to the Plan of common.smk
# (functions only, as snakemake --lint asks; prefixed `eval_`/`report_`).


def eval_reference(wildcards):
    return W.eval_reference(wildcards.scene, wildcards.run)


def eval_alignment(wildcards):
    return W.if_reference(wildcards.scene, "alignment.json")


def eval_alignment_arg(wildcards, input):
    return quoted("--alignment", input.alignment[0] if input.alignment else None)


def eval_reference_arg(wildcards, input):
    return quoted("--reference", input.reference[0] if input.reference else None)


def eval_silhouette(wildcards):
    return W.if_masks(
        wildcards.scene, wildcards.run, wildcards.iterations, wildcards.resolution
    )


def eval_silhouette_arg(wildcards, input):
    return quoted("--silhouette", input.silhouette[0] if input.silhouette else None)


def silhouette_inputs(wildcards):
    return W.silhouette_inputs(wildcards.scene, local)


def silhouette_masks(wildcards):
    return SCENES[wildcards.scene]["reference_masks"]


def eval_reference_kind(wildcards):
    return W.reference_kind(wildcards.scene)


def eval_framing_reference(wildcards):
    return W.if_reference(wildcards.scene, "reference.ply")


def eval_labels(wildcards):
    return {k: wildcards[k] for k in ("scene", "run", "iterations", "resolution")}


def report_sweep(pattern, **fixed):
    return W.sweep(pattern, **fixed)


def report_summary_options():
    return W.report_summary_options()
