"""Training: the loss falls, a chain of segments equals one run, a killed segment resumes."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from video2mesh.recon.presets import build_config
from video2mesh.recon.synthetic import sphere_sdf, write_scene
from video2mesh.recon.train import Segment, run_segment

TINY = {
    "preset": "cpu",
    "train": {
        "rays": 96,
        "image_max_side": 32,
        "hash_levels": 4,
        "hash_max_res": 64,
        "hash_log2_size": 12,
        "sdf_hidden": 32,
        "sdf_feature_dim": 16,
        "color_hidden": 32,
        "samples_coarse": 16,
        "samples_fine": 8,
        "log_every": 10,
    },
}


@pytest.fixture(scope="module")
def scene(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return write_scene(tmp_path_factory.mktemp("sphere"), sphere_sdf(0.5), n_views=8, size=32)


def _segment(scene, out: Path, until: int, final: int, **kw) -> Segment:
    cfg, preset = build_config(TINY, "object")
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


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open() as fh:
        return list(csv.DictReader(fh))


def _same_state(a: Path, b: Path) -> None:
    ca, cb = torch.load(a, weights_only=False), torch.load(b, weights_only=False)
    assert ca["iteration"] == cb["iteration"]
    for k, v in ca["model"].items():
        assert torch.equal(v, cb["model"][k]), k
    assert torch.equal(ca["rng"]["generator"], cb["rng"]["generator"])
    sa, sb = ca["optimizer"]["state"], cb["optimizer"]["state"]
    for k in sa:
        assert torch.equal(sa[k]["exp_avg"], sb[k]["exp_avg"])


def test_loss_decreases_and_checkpoint_is_complete(scene, tmp_path: Path) -> None:
    run_segment(_segment(scene, tmp_path, 120, 120))
    rows = _rows(tmp_path / "it120.csv")
    assert [int(r["iteration"]) for r in rows] == list(range(10, 121, 10))
    first, last = rows[0], rows[-1]
    assert float(last["rgb_l1"]) < 0.7 * float(first["rgb_l1"])
    assert float(last["psnr"]) > float(first["psnr"]) + 2
    ck = torch.load(tmp_path / "it120.pt", weights_only=False)
    assert ck["iteration"] == 120 and ck["final"] == 120 and ck["preset"] == "cpu"
    assert ck["normalisation"]["sphere_radius"] == pytest.approx(2.0)
    assert ck["config"]["rays"] == 96 and ck["optimizer"] is not None


def test_chain_equals_one_run(scene, tmp_path: Path) -> None:
    one, chain = tmp_path / "one", tmp_path / "chain"
    run_segment(_segment(scene, one, 40, 40))
    run_segment(_segment(scene, chain, 15, 40))
    run_segment(_segment(scene, chain, 40, 40, resume=chain / "it15.pt"))
    _same_state(one / "it40.pt", chain / "it40.pt")
    losses = {r["iteration"]: r["loss"] for r in _rows(one / "it40.csv")}
    for r in _rows(chain / "it40.csv"):
        if r["iteration"] in losses and int(r["iteration"]) > 20:
            assert r["loss"] == losses[r["iteration"]]


def test_resume_after_kill(scene, tmp_path: Path) -> None:
    ref = tmp_path / "ref"
    run_segment(_segment(scene, ref, 150, 150))
    out = tmp_path / "killed"
    partial = out / "it150.partial.pt"
    cmd = [
        sys.executable,
        "-m",
        "video2mesh.cli",
        "train",
        "--transforms",
        str(scene[0]),
        "--images",
        str(scene[1]),
        "--run-config",
        __import__("json").dumps(TINY),
        "--until",
        "150",
        "--final",
        "150",
        "--partial",
        str(partial),
        "--out",
        str(out / "it150.pt"),
        "--metrics",
        str(out / "it150.csv"),
        "--save-every-iters",
        "20",
        "--threads",
        "1",
    ]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.time() + 120
    while not partial.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.01)
    time.sleep(0.05)  # let it run past the save, then kill it mid-segment
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert partial.exists() and not (out / "it150.pt").exists()
    saved_at = torch.load(partial, weights_only=False)["iteration"]
    assert 0 < saved_at < 150
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    assert f"at iteration {saved_at}" in res.stderr
    assert not partial.exists()
    _same_state(ref / "it150.pt", out / "it150.pt")
    assert [r["iteration"] for r in _rows(out / "it150.csv")] == [
        r["iteration"] for r in _rows(ref / "it150.csv")
    ]
