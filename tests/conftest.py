"""Shared fixtures: a tiny sample video made once per session."""

from __future__ import annotations

from pathlib import Path

import pytest

# The OVHcloud plugin's fixtures (emulator, moto S3 server, environment of a --profile ovh run)
# for the end-to-end tests of the workflow through the plugin (test_e2e_*.py).
from snakemake_executor_plugin_ovh.testing import (  # noqa: F401
    _emulator_process,
    emulator,
    ovh_env,
    ovh_token,
    s3_bucket,
    s3_server,
)
from v2m_testing import TINY_CONFIG, snakemake


@pytest.fixture
def one_colmap_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    """COLMAP on one thread: its threaded matching and mapping do not repeat themselves (the
    same frames gave a turntable orbit 0.5-0.9 % off, once 15.5 %; a long-lens ring posed as
    is 3 or 4 of 24 frames, once all 24), on one thread with the fixed seed they do (six draws
    of the long-lens ring alike). For tests of what SfM makes of a hard capture."""
    from video2mesh import sfm

    monkeypatch.setattr(sfm, "_threads", lambda: 1)


@pytest.fixture(scope="session")
def tiny_pipeline(tmp_path_factory) -> Path:
    """The whole pipeline on the tiny sample, then its report: the run directory."""
    wd = tmp_path_factory.mktemp("tiny_pipeline")
    proc = snakemake(wd, "--cores", "2", f"--configfile={TINY_CONFIG}")
    assert proc.returncode == 0, proc.stderr[-4000:]
    (wd / "console.txt").write_text(proc.stderr)  # what the user saw
    report = snakemake(wd, "--report", "results/report.html", f"--configfile={TINY_CONFIG}")
    assert report.returncode == 0, report.stderr[-4000:]
    return wd


@pytest.fixture(scope="session")
def tiny_sample(tmp_path_factory) -> dict[str, Path]:
    """A 32-frame 240×180 sample video with its cameras and true mesh."""
    from video2mesh.sample import generate, variant_spec

    d = tmp_path_factory.mktemp("sample")
    out = {"video": d / "sample.mp4", "cameras": d / "cameras.json", "mesh": d / "truth.ply"}
    generate(
        out["video"],
        out["cameras"],
        out["mesh"],
        variant_spec("classic", frames=32, width=240, height=180, mesh_resolution=64),
    )
    return out
