"""`snakemake --profile tests/profile` (a user's profile) against the emulator and moto S3."""

from __future__ import annotations

import re
import secrets
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import boto3
import pytest

from .conftest import S3_ACCESS_KEY, S3_SECRET_KEY, Emulator
from .helpers import copy_workflow, ovh_cli, run

LABEL_OK = re.compile(r"^[A-Za-z0-9._-]*$")


def s3_text(endpoint: str, bucket: str, key: str) -> str:
    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=S3_ACCESS_KEY,
        aws_secret_access_key=S3_SECRET_KEY,
        region_name="us-east-1",
    )
    return client.get_object(Bucket=bucket, Key=key)["Body"].read().decode()


def files_containing(root: Path, needle: bytes) -> list[Path]:
    hits = []
    for path in root.rglob("*"):
        if path.is_file() and not path.is_symlink():
            try:
                if needle in path.read_bytes():
                    hits.append(path)
            except OSError:
                pass
    return hits


def test_profile_run_remote_local_flavors_wildcards_and_no_token_leak(
    tmp_path: Path, emulator: Emulator, s3_server: str, s3_bucket: str, ovh_env: dict[str, str]
) -> None:
    wf = copy_workflow("mini", tmp_path)
    tag = secrets.token_hex(4)
    targets = ["out/merged.txt", "wc/plain.txt", "wc/with/slash and space.txt", "gpu/H100.txt"]
    cmd = ovh_cli(emulator, s3_server, s3_bucket, "--ovh-keep-jobs", "true",
                  "--ovh-labels", f"test={tag}", *targets)  # fmt: skip
    result = run(cmd, wf, ovh_env)
    assert result.returncode == 0, result.stderr[-4000:]

    # outputs live in S3 under the prefix; the local rule ran here and uploaded its result
    assert s3_text(s3_server, s3_bucket, "runs/out/merged.txt") == "ok\nlocal\n"
    assert s3_text(s3_server, s3_bucket, "runs/wc/with/slash and space.txt").strip() == (
        "with/slash and space"
    )
    assert s3_text(s3_server, s3_bucket, "runs/gpu/H100.txt").strip() == "H100"

    jobs = emulator.jobs(test=tag)
    by_rule = {j["spec"]["labels"]["snakemake-rule"]: j for j in jobs}
    assert sorted(j["spec"]["labels"]["snakemake-rule"] for j in jobs) == [
        "gpu", "ok", "wildcard", "wildcard",
    ]  # fmt: skip
    assert "local_merge" not in by_rule
    assert all(j["status"]["state"] == "DONE" for j in jobs)
    # resource -> flavor: gpu_model H100 -> h100-1-gpu; no gpu -> the CPU flavor
    gpu = by_rule["gpu"]["spec"]
    assert (gpu["resources"]["flavor"], gpu["resources"]["gpu"]) == ("h100-1-gpu", 1)
    assert gpu["timeout"] == 30 * 60 + 900
    assert by_rule["ok"]["spec"]["resources"]["flavor"] == "ai1-1-cpu"
    assert by_rule["ok"]["spec"]["image"].startswith("docker.io/pytorch/pytorch")  # --ovh-image
    assert gpu["image"] == "example.org/ovh-test/gpu-image:1"  # the rule's container:
    # wildcard values with '/' and spaces never reach labels or names unsanitised
    for job in jobs:
        for key, value in job["spec"]["labels"].items():
            assert key.startswith("ovh/") or (LABEL_OK.match(key) and LABEL_OK.match(value))
        assert LABEL_OK.match(job["spec"]["name"])
    # one log per remote job, flat file names
    logs = sorted((wf / ".snakemake" / "auxiliary" / "ovh-logs").iterdir())
    assert len(logs) == 4 and all(p.is_file() for p in logs)
    assert any("slash_and_space" in p.name for p in logs)

    # the token: not in the output, the job specs (command, envVars), or any file written
    token = emulator.token
    assert token not in result.stdout and token not in result.stderr
    for job in jobs:
        assert token not in str(job["spec"])
        assert all(e["name"] != "SNAKEMAKE_OVH_TOKEN" for e in job["spec"]["envVars"])
    assert files_containing(wf, token.encode()) == []
    assert files_containing(emulator.workdir, token.encode()) == []


def test_failing_jobs_become_errors_with_logs(
    tmp_path: Path, emulator: Emulator, s3_server: str, s3_bucket: str, ovh_env: dict[str, str]
) -> None:
    wf = copy_workflow("mini", tmp_path)
    emulator.faults(
        job_faults=[
            {"match": {"snakemake-rule": "ok"}, "outcome": "ERROR"},
            {"match": {"snakemake-rule": "gpu"}, "outcome": "SYNC_FAILED"},
        ]
    )
    cmd = ovh_cli(emulator, s3_server, s3_bucket, "--retries", "0", "--keep-going",
                  "out/fail.txt", "out/ok.txt", "gpu/L4.txt")  # fmt: skip
    result = run(cmd, wf, ovh_env)
    assert result.returncode != 0
    err = result.stderr
    # the job's command is the inner snakemake, which exits 1 when its rule fails
    assert "ended FAILED (exit code 1)" in err
    assert "rule fail is broken on purpose" in err  # show-failed-logs prints the saved job log
    assert "ended ERROR" in err and "Emulated platform error" in err
    assert "ended SYNC_FAILED" in err
    assert "3 of 3 steps" not in err
    logs = list((wf / ".snakemake" / "auxiliary" / "ovh-logs").glob("fail_*.log"))
    assert len(logs) == 1
    assert "rule fail is broken on purpose" in logs[0].read_text()
    assert str(logs[0].relative_to(wf)) in err or logs[0].name in err


def test_transient_api_errors_and_slow_answers_are_survived(
    tmp_path: Path, emulator: Emulator, s3_server: str, s3_bucket: str, ovh_env: dict[str, str]
) -> None:
    wf = copy_workflow("mini", tmp_path)
    tag = secrets.token_hex(4)
    emulator.faults(errors={"submit": [500, 429, 503], "list": [502, 429, 500]}, delay=0.1)
    cmd = ovh_cli(emulator, s3_server, s3_bucket, "--ovh-keep-jobs", "true",
                  "--ovh-labels", f"test={tag}", "out/ok.txt", "wc/x.txt")  # fmt: skip
    result = run(cmd, wf, ovh_env)
    assert result.returncode == 0, result.stderr[-4000:]
    assert "retrying submission" in result.stderr or "retry" in result.stderr
    jobs = emulator.jobs(test=tag)
    assert len(jobs) == 2  # retried submissions created no duplicates


def _as_from_a_terminal() -> None:
    """Ctrl-C and hangup at their defaults, as in a terminal. A suite started in the
    background (`cmd &`, nohup, CI runners) passes SIGINT and SIGHUP on ignored, and snakemake
    rightly ignores them then (the plugin too: tests below): that made these tests time out in
    background runs of the suite only."""
    for sig in (signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, signal.SIG_DFL)


def _start_sleepy_run(
    wf: Path, tag: str, emulator: Emulator, s3_server: str, s3_bucket: str,
    ovh_env: dict[str, str], preexec: Callable[[], None],
) -> subprocess.Popen:  # fmt: skip
    """`snakemake --profile … out/sleepy.txt` (a 300 s job) in the background, jobs labelled tag."""
    cmd = ovh_cli(emulator, s3_server, s3_bucket, "--ovh-keep-jobs", "true",
                  "--ovh-labels", f"test={tag}", "out/sleepy.txt")  # fmt: skip
    return subprocess.Popen(
        cmd, cwd=wf, env=ovh_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        preexec_fn=preexec,
    )  # fmt: skip


def _job_in_state(emulator: Emulator, tag: str, state: str, timeout: float) -> dict:
    return emulator.wait_for(
        lambda: next((j for j in emulator.jobs(test=tag) if j["status"]["state"] == state), None),
        timeout=timeout,
    )


@pytest.mark.parametrize(
    ("sig", "fault"),
    [
        pytest.param(signal.SIGTERM, None, id="sigterm-running"),
        pytest.param(signal.SIGINT, "STUCK_QUEUED", id="ctrl-c-queued"),
        pytest.param(signal.SIGHUP, None, id="sighup-running"),
    ],
)
def test_signals_kill_remote_jobs(
    tmp_path: Path,
    emulator: Emulator,
    s3_server: str,
    s3_bucket: str,
    ovh_env: dict[str, str],
    sig: signal.Signals,
    fault: str | None,
) -> None:
    wf = copy_workflow("mini", tmp_path)
    tag = secrets.token_hex(4)
    if fault:
        emulator.faults(job_faults=[{"match": {"test": tag}, "outcome": fault}])
    proc = _start_sleepy_run(wf, tag, emulator, s3_server, s3_bucket, ovh_env, _as_from_a_terminal)
    try:
        job = _job_in_state(emulator, tag, "QUEUED" if fault else "RUNNING", timeout=120)
        if fault:
            time.sleep(1)
        proc.send_signal(sig)
        try:
            _, err = proc.communicate(timeout=90)
        except subprocess.TimeoutExpired as e:
            tail = (e.stderr or b"").decode(errors="replace")[-6000:]
            pytest.fail(f"snakemake still running 90 s after {sig.name}; its stderr:\n{tail}")
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode != 0
    assert f"Killed OVHcloud AI Training job {job['id']}" in err
    final = _job_in_state(emulator, tag, "INTERRUPTED", timeout=30)
    assert final["id"] == job["id"]
    # nothing of the run is left running (no resubmission of the killed job survived either)
    terminal = {"DONE", "FAILED", "ERROR", "INTERRUPTED", "SYNC_FAILED"}
    assert all(j["status"]["state"] in terminal for j in emulator.jobs(test=tag))
    assert emulator.token not in err


def test_sighup_is_ignored_under_nohup(
    tmp_path: Path, emulator: Emulator, s3_server: str, s3_bucket: str, ovh_env: dict[str, str]
) -> None:
    """A run started with nohup (SIGHUP ignored) outlives its terminal: its jobs are not killed."""
    wf = copy_workflow("mini", tmp_path)
    tag = secrets.token_hex(4)
    proc = _start_sleepy_run(
        wf, tag, emulator, s3_server, s3_bucket, ovh_env,
        lambda: signal.signal(signal.SIGHUP, signal.SIG_IGN),
    )  # fmt: skip
    try:
        job = _job_in_state(emulator, tag, "RUNNING", timeout=120)
        proc.send_signal(signal.SIGHUP)
        time.sleep(4)  # several status rounds (1 s each)
        assert proc.poll() is None, "snakemake ended on an ignored SIGHUP"
        states = [j["status"]["state"] for j in emulator.jobs(test=tag)]
        assert states == ["RUNNING"], states
        proc.send_signal(signal.SIGTERM)  # the run still stops, and kills, when asked to
        _, err = proc.communicate(timeout=90)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert f"Killed OVHcloud AI Training job {job['id']}" in err
