# Config validation, then the rules' view of the config: a video2mesh.workflow.Plan (scenes,
# targets, run settings, argument builders; unit-tested) and one-line wildcard bindings to it.
import json
import os
import re
import shlex
import sys

from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

# The DAG is built in whatever Python runs Snakemake: workflow.py needs only the standard library.
sys.path.insert(0, os.path.join(workflow.basedir, "src"))
from video2mesh.workflow import (
    Plan,
    closing_lines,
    config_error,
    one_of,
    quoted,
    scene_source_error,
    typed_values,
)


def validate_config():
    """Schema validation (defaults filled in) whose error is one line naming the key."""
    config.update(typed_values(config))  # nested --config values arrive as strings
    try:
        validate(config, "../config/schema.yaml")
    except WorkflowError as err:
        cause = err.__context__  # the jsonschema ValidationError
        if not hasattr(cause, "absolute_path"):
            raise
        raise WorkflowError(config_error(cause)) from None


def check_source_paths():
    """Every local file a scene names exists (main process only: remote jobs lack them)."""
    problem = scene_source_error(config["scenes"], os.path.exists)
    if problem:
        raise WorkflowError(problem)


validate_config()
if workflow.is_main_process:
    check_source_paths()
# `--report results/report.html` needs the folder even when every result lives in S3.
os.makedirs("results", exist_ok=True)

# Rules run this repository's own code, whatever else is installed (also in remote jobs,
# where the deployed sources sit at the same relative path).
# Quoted (a checkout may sit under "My Drive"); braces doubled: snakemake formats the prefix.
_src = shlex.quote(f"{workflow.basedir}/src").replace("{", "{{").replace("}", "}}")
shell.prefix(f"export PYTHONPATH={_src}${{{{PYTHONPATH:+:$PYTHONPATH}}}}; ")

W = Plan(config)
# the report's text (report/workflow.rst) reads the config: its sweep as resolved, not "auto"
config.update({key: W.config[key] for key in ("sweep", "texture")})
SCENES = W.scenes
RUNS = W.runs
ITERATIONS = W.iterations
RESOLUTIONS = W.resolutions
SAMPLE_SCENES = W.sample_scenes
VIDEO_SCENES = W.video_scenes
PHOTO_SCENES = W.photo_scenes
REFERENCE_SCENES = W.reference_scenes


def scene_type(wildcards):
    return W.scene_type(wildcards.scene)


def input_file(wildcards):
    return W.input_file(wildcards.scene)


def source_video(wildcards):
    return local(SCENES[wildcards.scene]["video"])


def source_photos(wildcards):
    return local(SCENES[wildcards.scene]["images"])


def sample_args(wildcards):
    return W.sample_args(wildcards.scene)


def frames_settings(wildcards):
    return W.scene_settings(wildcards.scene, "frames")


def sfm_inputs(wildcards):
    return W.sfm_inputs(wildcards.scene)


def known_cameras_file(wildcards):
    return local(W.scenes[wildcards.scene]["cameras"])


def known_cameras_arg(wildcards, input):
    return quoted("--known-cameras", input.get("known"))


def sfm_matcher(wildcards):
    return W.sfm_matcher(wildcards.scene)


def sfm_settings(wildcards):
    return W.scene_settings(wildcards.scene, "sfm")


def isolate_args(wildcards):
    return W.isolate_args(wildcards.scene)


def support_arg(wildcards):
    return W.support_arg(wildcards.scene)


def sphere_overrides(wildcards):
    return W.sphere_overrides(wildcards.scene)


def reference_inputs(wildcards):
    return W.reference_inputs(wildcards.scene, local)


def reference_camera_arg(wildcards, input):
    return quoted("--reference-cameras", input.get("cameras"))


def final_targets():
    return W.final_targets() + texture_targets()


# --- training chains and meshes ---------------------------------------------------------


def run_config(wildcards):
    return W.run_config_arg(wildcards.run)


def train_inputs(wildcards):
    return W.train_inputs(wildcards.scene, wildcards.run, wildcards.iterations)


def resume_arg(wildcards, input):
    return quoted("--resume", input.get("resume"))


def save_every_seconds(wildcards):
    return W.save_every_seconds(wildcards.run)


def partial_store_arg(wildcards):
    s = getattr(workflow, "storage_settings", None)
    w = wildcards
    return W.partial_store_arg(
        getattr(s, "default_storage_provider", None),
        getattr(s, "default_storage_prefix", None),
        w.scene,
        w.run,
        w.iterations,
    )


def extract_inputs(wildcards):
    return W.extract_inputs(wildcards.scene, wildcards.run, wildcards.iterations)


# --- what the run's backend needs (video2mesh.backends) --------------------------------


def backend_gpus(wildcards):
    return W.needs(wildcards.run).gpus


def backend_gpu_model(wildcards):
    return W.needs(wildcards.run).gpu_model


def backend_image(wildcards):
    return W.needs(wildcards.run).image


def backend_input_args(wildcards, input):
    return W.backend_input_args(input.items())


# --- textured meshes (rules/texture.smk) ------------------------------------------------

TEXTURE = W.texture
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
        out["fine_images"] = f"results/{w.scene}/sfm/images_fine.tar"
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
        args.append(f"--fine-images {shlex.quote(input.fine_images)}")
    if "ckpt" in input.keys():
        args.append(f"--ckpt {shlex.quote(input.ckpt)}")
    if TEXTURE["lods"]:
        args.append("--lods " + " ".join(str(int(n)) for n in TEXTURE["lods"]))
    if TEXTURE["obj"]:
        args.append("--obj")
    args.append(W.real_size_args(wildcards.scene))
    return " ".join(args)


def texture_targets(scene=None, ext=".glb"):
    """The GLBs the workflow makes (or their ``.texture.json``): per scene and run the finest
    mesh's, or every mesh's."""
    finest = TEXTURE["meshes"] == "finest"
    return expand(
        f"{TEXTURE_STEM}{ext}",
        scene=[scene] if scene else list(SCENES),
        run=list(RUNS),
        iterations=ITERATIONS[-1:] if finest else ITERATIONS,
        resolution=RESOLUTIONS[-1:] if finest else RESOLUTIONS,
    )
