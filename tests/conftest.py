"""Shared fixtures: a tiny sample video made once per session, helpers to run the CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def cli_env() -> dict[str, str]:
    """Environment for subprocesses: this interpreter's bin first, this repo's src importable."""
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}:{env.get('PATH', '')}"
    env["PYTHONPATH"] = f"{ROOT / 'src'}:{env.get('PYTHONPATH', '')}"
    return env


def run_cli(*args: str, check: bool = False) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "video2mesh", *args],
        capture_output=True,
        text=True,
        env=cli_env(),
        check=check,
    )


@pytest.fixture(scope="session")
def tiny_sample(tmp_path_factory) -> dict[str, Path]:
    """A 32-frame 240×180 sample video with its cameras and true mesh."""
    from video2mesh.sample import SampleSpec, generate

    d = tmp_path_factory.mktemp("sample")
    out = {"video": d / "sample.mp4", "cameras": d / "cameras.json", "mesh": d / "truth.ply"}
    generate(
        out["video"],
        out["cameras"],
        out["mesh"],
        SampleSpec(frames=32, width=240, height=180, mesh_resolution=64),
    )
    return out
