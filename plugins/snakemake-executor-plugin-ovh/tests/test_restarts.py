"""Restarts through the real CLI, the emulator and moto: the S3 server unavailable mid-run,
and the submitting snakemake killed with SIGKILL then started again."""

from __future__ import annotations

import secrets
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from .conftest import Emulator
from .helpers import TcpProxy, copy_workflow, ovh_cli, run
from .test_cli import s3_text
from .test_faults import TERMINAL


def stats_jobs(emulator: Emulator, tag: str) -> list[dict[str, str]]:
    return [s for s in emulator.stats()["submitted"] if s["labels"].get("test") == tag]


def state_of(emulator: Emulator, tag: str, rule: str) -> set[str]:
    return {s["state"] for s in stats_jobs(emulator, tag) if s["labels"]["snakemake-rule"] == rule}


@pytest.mark.slow
def test_s3_unavailable_mid_run_is_retried_and_nothing_finished_is_lost(
    tmp_path: Path, emulator: Emulator, s3_server: str, s3_bucket: str, ovh_env: dict[str, str]
) -> None:
    wf = copy_workflow("mini", tmp_path)
    tag = secrets.token_hex(4)
    moto = urlsplit(s3_server)
    proxy = TcpProxy((str(moto.hostname), int(moto.port or 80)))
    proxy.up()
    cmd = ovh_cli(emulator, proxy.url, s3_bucket, "--ovh-labels", f"test={tag}",
                  "--ovh-keep-jobs", "true", "--retries", "0", "out/naps.txt")  # fmt: skip
    proc = subprocess.Popen(
        cmd, cwd=wf, env=ovh_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    outage = 8.0
    try:
        # nap/2 finished (in S3, its job DONE) while nap/6 still runs: S3 goes away for 8 s,
        # across nap/6's upload and the submitter's checks of both outputs
        emulator.wait_for(
            lambda: state_of(emulator, tag, "nap") == {"DONE", "RUNNING"}, timeout=120, interval=0.1
        )
        proxy.down()
        time.sleep(outage)
        proxy.up()
        _, err = proc.communicate(timeout=240)
    finally:
        proxy.down()
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err[-4000:]
    assert s3_text(s3_server, s3_bucket, "runs/out/naps.txt") == "2\n6\n"
    assert s3_text(s3_server, s3_bucket, "runs/nap/2.txt") == "2\n"
    # storage retried inside the jobs and the submitter; no job was submitted twice
    jobs = stats_jobs(emulator, tag)
    assert Counter(j["labels"]["snakemake-rule"] for j in jobs) == {"nap": 2}
    assert {j["state"] for j in jobs} == {"DONE"}


@pytest.mark.slow
def test_sigkill_then_rerun_incomplete_kills_the_orphan_and_recomputes_nothing_finished(
    tmp_path: Path, emulator: Emulator, s3_server: str, s3_bucket: str, ovh_env: dict[str, str]
) -> None:
    wf = copy_workflow("mini", tmp_path)
    tag = secrets.token_hex(4)
    targets = ["out/ok.txt", "out/sleepy.txt"]
    base = ovh_cli(emulator, s3_server, s3_bucket, "--ovh-labels", f"test={tag}",
                   "--ovh-keep-jobs", "true", "--retries", "0")  # fmt: skip
    err_path = tmp_path / "first.err"
    with open(err_path, "w") as err_file:
        proc = subprocess.Popen([*base, *targets], cwd=wf, env=ovh_env, stdout=err_file,
                                stderr=err_file, text=True)  # fmt: skip
        try:
            # ok finished and recorded by snakemake, sleepy running on the platform
            emulator.wait_for(
                lambda: (
                    "1 of 2 steps" in err_path.read_text()
                    and state_of(emulator, tag, "sleepy") == {"RUNNING"}
                ),
                timeout=120,
            )
            proc.send_signal(signal.SIGKILL)  # no handler, no atexit: nothing cleaned up
            proc.wait(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
    time.sleep(1.5)
    (orphan,) = [j for j in stats_jobs(emulator, tag) if j["labels"]["snakemake-rule"] == "sleepy"]
    assert orphan["state"] == "RUNNING"  # left behind, billed

    # the documented way back: unlock (the dead run's lock is stale), then rerun
    assert run([*base, "--unlock"], wf, ovh_env).returncode == 0
    again = run(
        [*base, "--rerun-incomplete", *targets, "--config", "sleepy_seconds=1"], wf, ovh_env
    )
    assert again.returncode == 0, again.stderr[-4000:]
    assert f"OVHcloud AI Training job {orphan['id']} (sleepy, RUNNING) was left by run" in (
        again.stderr
    )
    jobs = emulator.wait_for(
        lambda: (js := stats_jobs(emulator, tag)) and all(j["state"] in TERMINAL for j in js) and js
    )
    by_id = {j["id"]: j for j in jobs}
    assert by_id[orphan["id"]]["state"] == "INTERRUPTED"
    # each output computed once to completion: ok (finished before the kill) not again,
    # sleepy once more after its orphan was killed
    runs = {j["labels"]["snakemake-run"] for j in jobs}
    assert len(runs) == 2
    per_rule = Counter((j["labels"]["snakemake-rule"], j["state"]) for j in jobs)
    assert per_rule == {("ok", "DONE"): 1, ("sleepy", "INTERRUPTED"): 1, ("sleepy", "DONE"): 1}
    outputs = Counter(j["labels"]["snakemake-output"] for j in jobs if j["state"] == "DONE")
    assert set(outputs.values()) == {1}
    assert s3_text(s3_server, s3_bucket, "runs/out/ok.txt") == "ok\n"
