# Helpers of rules/evaluate.smk and rules/report.smk (functions only, as snakemake --lint
# asks). They read only `config`; prefixed `eval_`/`report_` so as not to clash with
# common.smk. `report_targets()` lists what rule all needs for the report.
import shlex


def eval_has_reference(scene):
    """A scene has results/{scene}/reference.ply when it is the sample or names a reference."""
    spec = config["scenes"][scene] or {}
    return spec.get("source") == "sample" or "reference" in spec


def eval_finest_mesh(wildcards):
    its = max(config["sweep"]["iterations"])
    res = max(config["sweep"]["resolutions"])
    return f"results/{wildcards.scene}/{wildcards.run}/mesh/it{its}_res{res}.ply"


def eval_reference(wildcards):
    if eval_has_reference(wildcards.scene):
        return f"results/{wildcards.scene}/reference.ply"
    return eval_finest_mesh(wildcards)


def eval_alignment(wildcards):
    """The reference's alignment: the metrics' bounding box follows the reference's own axes."""
    if eval_has_reference(wildcards.scene):
        return [f"results/{wildcards.scene}/alignment.json"]
    return []


def eval_alignment_arg(wildcards, input):
    return f"--alignment {shlex.quote(input.alignment[0])}" if input.alignment else ""


def eval_reference_arg(wildcards, input):
    """--reference for the thumbnail and viewer framing, when the scene has one."""
    return f"--reference {shlex.quote(input.reference[0])}" if input.reference else ""


def eval_reference_kind(wildcards):
    return "ground-truth" if eval_has_reference(wildcards.scene) else "finest-mesh"


def eval_framing_reference(wildcards):
    """Thumbnails are framed on the reference's bounds when there is one, else on the sphere."""
    if eval_has_reference(wildcards.scene):
        return [f"results/{wildcards.scene}/reference.ply"]
    return []


def eval_labels(wildcards):
    return {
        "scene": wildcards.scene,
        "run": wildcards.run,
        "iterations": wildcards.iterations,
        "resolution": wildcards.resolution,
    }


def report_sweep(pattern, **fixed):
    """Expand ``pattern`` over scenes × runs × iterations × resolutions (minus ``fixed``)."""
    values = {
        "scene": list(config["scenes"]),
        "run": list(config["runs"]),
        "iterations": config["sweep"]["iterations"],
        "resolution": config["sweep"]["resolutions"],
    }
    values.update({k: [v] for k, v in fixed.items()})
    return expand(pattern, **values)


def report_summary_options():
    """--backend/--flavor/--price from config (`runs:` and `report: {prices:, flavor:}`)."""
    opts = []
    for run, spec in config["runs"].items():
        spec = spec or {}
        opts += ["--backend", f"{run}={spec.get('backend', run)}"]
        if spec.get("flavor"):
            opts += ["--flavor", f"{run}={spec['flavor']}"]
    settings = config.get("report", {}) or {}
    if settings.get("flavor"):
        opts += ["--flavor", f"*={settings['flavor']}"]
    for flavor, eur in (settings.get("prices", {}) or {}).items():
        opts += ["--price", f"{flavor}={eur}"]
    return " ".join(shlex.quote(o) for o in opts)


def report_targets():
    """Everything the report shows that these rules make (for rule all)."""
    scenes = list(config["scenes"])
    return [
        "results/summary.csv",
        "results/summary.html",
        *expand(
            "results/{scene}/{run}/eval/grid.png",
            scene=scenes,
            run=list(config["runs"]),
        ),
        *expand(
            "results/{scene}/curves/{kind}.png",
            scene=scenes,
            kind=["training", "quality", "time"],
        ),
        *expand("results/{scene}/viewer.html", scene=scenes),
    ]
