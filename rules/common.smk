# Helpers shared by the rules: which scenes exist, their merged settings, sweep targets.
import json
import os
import re
import shlex

from snakemake.exceptions import WorkflowError
from snakemake.utils import validate


def validate_config():
    """Schema validation (defaults filled in) whose error is one line naming the key."""
    try:
        validate(config, "../config/schema.yaml")
    except WorkflowError as err:
        cause = err.__context__  # the jsonschema ValidationError
        if not hasattr(cause, "absolute_path"):
            raise
        where = ".".join(str(p) for p in cause.absolute_path) or "top level"
        raise WorkflowError(
            f"Error validating config file: {where}: {cause.message}. What to do: fix that "
            "key in your config (every key is documented in config/schema.yaml)"
        ) from None


def check_source_paths():
    """Every local file a scene names exists (main process only: remote jobs lack them)."""
    for scene, c in config["scenes"].items():
        for key in ("video", "images", "reference", "reference_cameras"):
            if key in c and not os.path.exists(c[key]):
                raise WorkflowError(
                    f"scene '{scene}': {key}: {c[key]} does not exist. What to do: fix "
                    f"scenes: {scene}: {key}: in the config (paths are relative to the "
                    "directory snakemake runs in)"
                )


validate_config()
if workflow.is_main_process:
    check_source_paths()
# `--report results/report.html` needs the folder even when every result lives in S3.
os.makedirs("results", exist_ok=True)

# Rules run this repository's own code, whatever else is installed (also in remote jobs,
# where the deployed sources sit at the same relative path).
shell.prefix(
    f"export PYTHONPATH={workflow.basedir}/src${{{{PYTHONPATH:+:$PYTHONPATH}}}}; "
)

SCENES = config["scenes"]
RUNS = config["runs"]
ITERATIONS = sorted(config["sweep"]["iterations"])
RESOLUTIONS = sorted(config["sweep"]["resolutions"])

SAMPLE_SCENES = [s for s, c in SCENES.items() if c.get("source") == "sample"]
VIDEO_SCENES = [s for s, c in SCENES.items() if "video" in c]
PHOTO_SCENES = [s for s, c in SCENES.items() if "images" in c]
REFERENCE_SCENES = SAMPLE_SCENES + [s for s, c in SCENES.items() if "reference" in c]


def one_of(names):
    """Regex matching exactly these names (never matching when the list is empty)."""
    return "|".join(re.escape(n) for n in names) or "(?!)"


def scene_settings(scene, section):
    """A config section with the scene's own overrides on top."""
    return {**config.get(section, {}), **SCENES[scene].get(section, {})}


def scene_type(wildcards):
    return SCENES[wildcards.scene].get("type", "object")


def input_file(wildcards):
    """results/{scene}/input.<ext>: the ingested video, or input.tar of the photos."""
    c = SCENES[wildcards.scene]
    if "images" in c:
        return f"results/{wildcards.scene}/input.tar"
    if "video" in c:
        ext = c["video"].rsplit(".", 1)[-1].lower()
        return f"results/{wildcards.scene}/input.{ext}"
    return f"results/{wildcards.scene}/input.mp4"


def source_video(wildcards):
    return local(SCENES[wildcards.scene]["video"])


def source_photos(wildcards):
    return local(SCENES[wildcards.scene]["images"])


def sample_args(wildcards):
    s = SCENES[wildcards.scene].get("sample", {})
    return " ".join(f"--{k} {int(v)}" for k, v in sorted(s.items()))


def frames_settings(wildcards):
    return scene_settings(wildcards.scene, "frames")


def sfm_matcher(wildcards):
    matcher = scene_settings(wildcards.scene, "sfm")["matcher"]
    if matcher == "auto":
        return "exhaustive" if "images" in SCENES[wildcards.scene] else "sequential"
    return matcher


def sfm_settings(wildcards):
    return scene_settings(wildcards.scene, "sfm")


def sphere_overrides(wildcards):
    return json.dumps(config["sphere"].get(wildcards.scene, {}))


def reference_inputs(wildcards):
    c = SCENES[wildcards.scene]
    scene = wildcards.scene
    if c.get("source") == "sample":
        return {
            "mesh": f"results/{scene}/sample_truth.ply",
            "cameras": f"results/{scene}/sample_cameras.json",
        }
    out = {"mesh": local(c["reference"])}
    if "reference_cameras" in c:
        out["cameras"] = local(c["reference_cameras"])
    return out


def reference_camera_arg(wildcards, input):
    return f"--reference-cameras {input.cameras}" if "cameras" in input.keys() else ""


def scene_targets(scene):
    out = [f"results/{scene}/transforms.json", f"results/{scene}/sphere.png"]
    if scene in REFERENCE_SCENES:
        out.append(f"results/{scene}/reference.ply")
    return out


def final_targets():
    """Everything `make run` ends with: scenes, meshes of the sweep, the report's inputs."""
    scenes = [t for scene in SCENES for t in scene_targets(scene)]
    return scenes + mesh_targets() + texture_targets() + report_targets()


# --- training chains and meshes ---------------------------------------------------------

BUILTIN_RUNS = [r for r, c in RUNS.items() if c["backend"] == "builtin"]


def run_config(wildcards):
    """The run's config entry as a shell-quoted JSON argument."""
    return shlex.quote(json.dumps(RUNS[wildcards.run], sort_keys=True))


def previous_iteration(wildcards):
    """The sweep point before this one (0 when this segment starts the chain)."""
    n = int(wildcards.iterations)
    if n not in ITERATIONS:
        raise ValueError(f"{n} is not in sweep.iterations {ITERATIONS}")
    i = ITERATIONS.index(n)
    return ITERATIONS[i - 1] if i else 0


def train_inputs(wildcards):
    scene, run = wildcards.scene, wildcards.run
    out = {
        "transforms": f"results/{scene}/transforms.json",
        "images": f"results/{scene}/sfm/images.tar",
    }
    prev = previous_iteration(wildcards)
    if prev:
        out["resume"] = f"results/{scene}/{run}/ckpt/it{prev}.pt"
    return out


def resume_arg(wildcards, input):
    return f"--resume {input.resume}" if "resume" in input.keys() else ""


def save_every_seconds(wildcards):
    return float(RUNS[wildcards.run].get("save_every_seconds", 300))


def partial_store_arg(wildcards):
    """With S3 default storage, `train` keeps its in-segment save in S3 too, next to where the
    checkpoint goes: a preempted remote job loses its disk; the retried job finds it there.
    """
    settings = getattr(workflow, "storage_settings", None)
    prefix = getattr(settings, "default_storage_prefix", None)
    if getattr(settings, "default_storage_provider", None) != "s3" or not prefix:
        return ""
    w = wildcards
    key = f"results/{w.scene}/{w.run}/ckpt/it{w.iterations}.partial.pt"
    url = f"{str(prefix).rstrip('/')}/{key}"
    return f"--partial-store {shlex.quote(url)}"


def extract_args(wildcards):
    """Extraction options of the run (config `runs: {run: {extract: {...}}}`)."""
    opts = RUNS[wildcards.run].get("extract", {})
    args = []
    if opts.get("keep_largest"):
        args.append("--keep-largest")
    if "block" in opts:
        args += ["--block", str(int(opts["block"]))]
    if opts.get("colors") is False:
        args.append("--no-colors")
    return " ".join(args)


def mesh_targets():
    return expand(
        "results/{scene}/{run}/mesh/it{iterations}_res{resolution}.ply",
        scene=list(SCENES),
        run=list(RUNS),
        iterations=ITERATIONS,
        resolution=RESOLUTIONS,
    )


# --- textured meshes (rules/texture.smk) ------------------------------------------------

TEXTURE = config["texture"]
TEXTURE_STEM = "results/{scene}/{run}/mesh/it{iterations}_res{resolution}"


def texture_inputs(wildcards):
    w = wildcards
    out = {
        "mesh": f"results/{w.scene}/{w.run}/mesh/it{w.iterations}_res{w.resolution}.ply",
        "transforms": f"results/{w.scene}/transforms.json",
    }
    if TEXTURE["source"] == "field":
        if w.run not in BUILTIN_RUNS:
            raise WorkflowError(
                f"texture: source: field needs the builtin backend's colour network; run "
                f"'{w.run}' is {RUNS[w.run]['backend']}. What to do: use texture: source: photos"
            )
        out["ckpt"] = f"results/{w.scene}/{w.run}/ckpt/it{w.iterations}.pt"
    else:
        out["images"] = f"results/{w.scene}/sfm/images.tar"
    return out


def texture_extra_outputs():
    """Levels of detail and the OBJ files, as the texture command names them."""
    out = [f"{TEXTURE_STEM}.lod{n}.glb" for n in TEXTURE["lods"]]
    if TEXTURE["obj"]:
        out += [f"{TEXTURE_STEM}.{ext}" for ext in ("obj", "mtl", "png")]
    return out


def texture_args(wildcards, input):
    args = [
        f"--source {TEXTURE['source']}",
        f"--size {int(TEXTURE['size'])} --faces {int(TEXTURE['faces'])}",
        f"--top-k {int(TEXTURE['top_k'])}",
    ]
    if "images" in input.keys():
        args.append(f"--images {shlex.quote(input.images)}")
    if "ckpt" in input.keys():
        args.append(f"--ckpt {shlex.quote(input.ckpt)}")
    if TEXTURE["lods"]:
        args.append("--lods " + " ".join(str(int(n)) for n in TEXTURE["lods"]))
    if TEXTURE["obj"]:
        args.append("--obj")
    return " ".join(args)


def texture_targets(scene=None):
    """The GLBs the workflow makes: per scene and run the finest mesh's, or every mesh's."""
    finest = TEXTURE["meshes"] == "finest"
    return expand(
        f"{TEXTURE_STEM}.glb",
        scene=[scene] if scene else list(SCENES),
        run=list(RUNS),
        iterations=ITERATIONS[-1:] if finest else ITERATIONS,
        resolution=RESOLUTIONS[-1:] if finest else RESOLUTIONS,
    )
