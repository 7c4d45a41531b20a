# Helpers shared by the rules: which scenes exist, their merged settings, sweep targets.
import json
import re

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
    return [t for scene in SCENES for t in scene_targets(scene)]
