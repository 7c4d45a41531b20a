"""What the rule files compute: scenes, sweep targets, run settings and shell arguments.

The rules (rules/*.smk) stay rules: they bind wildcards and call a `Plan` built once from the
validated config (`W = Plan(config)` in rules/common.smk). Everything here is a pure function of
that config, imports only the standard library (the DAG is built in whatever Python runs
Snakemake) and is unit-tested in tests/test_workflow_plan.py. Paths are the file contract of
docs/architecture.md.
"""

from __future__ import annotations

import difflib
import itertools
import json
import re
import shlex
import string
from collections.abc import Callable, Iterable
from typing import Any

from video2mesh import real_size
from video2mesh.backends import Backend, Needs, get_backend

# inputs every segment / mesh has, passed by name; a backend's own inputs go as --input NAME=PATH
COMMON_INPUTS = {"transforms", "images", "resume", "ckpt"}
CURVES = ("training", "quality", "time")


def one_of(names: Iterable[str]) -> str:
    """Regex matching exactly these names (never matching when there are none)."""
    return "|".join(re.escape(n) for n in names) or "(?!)"


def quoted(flag: str, value: str | None) -> str:
    """``flag 'value'`` for a shell command, or nothing when there is no value."""
    return f"{flag} {shlex.quote(value)}" if value else ""


# the options of a snakemake command line that choose what the report shows (and, with a
# profile, where the results are): the report command repeats them
_CONFIG_OPTIONS = (
    "--config",
    "-C",
    "--configfile",
    "--configfiles",
    "--profile",
    "--directory",
    "-d",
)


def report_command(argv: list[str]) -> str:
    """``snakemake --report results/report.html`` with the config options of the run's command
    line ``argv`` (sys.argv): a report built without a run's ``--config`` shows another sweep."""
    kept: list[str] = []
    taking = False
    for arg in argv[1:]:
        name = arg.split("=", 1)[0]
        if arg.startswith("-"):
            taking = name in _CONFIG_OPTIONS
            if taking:
                kept.append(arg)
        elif taking:
            kept.append(arg)
    return shlex.join(["snakemake", "--report", "results/report.html", *kept])


def did_you_mean(given: Iterable[str], known: Iterable[str]) -> str:
    """`` (did you mean 'center'?)`` for the keys of ``given`` not in ``known`` that resemble
    one of them (difflib's ratio ≥ 0.6), or nothing."""
    known = list(known)
    pairs = [
        (key, close[0])
        for key in given
        if key not in known and (close := difflib.get_close_matches(key, known, n=1))
    ]
    if not pairs:
        return ""
    return " (did you mean " + ", ".join(f"{c!r} for {k!r}" for k, c in pairs) + "?)"


SOURCE_KEYS = ("video", "images", "cameras", "reference", "reference_cameras", "reference_masks")


def scene_source_error(scenes: dict[str, Any], exists: Callable[[str], bool]) -> str | None:
    """What is wrong with the files the scenes name (None: nothing): a path that does not
    exist, or object masks without the cameras they were seen by."""
    for scene, c in scenes.items():
        for key in SOURCE_KEYS:
            if key in c and not exists(c[key]):
                return (
                    f"scene '{scene}': {key}: {c[key]} does not exist. What to do: fix "
                    f"scenes: {scene}: {key}: in the config (paths are relative to the "
                    "directory snakemake runs in)"
                )
        if "reference_masks" in c and "reference_cameras" not in c:
            return (
                f"scene '{scene}': reference_masks needs the cameras they were seen by. What "
                f"to do: add scenes: {scene}: reference_cameras: (cameras.json in the sample's "
                "format), or remove reference_masks"
            )
    return None


def config_error(cause: Any) -> str:
    """One line for a config that fails the schema: the key's path, what is wrong (with the key
    a misspelt one resembles), what the key takes (its schema description) and what to do.
    ``cause``: the jsonschema ValidationError (duck-typed: this module needs no jsonschema)."""
    where = ".".join(str(p) for p in cause.absolute_path) or "top level"
    message = cause.message
    if cause.validator == "additionalProperties" and isinstance(cause.instance, dict):
        message += did_you_mean(cause.instance, cause.schema.get("properties", {}))
    # the key's own documentation says what it takes (e.g. a list, or auto)
    about = " ".join(str(cause.schema.get("description", "")).split())
    return (
        f"Error validating config file: {where}: {message}"
        + (f" ({where} takes: {about})" if about else "")
        + ". What to do: fix that key in your config (every key is documented in "
        "config/schema.yaml)"
    )


def closing_lines(
    glbs: dict[str, list[str]], results: str = "results", argv: list[str] | None = None
) -> str:
    """What a finished run says on the console: each scene's textured meshes (``glbs``, by
    scene), its capture notes (the scene stage's, from transforms.json when it is on this disk:
    under ``--profile ovh`` it is in S3) and the report command (for the run's ``argv``)."""
    lines = ["video2mesh: done"]
    for scene, paths in glbs.items():
        lines += [f"  {scene}: {glb}" for glb in paths]
        try:
            with open(f"{results}/{scene}/transforms.json") as fh:
                notes = (json.load(fh).get("capture") or {}).get("notes", [])
        except FileNotFoundError:
            notes = []
        lines += [f"  {scene}: capture note: {note}" for note in notes]
    lines.append(f"  the report with every mesh: {report_command(argv or ['snakemake'])}")
    return "\n".join(lines)


# The config's `auto` values, by its top-level `sized_for` (the ovh profile sets gpu). cpu: `make
# run`'s 3000 iterations in under 10 min on 2 cores (benchmarks/recon/RESULTS.md; 3500 tied on
# the validation set, benchmarks/realworld/RESULTS.md) and a 1024² texture for 480-px photos;
# gpu: the validation set's 10000 iterations, 108-115 s of training on one H200, meshes at 512
# (benchmarks/realworld/RESULTS.md, session 13), the texture at 2048² and 200k faces
# (benchmarks/texture/RESULTS.md)
AUTO: dict[str, dict[str, dict[str, Any]]] = {
    "cpu": {
        "sweep": {"iterations": [1000, 3000], "resolutions": [128, 256]},
        "texture": {"size": 1024, "faces": 100_000},
    },
    "gpu": {
        "sweep": {"iterations": [5000, 10000], "resolutions": [256, 512]},
        "texture": {"size": 2048, "faces": 200_000},
    },
}


def typed_values(value: Any) -> Any:
    """``value`` with numbers and booleans written as strings turned back into them.

    Snakemake parses a nested ``--config`` value with YAML's BaseLoader, which types nothing:
    ``--config 'sweep={iterations: [1000, 3000]}'`` arrives as ``['1000', '3000']`` and fails the
    schema. Each string gets the parsers Snakemake gives top-level values (int, then float) and
    YAML's true/false; values typed already (config files) stay as they are.
    """
    if isinstance(value, dict):
        return {k: typed_values(v) for k, v in value.items()}
    if isinstance(value, list):
        return [typed_values(v) for v in value]
    if not isinstance(value, str):
        return value
    if value.lower() in ("true", "false"):
        return value.lower() == "true"
    for parse in (int, float):
        try:
            return parse(value)
        except ValueError:
            pass
    return value


def resolve_auto(config: dict[str, Any]) -> dict[str, Any]:
    """The config with every ``auto`` under sweep and texture replaced for ``sized_for``."""
    sized = AUTO[config.get("sized_for", "cpu")]
    out = dict(config)
    for section, values in sized.items():
        given = config.get(section) or {}
        auto = {k: v for k, v in values.items() if given.get(k, "auto") == "auto"}
        out[section] = {**given, **auto}
    return out


class Plan:
    """The pipeline's view of one config: which scenes, runs and sweep points exist."""

    def __init__(self, config: dict[str, Any]) -> None:
        config = resolve_auto(config)
        self.config = config
        self.scenes: dict[str, dict[str, Any]] = {k: v or {} for k, v in config["scenes"].items()}
        self.runs: dict[str, dict[str, Any]] = {k: v or {} for k, v in config["runs"].items()}
        self.iterations = sorted(config["sweep"]["iterations"])
        self.resolutions = sorted(config["sweep"]["resolutions"])
        self.texture: dict[str, Any] = config["texture"]  # resolve_auto always fills it
        self._backends: dict[str, Backend] = {}

    # --- scenes ---------------------------------------------------------------------------

    def scenes_where(self, test: Callable[[dict[str, Any]], bool]) -> list[str]:
        return [s for s, c in self.scenes.items() if test(c)]

    @property
    def sample_scenes(self) -> list[str]:
        return self.scenes_where(lambda c: c.get("source") == "sample")

    @property
    def video_scenes(self) -> list[str]:
        return self.scenes_where(lambda c: "video" in c)

    @property
    def photo_scenes(self) -> list[str]:
        return self.scenes_where(lambda c: "images" in c)

    def has_reference(self, scene: str) -> bool:
        """results/{scene}/reference.ply exists: the sample, or a scene naming a reference."""
        c = self.scenes[scene]
        return c.get("source") == "sample" or "reference" in c

    @property
    def reference_scenes(self) -> list[str]:
        return [s for s in self.scenes if self.has_reference(s)]

    def scene_settings(self, scene: str, section: str) -> dict[str, Any]:
        """A config section with the scene's own overrides on top."""
        return {**(self.config.get(section) or {}), **self.scenes[scene].get(section, {})}

    def scene_type(self, scene: str) -> str:
        return self.scenes[scene].get("type", "object")

    def input_file(self, scene: str) -> str:
        """results/{scene}/input.<ext>: the ingested video, or input.tar of the photos."""
        c = self.scenes[scene]
        if "images" in c:
            return f"results/{scene}/input.tar"
        if "video" in c:
            return f"results/{scene}/input.{c['video'].rsplit('.', 1)[-1].lower()}"
        return f"results/{scene}/input.mp4"

    def sample_args(self, scene: str) -> str:
        s = self.scenes[scene].get("sample", {})  # seed, frames, width, height: ints; variant
        return " ".join(
            quoted(f"--{k}", v) if isinstance(v, str) else f"--{k} {int(v)}"
            for k, v in sorted(s.items())
        )

    def sfm_inputs(self, scene: str) -> dict[str, str]:
        """The frames, and the scene's own cameras where it has them (known_cameras.json)."""
        out = {"frames": f"results/{scene}/frames.tar"}
        if "cameras" in self.scenes[scene]:
            out["known"] = f"results/{scene}/known_cameras.json"
        return out

    def sfm_matcher(self, scene: str) -> str:
        matcher = self.scene_settings(scene, "sfm")["matcher"]
        if matcher == "auto":
            return "exhaustive" if "images" in self.scenes[scene] else "sequential"
        return matcher

    def object_settings(self, scene: str) -> dict[str, Any]:
        """The object clean-up settings (type scene: nothing is cut or dropped)."""
        if self.scene_type(scene) != "object":
            return {"support": "keep", "floaters": "keep", "find_support": False}
        return self.scene_settings(scene, "object")

    def real_size_args(self, scene: str) -> str:
        """``--real-height 0.095``: the texture command's metres (empty: the scene's units)."""
        length = real_size.parse(self.scenes[scene].get("real_size"))
        return f"--real-{length[0]} {length[1]!r}" if length else ""

    def isolate_args(self, scene: str) -> str:
        s = self.object_settings(scene)
        return f"--object-support {s['support']} --object-floaters {s['floaters']}"

    def support_arg(self, scene: str) -> str:
        return "" if self.object_settings(scene)["find_support"] else "--no-support"

    def sphere_overrides(self, scene: str) -> str:
        return json.dumps((self.config.get("sphere") or {}).get(scene, {}))

    def reference_inputs(self, scene: str, source: Callable[[str], Any]) -> dict[str, Any]:
        """The reference mesh (and cameras) of a scene; ``source`` marks the user's own files
        (Snakemake's ``local``: they never move to remote storage)."""
        c = self.scenes[scene]
        if c.get("source") == "sample":
            return {
                "mesh": f"results/{scene}/sample_truth.ply",
                "cameras": f"results/{scene}/sample_cameras.json",
            }
        out = {"mesh": source(c["reference"])}
        if "reference_cameras" in c:
            out["cameras"] = source(c["reference_cameras"])
        return out

    # --- evaluation -------------------------------------------------------------------------

    def finest_mesh(self, scene: str, run: str) -> str:
        its, res = self.iterations[-1], self.resolutions[-1]
        return f"results/{scene}/{run}/mesh/it{its}_res{res}.ply"

    def eval_reference(self, scene: str, run: str) -> str:
        """What a mesh is compared with: the reference, else the run's finest mesh."""
        if self.has_reference(scene):
            return f"results/{scene}/reference.ply"
        return self.finest_mesh(scene, run)

    def reference_kind(self, scene: str) -> str:
        return "ground-truth" if self.has_reference(scene) else "finest-mesh"

    def has_masks(self, scene: str) -> bool:
        """The scene names object masks (and their cameras): each mesh gets a silhouette IoU."""
        return "reference_masks" in self.scenes[scene]

    def silhouette_inputs(self, scene: str, source: Callable[[str], Any]) -> dict[str, Any]:
        """The cameras the masks were seen by and the SfM model aligned to them (silhouette)."""
        sparse = f"results/{scene}/sfm/sparse"
        return {
            "cameras": source(self.scenes[scene]["reference_cameras"]),
            "model": [f"{sparse}/{name}.bin" for name in ("cameras", "images", "points3D")],
        }

    def if_masks(self, scene: str, run: str, iterations: str, resolution: str) -> list[str]:
        """[the mesh's silhouette JSON] when the scene has masks, else [] (optional input)."""
        if not self.has_masks(scene):
            return []
        return [f"results/{scene}/{run}/eval/it{iterations}_res{resolution}.silhouette.json"]

    def if_reference(self, scene: str, name: str) -> list[str]:
        """[results/{scene}/{name}] when the scene has a reference, else [] (optional inputs)."""
        return [f"results/{scene}/{name}"] if self.has_reference(scene) else []

    # --- runs and training chains --------------------------------------------------------------

    def backend(self, run: str) -> str:
        return self.runs[run].get("backend", run)

    def runs_of(self, backend: str) -> list[str]:
        return [r for r in self.runs if self.backend(r) == backend]

    def run_config_arg(self, run: str) -> str:
        """The run's config entry as one shell-quoted JSON argument."""
        return shlex.quote(json.dumps(self.runs[run], sort_keys=True))

    def previous_iteration(self, iterations: int | str) -> int:
        """The sweep point before this one (0 when this segment starts the chain)."""
        n = int(iterations)
        if n not in self.iterations:
            raise ValueError(f"{n} is not in sweep.iterations {self.iterations}")
        i = self.iterations.index(n)
        return self.iterations[i - 1] if i else 0

    def backend_of(self, run: str) -> Backend:
        name = self.backend(run)
        if name not in self._backends:
            self._backends[name] = get_backend(name)
        return self._backends[name]

    def needs(self, run: str) -> Needs:
        """GPUs, GPU model, image, memory of the run's jobs: the backend says."""
        return self.backend_of(run).needs(self.runs[run])

    def train_inputs(self, scene: str, run: str, iterations: int | str) -> dict[str, str]:
        """Inputs of one segment: the scene, the previous sweep point's checkpoint, and what
        the backend asks for (the official one: its source, config, previous metrics)."""
        out = {
            "transforms": f"results/{scene}/transforms.json",
            "images": f"results/{scene}/sfm/images.tar",
        }
        prev = self.previous_iteration(iterations)
        if prev:
            out["resume"] = f"results/{scene}/{run}/ckpt/it{prev}.pt"
        return {**out, **self.backend_of(run).train_inputs(scene, run, prev)}

    def extract_inputs(self, scene: str, run: str, iterations: int | str) -> dict[str, str]:
        out = {
            "ckpt": f"results/{scene}/{run}/ckpt/it{iterations}.pt",
            "transforms": f"results/{scene}/transforms.json",
        }
        return {**out, **self.backend_of(run).extract_inputs(scene, run)}

    @staticmethod
    def backend_input_args(named: Iterable[tuple[str, str]]) -> str:
        """``--input NAME=PATH`` for the inputs a backend asked for (not the common ones)."""
        return " ".join(quoted("--input", f"{k}={v}") for k, v in named if k not in COMMON_INPUTS)

    def save_every_seconds(self, run: str) -> float:
        return float(self.runs[run].get("save_every_seconds", 300))

    @staticmethod
    def partial_store_arg(
        provider: str | None, prefix: str | None, scene: str, run: str, iterations: int | str
    ) -> str:
        """With S3 default storage the in-segment save is kept in S3 too, beside where the
        checkpoint goes: a preempted remote job loses its disk; its retry finds the save there."""
        if provider != "s3" or not prefix:
            return ""
        key = f"results/{scene}/{run}/ckpt/it{iterations}.partial.pt"
        return quoted("--partial-store", f"{str(prefix).rstrip('/')}/{key}")

    # --- targets --------------------------------------------------------------------------------

    def sweep(self, pattern: str, **fixed: Any) -> list[str]:
        """``pattern`` over scenes × runs × iterations × resolutions, for the fields it names
        (``fixed`` pins some of them); each path once, in sweep order."""
        values: dict[str, list[Any]] = {
            "scene": list(self.scenes),
            "run": list(self.runs),
            "iterations": self.iterations,
            "resolution": self.resolutions,
            "kind": list(CURVES),
        }
        values.update({k: [v] for k, v in fixed.items()})
        names = list(dict.fromkeys(f for _, f, _, _ in string.Formatter().parse(pattern) if f))
        out = [
            pattern.format(**dict(zip(names, combo, strict=True)))
            for combo in itertools.product(*(values[n] for n in names))
        ]
        return list(dict.fromkeys(out))

    def mesh_targets(self) -> list[str]:
        return self.sweep("results/{scene}/{run}/mesh/it{iterations}_res{resolution}.ply")

    def scene_targets(self, scene: str) -> list[str]:
        out = [f"results/{scene}/transforms.json", f"results/{scene}/sphere.png"]
        return out + self.if_reference(scene, "reference.ply")

    def report_targets(self) -> list[str]:
        """Everything the report shows that the report rules make."""
        return [
            "results/summary.csv",
            "results/summary.html",
            *self.sweep("results/{scene}/{run}/eval/grid.png"),
            *self.sweep("results/{scene}/curves/{kind}.png"),
            *self.sweep("results/{scene}/viewer.html"),
        ]

    def final_targets(self) -> list[str]:
        """Everything `make run` ends with: scenes, meshes of the sweep, the report's inputs."""
        scenes = [t for scene in self.scenes for t in self.scene_targets(scene)]
        return scenes + self.mesh_targets() + self.report_targets()

    def report_summary_options(self) -> str:
        """--backend/--flavor/--price of `summary` (from `runs:` and `report:`)."""
        opts = []
        for run, spec in self.runs.items():
            opts += ["--backend", f"{run}={self.backend(run)}"]
            if spec.get("flavor"):
                opts += ["--flavor", f"{run}={spec['flavor']}"]
        settings = self.config.get("report") or {}
        if settings.get("flavor"):
            opts += ["--flavor", f"*={settings['flavor']}"]
        for flavor, eur in (settings.get("prices") or {}).items():
            opts += ["--price", f"{flavor}={eur}"]
        return " ".join(shlex.quote(o) for o in opts)
