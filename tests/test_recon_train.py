"""Training: the loss falls, a chain of segments equals one run, a killed segment resumes
(also on a fresh disk, from the partial save kept in S3)."""

from __future__ import annotations

import csv
import dataclasses
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
from v2m_testing import TINY_TRAIN, tiny_segment

from video2mesh.errors import UserError
from video2mesh.recon.presets import build_config
from video2mesh.recon.synthetic import sphere_sdf, write_scene
from video2mesh.recon.train import Segment, run_segment

TINY = {
    "preset": "cpu",
    "train": TINY_TRAIN,
}


@pytest.fixture(scope="module")
def scene(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return write_scene(tmp_path_factory.mktemp("sphere"), sphere_sdf(0.5), n_views=8, size=32)


def _segment(scene, out: Path, until: int, final: int, **kw) -> Segment:
    return tiny_segment(scene, out, until, final, **kw)


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
    while not partial.exists() and proc.poll() is None:  # pytest's timeout bounds a hang
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


def test_ctrl_c_stops_after_a_whole_iteration_saves_and_resumes_exactly(
    scene, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Ctrl-C (SIGINT) in the middle of training: the segment finishes the iteration under way,
    saves it as its partial save, says so and exits with 130, no traceback; run again, it goes
    on from there to the state an uninterrupted run reaches."""
    from video2mesh.recon import loop

    ref = tmp_path / "ref"
    run_segment(_segment(scene, ref, 120, 120))
    out = tmp_path / "interrupted"
    partial = out / "it120.partial.pt"
    metrics_call = loop.MetricRows.__call__

    def ctrl_c_at_37(self, it, parts, st):  # as the terminal would, between two callbacks
        if it == 37:
            os.kill(os.getpid(), signal.SIGINT)
        metrics_call(self, it, parts, st)

    monkeypatch.setattr(loop.MetricRows, "__call__", ctrl_c_at_37)
    caplog.set_level(logging.INFO)
    # as in a terminal (a run started in the background with SIGINT ignored keeps ignoring it)
    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(SystemExit) as stopped:
            run_segment(_segment(scene, out, 120, 120, partial=partial, save_every_s=0))
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # restored
    finally:
        signal.signal(signal.SIGINT, before)
    assert stopped.value.code == 128 + signal.SIGINT
    assert torch.load(partial, weights_only=False)["iteration"] == 37
    assert not (out / "it120.pt").exists()
    assert "stopped at iteration 37 of 120; saved to" in caplog.text
    monkeypatch.setattr(loop.MetricRows, "__call__", metrics_call)
    caplog.clear()
    run_segment(_segment(scene, out, 120, 120, partial=partial, save_every_s=0))
    assert "at iteration 37" in caplog.text
    assert "iteration 120 of 120 (100%)" in caplog.text  # the progress line
    _same_state(ref / "it120.pt", out / "it120.pt")
    assert not partial.exists()


def test_resumed_segment_trains_with_the_thread_count_of_its_save(
    scene, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The preempted job's retry resumes from an in-segment save on a machine that gives it
    another thread count (`--cores all`); CPU sums split across threads, so it keeps the saved
    run's count and ends bitwise equal to one uninterrupted run with that count."""
    one = tmp_path / "one"
    run_segment(dataclasses.replace(_segment(scene, one, 40, 40), threads=2))
    # an in-segment save at 15 of a 2-thread job (same inputs: a final save is a valid partial)
    job1 = tmp_path / "job1"
    run_segment(dataclasses.replace(_segment(scene, job1, 15, 40), threads=2))
    job2 = tmp_path / "job2"
    job2.mkdir()
    shutil.copy(job1 / "it15.pt", job2 / "it40.partial.pt")
    seg = _segment(scene, job2, 40, 40, partial=job2 / "it40.partial.pt")
    assert seg.threads == 1
    before = torch.get_num_threads()
    with caplog.at_level(logging.INFO, logger="video2mesh.recon.train"):
        summary = run_segment(seg)
    assert summary["start"] == 15 and summary["threads"] == 2
    assert "training with 2 threads" in caplog.text
    assert torch.load(job2 / "it40.pt", weights_only=False)["threads"] == 2
    assert torch.get_num_threads() == before  # the process's setting is restored
    _same_state(one / "it40.pt", job2 / "it40.pt")


S3_KEYS = {"access": "testing-access", "secret": "testing-secret"}


@pytest.fixture
def s3_partial(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, Any]]:
    """(s3:// url of a partial save, boto3 client) on a local moto server, reached like a
    remote job reaches the run's storage: SNAKEMAKE_STORAGE_S3_* in the environment."""
    boto3 = pytest.importorskip("boto3")
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    env = {
        "ENDPOINT_URL": f"http://{host}:{port}",
        "REGION": "us-east-1",
        "ACCESS_KEY": S3_KEYS["access"],
        "SECRET_KEY": S3_KEYS["secret"],
    }
    for k, v in env.items():
        monkeypatch.setenv(f"SNAKEMAKE_STORAGE_S3_{k}", v)
    s3 = boto3.client(
        "s3",
        endpoint_url=env["ENDPOINT_URL"],
        region_name="us-east-1",
        aws_access_key_id=S3_KEYS["access"],
        aws_secret_access_key=S3_KEYS["secret"],
    )
    s3.create_bucket(Bucket="runs")
    yield "s3://runs/v2m/results/s/r/ckpt/it150.partial.pt", s3
    server.stop()


def _s3_iteration(s3: Any, url: str, dest: Path) -> int | None:
    bucket, key = url.removeprefix("s3://").split("/", 1)
    try:
        s3.download_file(bucket, key, str(dest))
    except s3.exceptions.ClientError:
        return None
    return int(torch.load(dest, weights_only=False)["iteration"])


def test_killed_segment_resumes_from_its_s3_partial_save_on_a_fresh_disk(
    scene, tmp_path: Path, s3_partial: tuple[str, Any]
) -> None:
    """A preempted remote job: killed after an upload, its disk gone; the retry resumes from
    the S3 copy (not from zero) and ends bitwise equal to an uninterrupted run."""
    url, s3 = s3_partial
    ref = tmp_path / "ref"
    run_segment(_segment(scene, ref, 150, 150))

    def cmd(disk: Path) -> list[str]:
        return [
            sys.executable, "-m", "video2mesh.cli", "train",
            "--transforms", str(scene[0]), "--images", str(scene[1]),
            "--run-config", json.dumps(TINY), "--until", "150", "--final", "150",
            "--partial", str(disk / "it150.partial.pt"), "--partial-store", url,
            "--out", str(disk / "it150.pt"), "--metrics", str(disk / "it150.csv"),
            "--save-every-iters", "20", "--threads", "1",
        ]  # fmt: skip

    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    first = tmp_path / "job1"
    proc = subprocess.Popen(cmd(first), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    bucket, key = url.removeprefix("s3://").split("/", 1)
    while proc.poll() is None:  # pytest's timeout bounds a hang
        if s3.list_objects_v2(Bucket=bucket, Prefix=key).get("KeyCount"):
            break
        time.sleep(0.02)
    time.sleep(0.1)  # past the upload, mid-segment
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (first / "it150.pt").exists()
    saved_at = _s3_iteration(s3, url, tmp_path / "saved.pt")
    assert saved_at is not None and 0 < saved_at < 150
    shutil.rmtree(first)  # the preempted job's disk is gone

    second = tmp_path / "job2"
    res = subprocess.run(cmd(second), env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    assert f"fetched the partial save {url}" in res.stderr
    assert f"at iteration {saved_at}" in res.stderr
    assert S3_KEYS["secret"] not in res.stderr + res.stdout
    _same_state(ref / "it150.pt", second / "it150.pt")
    assert [r["iteration"] for r in _rows(second / "it150.csv")] == [
        r["iteration"] for r in _rows(ref / "it150.csv")
    ]
    # the end of the segment removes both copies
    assert _s3_iteration(s3, url, tmp_path / "after.pt") is None
    assert not (second / "it150.partial.pt").exists()


def test_s3_partial_save_of_other_inputs_is_not_resumed(
    scene, tmp_path: Path, s3_partial: tuple[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    """Same run, settings and key, but other transforms: the segment starts over."""
    url, s3 = s3_partial
    seg = _segment(scene, tmp_path / "a", 40, 40, partial=tmp_path / "a" / "p.pt")
    run_segment(dataclasses.replace(seg, until=20, out=tmp_path / "a" / "it20.pt"))
    bucket, key = url.removeprefix("s3://").split("/", 1)
    s3.upload_file(str(tmp_path / "a" / "it20.pt"), bucket, key)  # a save at iteration 20
    other = tmp_path / "transforms.json"
    other.write_text(scene[0].read_text() + "\n")  # same cameras, other bytes
    fresh = _segment(scene, tmp_path / "b", 40, 40, partial=tmp_path / "b" / "p.pt")
    fresh = dataclasses.replace(fresh, transforms=other, partial_store=url)
    with caplog.at_level(logging.INFO):
        summary = run_segment(fresh)
    assert summary["start"] == 0
    assert "ignoring the partial save" in caplog.text and "other inputs" in caplog.text
    run_segment(_segment(scene, tmp_path / "ref", 40, 40))
    _same_state(tmp_path / "ref" / "it40.pt", tmp_path / "b" / "it40.pt")


def test_a_grid_that_follows_the_images_is_resolved_once_and_resumes(scene, tmp_path: Path) -> None:
    from video2mesh.recon.data import load_dataset
    from video2mesh.recon.presets import grid_resolution_for

    def seg(until: int, **kw) -> Segment:
        s = _segment(scene, tmp_path, until, 20, **kw)
        s.cfg.hash_max_res = 0
        return s

    first = seg(10)
    run_segment(first)
    ds = load_dataset(scene[0], scene[1], TINY_TRAIN["image_max_side"])
    want = grid_resolution_for(ds.pixel_footprint(), first.cfg)
    ck = torch.load(tmp_path / "it10.pt", weights_only=False)
    assert ck["config"]["hash_max_res"] == want == first.cfg.hash_max_res
    # a segment asked for 0 again resumes the checkpoint (its resolved grid is the same)
    run_segment(seg(20, resume=tmp_path / "it10.pt"))
    assert torch.load(tmp_path / "it20.pt", weights_only=False)["iteration"] == 20


def test_a_checkpoint_older_than_a_training_key_resumes_and_other_settings_do_not(
    scene, tmp_path: Path
) -> None:
    run_segment(_segment(scene, tmp_path, 15, 30))
    ck = torch.load(tmp_path / "it15.pt", weights_only=False)
    # written before lr_cameras existed: trained with its default (off), so it resumes
    del ck["config"]["lr_cameras"]
    torch.save(ck, tmp_path / "old.pt")
    run_segment(_segment(scene, tmp_path, 30, 30, resume=tmp_path / "old.pt"))
    assert torch.load(tmp_path / "it30.pt", weights_only=False)["iteration"] == 30
    # trained with camera refinement on: not this run's settings, and the message names the key
    ck["config"]["lr_cameras"] = 1e-3
    torch.save(ck, tmp_path / "other.pt")
    with pytest.raises(UserError, match=r"differs in \['lr_cameras'\]"):
        run_segment(_segment(scene, tmp_path / "b", 30, 30, resume=tmp_path / "other.pt"))


def test_camera_refinement_learns_corrections_and_resumes_them(scene, tmp_path: Path) -> None:
    cfg, _ = build_config({**TINY, "train": {**TINY_TRAIN, "lr_cameras": 1e-3}}, "object")

    def seg(out: Path, until: int, **kw: Any) -> Segment:
        return dataclasses.replace(_segment(scene, out, until, 40, **kw), cfg=cfg)

    run_segment(seg(tmp_path / "one", 40))
    delta = torch.load(tmp_path / "one" / "it40.pt", weights_only=False)["model"]["cameras.delta"]
    assert delta.shape == (8, 6) and delta.abs().max() > 1e-4  # every view moved a little
    assert delta.abs().max() < 0.05  # ... and not away: the scene's cameras are exact
    chain = tmp_path / "chain"
    run_segment(seg(chain, 15))
    run_segment(seg(chain, 40, resume=chain / "it15.pt"))
    _same_state(tmp_path / "one" / "it40.pt", chain / "it40.pt")


def test_exposure_learns_each_photos_brightness(scene, tmp_path: Path) -> None:
    """Every other photo 40 % darker (a phone's auto exposure): with `exposure` on, those
    photos' learned gains come out lower than the others', and the fit is closer."""
    import io
    import tarfile

    import numpy as np
    from PIL import Image

    transforms, images = scene
    dark = tmp_path / "images.tar"
    with tarfile.open(images) as src, tarfile.open(dark, "w") as dst:
        for k, member in enumerate(m for m in src.getmembers() if m.isfile()):
            data = src.extractfile(member).read()  # type: ignore[union-attr]
            if k % 2:
                rgb = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"), np.float32)
                buf = io.BytesIO()
                Image.fromarray((rgb * 0.6 + 0.5).astype(np.uint8)).save(buf, format="PNG")
                data = buf.getvalue()
            info = tarfile.TarInfo(member.name)
            info.size = len(data)
            dst.addfile(info, io.BytesIO(data))
    fits = {}
    for on in (False, True):
        # the official decay (60 / 80 %): 150 iterations, the comparison's margin was set on it
        train = {**TINY_TRAIN, "exposure": on, "lr_steps": [0.6, 0.8]}
        cfg, _ = build_config({**TINY, "train": train}, "object")
        seg = dataclasses.replace(
            _segment((transforms, dark), tmp_path / str(on), 150, 150), cfg=cfg
        )
        run_segment(seg)
        fits[on] = float(_rows(tmp_path / str(on) / "it150.csv")[-1]["rgb_l1"])
    e = torch.load(tmp_path / "True" / "it150.pt", weights_only=False)["model"]["exposure.weight"]
    assert e.shape == (8, 6)
    gain = e[:, :3].mean(1)  # log gains; the dataset keeps the tar's order (view k = image k)
    assert gain[1::2].max() < gain[0::2].min()  # every darkened photo below every other one
    assert gain[1::2].mean() < gain[0::2].mean() - 0.05  # (log 0.6 = -0.51 once converged)
    assert fits[True] < 0.9 * fits[False]
