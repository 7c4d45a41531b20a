"""Official Neuralangelo backend (NVlabs/neuralangelo run as an external tool): settings, config
generation, schedules, command lines, job images and the ``official-*`` sub-commands.

NVIDIA's code is never part of this repository: a rule archives it at a pinned commit, jobs unpack
that archive and run its ``train.py`` / ``extract_mesh.py`` through torchrun. What this module
writes is the config the official ``generate_config.py`` would write (reference §1.8), built from
our ``transforms.json``, plus dotted overrides. Running the jobs lives in ``video2mesh.official``.

Segments: ``train.py`` stops at ``max_iter`` and always saves there, so a segment ending at N runs
with ``--max_iter=N``. The only schedule term that reads ``max_iter`` is the NeuS cos annealing
(``progress = it / max_iter`` against ``s_var.anneal_end``); the segment passes
``anneal_end · final / N`` so the annealing follows the chain's final count exactly. Warm-up,
coarse-to-fine and LR steps are absolute iteration counts in the official code.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import re
import shlex
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from video2mesh.errors import UserError

log = logging.getLogger(__name__)

OFFICIAL_REPO = "https://github.com/NVlabs/neuralangelo.git"
OFFICIAL_COMMIT = "94390b64683c067c620d9e075224ccfe582647d0"
OFFICIAL_LENGTH = 500_000  # the schedule's design length (base.yaml max_iter)
BASE_CONFIG = "projects/neuralangelo/configs/base.yaml"  # `_parent_`, relative to the code dir
TRAIN_SCRIPT = "train.py"
EXTRACT_SCRIPT = "projects/neuralangelo/scripts/extract_mesh.py"
SOURCE_MANIFEST = "VIDEO2MESH_SOURCE.json"  # added to the source archive: repo, full commit

# Job images. NVIDIA's image: Python 3.8, tiny-cuda-nn for sm_70,72,75,80,86 only.
NVIDIA_IMAGE = "docker.io/chenhsuanlin/neuralangelo:23.04-py3"
# Built from envs/neuralangelo-h100.Dockerfile (tiny-cuda-nn for 80,86,89,90); push it and set
# `image_sm90` in the run to its registry tag.
SM90_IMAGE = "video2mesh/neuralangelo:94390b6-sm90"
NVIDIA_IMAGE_ARCHS = frozenset({70, 72, 75, 80, 86})

# Normalised GPU model -> (compute capability ×10, memory GiB). OVHcloud's A100 is the 80 GB one.
GPU_MODELS: dict[str, tuple[int, float]] = {
    "V100": (70, 16.0),
    "V100S": (70, 32.0),
    "T4": (75, 16.0),
    "A10": (86, 24.0),
    "A40": (86, 48.0),
    "A100": (80, 80.0),
    "A10080GB": (80, 80.0),
    "A10040GB": (80, 40.0),
    "RTXA6000": (86, 48.0),
    "L4": (89, 24.0),
    "L40": (89, 48.0),
    "L40S": (89, 48.0),
    "H100": (90, 80.0),
    "H200": (90, 141.0),
}

SCHEDULES = ("official", "scaled")
# Official constants as fractions of its 500k design length (reference §5.4, §5.11).
SCALED_FRACTIONS = {"warm_up_end": 0.01, "c2f_step": 0.01, "two_steps": (0.6, 0.8)}
SCENE_TYPES = {"object": "object", "scene": "outdoor", "outdoor": "outdoor", "indoor": "indoor"}
DEFAULT_ANNEAL_END = 0.1  # base.yaml model.object.s_var.anneal_end
DEFAULT_LOGGING_ITER = 100  # printed "Iteration: N, average iter time: T." lines → metrics CSV


def normalise_gpu_model(model: str | None) -> str:
    """'NVIDIA H100 80GB HBM3', 'h100', 'Tesla V100S' -> 'H100', 'V100S': the executor plugin's
    normaliser (one rule for a gpu_model everywhere), with this table's models as known names.
    Imported here, not at module level: only the submitting machine needs the plugin."""
    from snakemake_executor_plugin_ovh.flavors import normalise_gpu_model as normalise

    return normalise(model, GPU_MODELS)


@dataclass(frozen=True)
class OfficialRun:
    """A run entry with ``backend: neuralangelo`` (config ``runs: {name: {...}}``)."""

    repo: str = OFFICIAL_REPO
    commit: str = OFFICIAL_COMMIT
    image: str = "auto"  # an image for every GPU, or auto: chosen by gpu_model
    image_sm90: str = SM90_IMAGE  # auto's image for sm_89/sm_90 GPUs (L4, L40S, H100)
    gpu_model: str = ""  # sets the rule's gpu_model resource; picks memory and image
    gpus: int = 1  # torchrun --nproc_per_node and the rule's gpu resource
    gpu_memory_gb: float = 0.0  # 0: from gpu_model, else the local GPU, else 24 (official)
    schedule: str = "official"
    train: dict[str, Any] = field(default_factory=dict)  # dotted official config overrides
    extract: dict[str, Any] = field(default_factory=dict)  # block, keep_largest, colors

    @classmethod
    def from_config(cls, entry: Mapping[str, Any] | str) -> OfficialRun:
        if isinstance(entry, str):
            entry = json.loads(entry or "{}")
        entry = dict(entry)
        backend = entry.pop("backend", "neuralangelo")
        if backend != "neuralangelo":
            raise UserError(f"run backend is {backend!r}", "this command serves neuralangelo runs")
        entry.pop("preset", None)  # a builtin-backend key the schema may fill in
        entry.pop("flavor", None)  # read by the report (cost column)
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(entry) - known)
        if unknown:
            raise UserError(
                f"unknown keys in a neuralangelo run: {', '.join(unknown)}",
                f"allowed: backend, {', '.join(sorted(known))}",
            )
        run = cls(**entry)
        if run.schedule not in SCHEDULES:
            raise UserError(f"schedule {run.schedule!r}", f"use one of {', '.join(SCHEDULES)}")
        if int(run.gpus) < 1:
            raise UserError(f"gpus {run.gpus}", "use at least 1")
        bad = sorted(set(run.extract) - {"block", "keep_largest", "colors"})
        if bad:
            raise UserError(
                f"unknown extract options {', '.join(bad)}", "use block, keep_largest, colors"
            )
        return run


# --- GPU memory, hash table, image ----------------------------------------------------------


def gpu_memory_gb(run: OfficialRun, detect: bool = True) -> tuple[float, str]:
    """The memory the config is sized for, and where the number came from."""
    if run.gpu_memory_gb:
        return float(run.gpu_memory_gb), "run gpu_memory_gb"
    model = normalise_gpu_model(run.gpu_model)
    if model in GPU_MODELS:
        return GPU_MODELS[model][1], f"gpu_model {run.gpu_model}"
    if detect:
        try:
            import torch

            if torch.cuda.is_available():
                props = torch.cuda.get_device_properties(0)
                return props.total_memory / 2**30, f"local GPU {props.name}"
        except Exception:  # no torch or no driver: fall through
            pass
    return 24.0, "default (the official configuration needs 24 GB)"


def memory_settings(mem_gb: float) -> dict[str, Any]:
    """Dotted overrides for a GPU with ``mem_gb`` GiB (README FAQ 1; official defaults ≥ 24 GB).

    Below 24 GB validation is also shrunk (FAQ 1, second paragraph); below 12 GB one image of 512
    rays per step (ours: the FAQ gives no ray count).
    """
    hg = "model.object.sdf.encoding.hashgrid"
    if mem_gb >= 23.0:  # "24 GB" cards report ~23.6 GiB
        return {}
    small_val = {"data.val.batch_size": 1, "data.val.subset": 1}
    if mem_gb >= 15.0:
        return {f"{hg}.dict_size": 21, f"{hg}.dim": 8, **small_val}
    if mem_gb >= 11.0:
        return {f"{hg}.dict_size": 21, f"{hg}.dim": 4, **small_val}
    return {f"{hg}.dict_size": 20, f"{hg}.dim": 4, "data.train.batch_size": 1, **small_val}


def compute_capability(gpu_model: str | None) -> int | None:
    entry = GPU_MODELS.get(normalise_gpu_model(gpu_model))
    return entry[0] if entry else None


def job_image(run: OfficialRun, gpu_model: str | None = None) -> str:
    """The job image: the run's ``image`` unless 'auto'; else NVIDIA's image where its
    tiny-cuda-nn has kernels for the GPU (sm_70–86: V100S, A100, A10), else the sm_90 image."""
    if run.image and run.image != "auto":
        return run.image
    cc = compute_capability(gpu_model if gpu_model is not None else run.gpu_model)
    if cc is not None and cc in NVIDIA_IMAGE_ARCHS:
        return NVIDIA_IMAGE
    if cc is None and not (gpu_model or run.gpu_model):
        return NVIDIA_IMAGE  # the executor's default flavor (ai1-1-gpu: V100S)
    return run.image_sm90


# --- schedule -------------------------------------------------------------------------------


def schedule_overrides(kind: str, final: int) -> dict[str, Any]:
    """Dotted overrides of the schedule for a chain of ``final`` iterations.

    official: none (warm-up 5k, one more hash level every 5k, LR ×0.1 at 300k/400k, absolute).
    scaled: the same shape as fractions of ``final`` (the builtin backend's schedule).
    """
    if kind == "official":
        return {}
    if kind != "scaled":
        raise UserError(f"schedule {kind!r}", f"use one of {', '.join(SCHEDULES)}")
    f = int(final)
    two = [max(1, round(x * f)) for x in SCALED_FRACTIONS["two_steps"]]  # type: ignore[union-attr]
    return {
        "optim.sched.warm_up_end": max(1, round(SCALED_FRACTIONS["warm_up_end"] * f)),  # type: ignore[operator]
        "optim.sched.two_steps": two,
        "model.object.sdf.encoding.coarse2fine.step": max(
            1,
            round(SCALED_FRACTIONS["c2f_step"] * f),  # type: ignore[operator]
        ),
    }


def active_levels(
    iteration: int, warm_up_end: int, step: int, init_active_level: int, levels: int = 16
) -> int:
    """Hash levels switched on at ``iteration`` (the paper's coarse-to-fine rule, §5.4)."""
    anneal = min(levels, max((int(iteration) - warm_up_end) // step, 1))
    return max(init_active_level, anneal)


def save_iter(sweep: Iterable[int], cap: int = 20_000) -> int:
    """In-segment save period: the sweep's gcd (every sweep point is a save), at most ``cap``."""
    g = 0
    for n in sweep:
        g = math.gcd(g, int(n))
    return max(1, min(g or cap, cap))


def segment_overrides(until: int, final: int, anneal_end: float) -> dict[str, Any]:
    """Per-segment command-line overrides: stop (and save) at ``until``, anneal as for ``final``."""
    out: dict[str, Any] = {"max_iter": int(until)}
    if int(until) != int(final):
        out["model.object.s_var.anneal_end"] = float(anneal_end) * int(final) / int(until)
    return out


# --- config ---------------------------------------------------------------------------------


def nest(dotted: Mapping[str, Any]) -> dict[str, Any]:
    """{'a.b': 1, 'a.c': 2} -> {'a': {'b': 1, 'c': 2}}."""
    out: dict[str, Any] = {}
    for key, value in dotted.items():
        node = out
        parts = key.split(".")
        for p in parts[:-1]:
            nxt = node.setdefault(p, {})
            if not isinstance(nxt, dict):
                raise UserError(f"config key {key!r} conflicts with a value at {p!r}")
            node = nxt
        node[parts[-1]] = value
    return out


def flatten(cfg: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Leaves as dotted keys (an empty mapping is a leaf)."""
    out: dict[str, Any] = {}
    for k, v in cfg.items():
        key = f"{prefix}{k}"
        if isinstance(v, Mapping) and v:
            out.update(flatten(v, key + "."))
        else:
            out[key] = v
    return out


def official_config_keys(code_dir: Path) -> set[str]:
    """Dotted leaf keys of base.yaml merged over imaginaire/config_base.yaml in an unpacked tree."""
    import yaml

    keys: set[str] = set()
    for rel in ("imaginaire/config_base.yaml", BASE_CONFIG):
        keys |= set(flatten(yaml.safe_load((Path(code_dir) / rel).read_text()) or {}))
    return keys


def check_keys(cfg: Mapping[str, Any], known: Iterable[str]) -> None:
    """Every generated key must exist in the official config (train.py would not notice a
    misspelled key in a config file: only command-line overrides are checked strictly)."""
    known = set(known)
    prefixes = {k.rsplit(".", i)[0] for k in known for i in range(k.count(".") + 1)}
    bad = sorted(
        k for k in flatten(cfg) if k != "_parent_" and k not in known and k not in prefixes
    )
    if bad:
        raise UserError(
            f"keys not in the official config: {', '.join(bad)}",
            "check runs.<run>.train against projects/neuralangelo/configs/base.yaml",
        )


def val_image_size(w: int, h: int, short: int = 300) -> list[int]:
    """generate_config.py's validation size: the short side ``short``, as [H, W]."""
    return [short, int(w / h * short)] if w > h else [int(h / w * short), short]


@dataclass
class GeneratedConfig:
    config: dict[str, Any]  # nested, with `_parent_`
    notes: dict[str, Any]  # how it was chosen (written as a YAML comment and into stats)


def generate_config(
    transforms: Mapping[str, Any],
    scene_type: str,
    final: int,
    sweep: Iterable[int],
    run: OfficialRun,
    mem_gb: float,
    data_root: str = "data",
    parent: str = BASE_CONFIG,
) -> GeneratedConfig:
    """The equivalent of generate_config.py plus our choices (memory, schedule, saves, run keys).

    ``data_root`` and ``parent`` are placeholders until a job materialises the config (its own
    unpacked code and data paths, see ``materialise``).
    """
    preset = SCENE_TYPES.get(scene_type)
    if preset is None:
        raise UserError(f"scene type {scene_type!r}", "use object or scene")
    w, h = int(transforms["w"]), int(transforms["h"])
    sdf = "model.object.sdf"
    d: dict[str, Any] = {
        "model.appear_embed.enabled": False,
        f"{sdf}.mlp.inside_out": preset == "indoor",
        f"{sdf}.encoding.coarse2fine.init_active_level": 4 if preset == "object" else 8,
    }
    if preset == "indoor":
        d["model.background.enabled"] = False
        d["model.render.num_samples.background"] = 0
    d.update(
        {
            "data.type": "projects.neuralangelo.data",
            "data.root": data_root,
            "data.train.image_size": [h, w],
            "data.val.image_size": val_image_size(w, h),
            "data.readjust.center": [0.0, 0.0, 0.0],
            "data.readjust.scale": 1.0,
            "max_iter": int(final),
            "checkpoint.save_iter": save_iter(sweep),
            "logging_iter": DEFAULT_LOGGING_ITER,
        }
    )
    d.update(memory_settings(mem_gb))
    d.update(schedule_overrides(run.schedule, final))
    d.update(run.train)  # the user's word is last
    n_images = len(transforms.get("frames", []))
    if d.get("model.appear_embed.enabled"):
        d.setdefault("data.num_images", n_images)
        if n_images < 4:
            d.setdefault("data.val.subset", n_images)
    cfg = {"_parent_": parent, **nest(d)}
    warm = int(d.get("optim.sched.warm_up_end", 5000))
    step = int(d.get(f"{sdf}.encoding.coarse2fine.step", 5000))
    init = int(d[f"{sdf}.encoding.coarse2fine.init_active_level"])
    notes = {
        "schedule": run.schedule,
        "scene_type": scene_type,
        "official_preset": preset,
        "gpu_memory_gb": round(float(mem_gb), 1),
        "final": int(final),
        "active_levels_at_final": active_levels(int(final), warm, step, init),
        "images": n_images,
    }
    return GeneratedConfig(cfg, notes)


def dump_config(gen: GeneratedConfig) -> str:
    import yaml

    head = "".join(f"# {k}: {v}\n" for k, v in gen.notes.items())
    return (
        "# Official Neuralangelo config generated by video2mesh (equivalent of its\n"
        "# generate_config.py plus run overrides); _parent_ and data.root are set per job.\n"
        + head
        + yaml.safe_dump(gen.config, default_flow_style=None, sort_keys=True)
    )


def read_notes(text: str) -> dict[str, str]:
    """The ``# key: value`` header of a config written by ``dump_config``."""
    out = {}
    for line in text.splitlines():
        m = re.match(r"#\s*(\w+):\s*(.*)$", line)
        if m:
            out[m[1]] = m[2]
    return out


def materialise(cfg: Mapping[str, Any], code_dir: Path, data_root: Path) -> dict[str, Any]:
    """The chain config with this job's absolute `_parent_` and data root."""
    out = json.loads(json.dumps(cfg))
    out["_parent_"] = str((Path(code_dir) / BASE_CONFIG).resolve())
    out.setdefault("data", {})["root"] = str(Path(data_root).resolve())
    return out


def config_value(cfg: Mapping[str, Any], dotted: str, default: Any = None) -> Any:
    node: Any = cfg
    for p in dotted.split("."):
        if not isinstance(node, Mapping) or p not in node:
            return default
        node = node[p]
    return node


# --- command lines ----------------------------------------------------------------------------


def _override_args(overrides: Mapping[str, Any]) -> list[str]:
    """``--key=value`` in the official parser's syntax (values YAML, as it reads them back)."""
    out = []
    for key, value in overrides.items():
        text = json.dumps(value) if isinstance(value, (list, dict, bool)) else str(value)
        if isinstance(value, bool):
            text = "true" if value else "false"
        out.append(f"--{key}={text}")
    return out


def launcher(python: str, gpus: int, single_gpu: bool) -> list[str]:
    """torchrun (``python -m torch.distributed.run`` of the image's interpreter) or python."""
    if single_gpu:
        return [python]
    return [python, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={int(gpus)}"]


def train_argv(
    python: str,
    logdir: Path,
    config: Path,
    until: int,
    final: int,
    anneal_end: float = DEFAULT_ANNEAL_END,
    gpus: int = 1,
    single_gpu: bool = False,
    seed: int | None = None,
) -> list[str]:
    """``train.py`` for one segment, run in the unpacked code directory; always ``--resume``
    (from ``latest_checkpoint.txt`` in the log directory; none there = from scratch)."""
    if single_gpu and gpus != 1:
        raise UserError("--single_gpu runs one process", "use gpus: 1 or torchrun")
    argv = [
        *launcher(python, gpus, single_gpu),
        TRAIN_SCRIPT,
        f"--logdir={logdir}",
        f"--config={config}",
        "--resume",
    ]
    if single_gpu:
        argv.append("--single_gpu")
    if seed is not None:
        argv.append(f"--seed={int(seed)}")
    return argv + _override_args(segment_overrides(until, final, anneal_end))


def extract_argv(
    python: str,
    config: Path,
    checkpoint: Path,
    output_file: Path,
    resolution: int,
    block_res: int = 128,
    textured: bool = True,
    gpus: int = 1,
    single_gpu: bool = False,
    overrides: Mapping[str, Any] | None = None,
) -> list[str]:
    """``extract_mesh.py`` with every option explicit; the output path has a directory
    (a bare file name crashes after the work, reference §4, issue #140)."""
    out = Path(output_file).as_posix()
    if not Path(out).is_absolute() and not out.startswith("./"):
        out = "./" + out  # a directory component even for a bare name: os.makedirs('.') works
    argv = [
        *launcher(python, gpus, single_gpu),
        EXTRACT_SCRIPT,
        f"--config={config}",
        f"--checkpoint={checkpoint}",
        f"--resolution={int(resolution)}",
        f"--block_res={int(block_res)}",
        f"--output_file={out}",
    ]
    if textured:
        argv.append("--textured")
    if single_gpu:
        argv.append("--single_gpu")
    return argv + _override_args(overrides or {})


def quote(argv: list[str]) -> str:
    return shlex.join(argv)


# --- sub-commands -----------------------------------------------------------------------------


def register(sub: argparse._SubParsersAction) -> None:
    s = sub.add_parser(
        "official-source",
        help="archive NVIDIA's Neuralangelo at a pinned commit (git, on this machine)",
        description="git-fetch REPO at COMMIT and write its tree as a .tar.gz (plus "
        f"{SOURCE_MANIFEST}: repo and full commit). REPO may be a URL or a local clone.",
    )
    s.add_argument(
        "--run-config", default="{}", help="the run's config entry as JSON (repo, commit)"
    )
    s.add_argument("--repo", help="overrides the run's repo")
    s.add_argument("--commit", help="overrides the run's commit")
    s.add_argument("--out", required=True, type=Path, help="archive to write (.tar.gz)")
    s.set_defaults(func=_cmd_source)

    c = sub.add_parser(
        "official-config",
        help="the official config of a (scene, run) chain from transforms.json",
        description="generate_config.py's equivalent: scene type preset, image sizes, hash "
        "table from the GPU memory, schedule (official or scaled) for the final count, saves.",
    )
    c.add_argument("--transforms", required=True, type=Path)
    c.add_argument("--scene-type", default="object", choices=sorted(SCENE_TYPES))
    c.add_argument("--run-config", default="{}")
    c.add_argument("--iterations", required=True, type=int, nargs="+", help="the sweep points")
    c.add_argument("--source", type=Path, help="source archive: check keys against its base.yaml")
    c.add_argument("--out", required=True, type=Path, help="config to write (.yaml)")
    c.set_defaults(func=_cmd_config)

    t = sub.add_parser(
        "official-train",
        help="train one segment of a neuralangelo run (train.py --resume)",
        description="Unpack the code and the images, restore the log directory (config.yaml, the "
        "previous checkpoint, latest_checkpoint.txt), run train.py to --until, move its "
        "checkpoint to --out and write the metrics CSV.",
    )
    t.add_argument("--source", required=True, type=Path, help="official-source archive")
    t.add_argument("--config", required=True, type=Path, help="official-config output")
    t.add_argument("--transforms", required=True, type=Path)
    t.add_argument("--images", required=True, type=Path, help="tar with images/<name>")
    t.add_argument("--until", required=True, type=int)
    t.add_argument("--final", required=True, type=int)
    t.add_argument("--resume", type=Path, help="official checkpoint of the previous sweep point")
    t.add_argument("--resume-metrics", type=Path, help="its metrics CSV (cumulative time)")
    t.add_argument("--gpus", type=int, default=1, help="torchrun --nproc_per_node")
    t.add_argument("--single-gpu", action="store_true", help="python train.py --single_gpu")
    t.add_argument("--python", default="", help="interpreter with torch + tinycudann")
    t.add_argument("--workdir", type=Path, help="scratch (default: beside --out)")
    t.add_argument("--out", required=True, type=Path)
    t.add_argument("--metrics", required=True, type=Path)
    t.set_defaults(func=_cmd_train)

    e = sub.add_parser(
        "official-extract",
        help="mesh an official checkpoint (extract_mesh.py), then weld and stats as builtin",
    )
    e.add_argument("--source", required=True, type=Path)
    e.add_argument("--config", required=True, type=Path)
    e.add_argument("--transforms", required=True, type=Path)
    e.add_argument("--ckpt", required=True, type=Path)
    e.add_argument("--resolution", required=True, type=int)
    e.add_argument("--block", type=int, default=128, help="extract_mesh.py --block_res")
    e.add_argument("--keep-largest", action="store_true", help="largest component after welding")
    e.add_argument("--no-colors", action="store_true", help="without --textured")
    e.add_argument("--gpus", type=int, default=1)
    e.add_argument("--single-gpu", action="store_true")
    e.add_argument("--python", default="")
    e.add_argument("--workdir", type=Path)
    e.add_argument("--out", required=True, type=Path)
    e.add_argument("--stats", required=True, type=Path)
    e.set_defaults(func=_cmd_extract)


def _run_entry(text: str) -> OfficialRun:
    if text.startswith("@"):
        text = Path(text[1:]).read_text()
    return OfficialRun.from_config(text)


def _cmd_source(args: argparse.Namespace) -> None:
    from video2mesh.official.source import make_source_archive

    run = _run_entry(args.run_config)
    info = make_source_archive(args.repo or run.repo, args.commit or run.commit, args.out)
    log.info("official-source: %s", json.dumps(info))


def _cmd_config(args: argparse.Namespace) -> None:
    from video2mesh.atomic import write_text

    run = _run_entry(args.run_config)
    transforms = json.loads(args.transforms.read_text())
    mem, why = gpu_memory_gb(run)
    gen = generate_config(
        transforms, args.scene_type, max(args.iterations), args.iterations, run, mem
    )
    gen.notes["gpu_memory_from"] = why
    gen.notes["commit"] = run.commit
    if args.source:
        from video2mesh.official.source import source_keys

        check_keys(gen.config, source_keys(args.source))
    write_text(args.out, dump_config(gen))
    log.info("official-config: %s", json.dumps(gen.notes))


def _cmd_train(args: argparse.Namespace) -> None:
    from video2mesh.official.train import TrainJob, run_train

    job = TrainJob(
        source=args.source,
        config=args.config,
        transforms=args.transforms,
        images=args.images,
        until=args.until,
        final=args.final,
        resume=args.resume,
        resume_metrics=args.resume_metrics,
        gpus=args.gpus,
        single_gpu=args.single_gpu,
        python=args.python,
        workdir=args.workdir,
        out=args.out,
        metrics=args.metrics,
    )
    log.info("official-train: %s", json.dumps(run_train(job), default=str))


def _cmd_extract(args: argparse.Namespace) -> None:
    from video2mesh.official.extract import ExtractJob, run_extract

    job = ExtractJob(
        source=args.source,
        config=args.config,
        transforms=args.transforms,
        ckpt=args.ckpt,
        resolution=args.resolution,
        block=args.block,
        keep_largest=args.keep_largest,
        colors=not args.no_colors,
        gpus=args.gpus,
        single_gpu=args.single_gpu,
        python=args.python,
        workdir=args.workdir,
        out=args.out,
        stats=args.stats,
    )
    log.info("official-extract: %s", json.dumps(run_extract(job), default=str))
