"""Helpers for the tests (a unique module name: the plugin's tests have their own helpers)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TINY_CONFIG = ROOT / "tests" / "data" / "tiny_config.yaml"


def cli_env() -> dict[str, str]:
    """Environment for subprocesses: this interpreter's bin first, this repo's src importable."""
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}:{env.get('PATH', '')}"
    env["PYTHONPATH"] = f"{ROOT / 'src'}:{env.get('PYTHONPATH', '')}"
    return env


def run_cli(*args: str, check: bool = False) -> subprocess.CompletedProcess:
    """Run `python -m video2mesh ARGS` as the rules do."""
    return subprocess.run(
        [sys.executable, "-m", "video2mesh", *args],
        capture_output=True,
        text=True,
        env=cli_env(),
        check=check,
    )


def snakemake(
    workdir: Path,
    *args: str,
    timeout: float = 1500,
    snakefile: Path = ROOT / "Snakefile",
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess:
    """Run this repository's workflow in ``workdir``; stdout and stderr merged into stderr."""
    cmd = [sys.executable, "-m", "snakemake", "-s", str(snakefile), "-d", str(workdir)]
    proc = subprocess.run(
        [*cmd, *args], capture_output=True, text=True, env=env or cli_env(), timeout=timeout
    )
    proc.stderr = proc.stdout + proc.stderr  # snakemake prints errors on either
    return proc


# Training overrides small enough for a test's chain to run in seconds on one CPU core.
TINY_TRAIN = {
    "rays": 96,
    "image_max_side": 32,
    "object_min_pixels": 0,  # the frame size above, whatever the object's
    "hash_levels": 4,
    "hash_max_res": 64,
    "hash_log2_size": 12,
    "sdf_hidden": 32,
    "sdf_feature_dim": 16,
    "color_hidden": 32,
    "samples_coarse": 16,
    "samples_fine": 8,
    "log_every": 10,
}


def tiny_segment(
    scene: tuple[Path, Path], out: Path, until: int, final: int, train: dict | None = None, **kw
):
    """A training segment of the CPU preset shrunk by TINY_TRAIN (and ``train``) on a
    generated scene (``recon.synthetic.write_scene``), writing ``out/it{until}.pt`` and ``.csv``."""
    from video2mesh.recon.presets import build_config
    from video2mesh.recon.train import Segment

    cfg, preset = build_config(
        {"preset": "cpu", "train": {**TINY_TRAIN, **(train or {})}}, "object"
    )
    return Segment(
        transforms=scene[0],
        images=scene[1],
        cfg=cfg,
        preset=preset,
        scene_type="object",
        until=until,
        final=final,
        out=out / f"it{until}.pt",
        metrics=out / f"it{until}.csv",
        threads=1,
        **kw,
    )


def first_step(ds, rays: int, seed: int = 0):
    """What ``train._Step`` takes for a fresh CPU-preset model on ``rays`` of ``ds``'s training
    rays: (cfg, model, (o, d, rgb, img, jit_c, jit_b, state))."""
    import torch

    from video2mesh.recon import schedule
    from video2mesh.recon.fields import initial_model
    from video2mesh.recon.presets import build_config

    gen = torch.Generator().manual_seed(seed)
    o, d, rgb, img = ds.sample(rays, gen)
    cfg, _ = build_config({"preset": "cpu"}, "object")
    jit = (
        torch.rand(len(o), cfg.samples_coarse, generator=gen),
        torch.rand(len(o), cfg.bg_samples, generator=gen),
    )
    model = initial_model(cfg, ds.n_images)
    return cfg, model, (o, d, rgb, img, *jit, schedule.state(cfg, 0, 100))
