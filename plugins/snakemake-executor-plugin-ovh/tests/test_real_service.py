"""The four ways a run against the real service could break, through the CLI and the emulator's
real behaviours (realism.py): a token of another region, a refused list call, a server that
does not apply a label selector as we infer, the 4-GPU quota; and logs that arrive late."""

from __future__ import annotations

import secrets
import socket
import subprocess
from pathlib import Path
from typing import Any

from snakemake_executor_plugin_ovh.spec import sanitize_label

from .conftest import Emulator
from .helpers import copy_workflow, ovh_cli, run
from .test_cli import s3_text

DEAD_PID = str(2**22 + 12345)  # above pid_max on most systems: no such process


def ours(emulator: Emulator, tag: str) -> list[dict[str, Any]]:
    return [s for s in emulator.stats()["submitted"] if s["labels"].get("test") == tag]


def start_foreign(emulator: Emulator, labels: dict[str, str], gpus: int = 0) -> str:
    """A job of someone else (another run, workflow or user), sleeping."""
    resources = {"flavor": "ai1-1-gpu", "gpu": gpus} if gpus else {"cpu": 1}
    spec = {"image": "x", "command": ["sleep", "300"], "labels": labels, "resources": resources}
    with emulator._client() as c:
        r = c.post("/v1/job", json=spec)
        r.raise_for_status()
        return str(r.json()["id"])


def state(emulator: Emulator, job_id: str) -> str:
    with emulator._client() as c:
        return str(c.get(f"/v1/job/{job_id}").json()["status"]["state"])


def kill(emulator: Emulator, *ids: str) -> None:
    with emulator._client() as c:
        for job_id in ids:
            c.put(f"/v1/job/{job_id}/kill")


def test_a_token_of_another_region_fails_at_start_in_one_line(
    tmp_path: Path, emulator: Emulator, s3_server: str, s3_bucket: str, ovh_env: dict[str, str]
) -> None:
    wf = copy_workflow("mini", tmp_path)
    emulator.faults(realism={"tokens": {"tok-made-in-bhs": "bhs"}})
    env = {**ovh_env, "SNAKEMAKE_OVH_TOKEN": "tok-made-in-bhs"}
    result = run(ovh_cli(emulator, s3_server, s3_bucket, "out/ok.txt"), wf, env, timeout=120)
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if "refused the token" in line]
    assert len(lines) == 1, result.stderr[-3000:]
    assert "only in the region it was created in" in lines[0] and "--ovh-region" in lines[0]
    assert emulator.stats()["calls"].get("submit", 0) == 0


def test_a_refused_list_call_completes_the_run_through_per_job_gets(
    tmp_path: Path, emulator: Emulator, s3_server: str, s3_bucket: str, ovh_env: dict[str, str]
) -> None:
    wf = copy_workflow("mini", tmp_path)
    tag = secrets.token_hex(4)
    emulator.faults(realism={"list_status": 400})
    cmd = ovh_cli(emulator, s3_server, s3_bucket, "--ovh-labels", f"test={tag}",
                  "out/ok.txt", "wc/x.txt")  # fmt: skip
    result = run(cmd, wf, ovh_env)
    assert result.returncode == 0, result.stderr[-4000:]
    assert "following this run's jobs with one GET /v1/job/{id} each" in result.stderr
    assert s3_text(s3_server, s3_bucket, "runs/wc/x.txt").strip() == "x"
    assert emulator.stats()["calls"]["get"] >= 2
    assert [s["state"] for s in ours(emulator, tag)] == ["DONE", "DONE"]


def test_status_rounds_that_keep_failing_end_the_run_and_kill_its_jobs(
    tmp_path: Path, emulator: Emulator, s3_server: str, s3_bucket: str, ovh_env: dict[str, str]
) -> None:
    wf = copy_workflow("mini", tmp_path)
    tag = secrets.token_hex(4)
    emulator.faults(realism={"list_status": 503})
    cmd = ovh_cli(emulator, s3_server, s3_bucket, "--ovh-labels", f"test={tag}",
                  "--ovh-status-timeout", "4", "--ovh-request-retries", "1",
                  "out/sleepy.txt")  # fmt: skip
    result = run(cmd, wf, ovh_env, timeout=120)
    assert result.returncode != 0
    assert "no job status from OVHcloud AI Training for" in result.stderr
    (job,) = ours(emulator, tag)
    emulator.wait_for(lambda: state(emulator, job["id"]) == "INTERRUPTED", timeout=30)


def test_foreign_jobs_with_some_matching_labels_are_never_adopted_or_killed(
    tmp_path: Path, emulator: Emulator, s3_server: str, s3_bucket: str, ovh_env: dict[str, str]
) -> None:
    """The server ignores label selectors: every list answer holds other runs' jobs, some with
    our host, a dead pid and our job ids. A lost submission answer makes the plugin look for
    the job it may have created (adoption)."""
    wf = copy_workflow("mini", tmp_path)
    tag = secrets.token_hex(4)
    host = sanitize_label(socket.gethostname())
    base = {"snakemake-host": host, "snakemake-pid": DEAD_PID, "snakemake-run": "other-run"}
    foreign = [
        start_foreign(emulator, {**base, "snakemake-workflow": "another-workflow"}),
        *(
            start_foreign(emulator, {**base, "snakemake-jobid": str(i), "snakemake-attempt": "1"})
            for i in range(3)
        ),
    ]
    emulator.faults(realism={"selector": "ignore"}, slow={"submit": [2.5]})
    cmd = ovh_cli(emulator, s3_server, s3_bucket, "--ovh-labels", f"test={tag}",
                  "--ovh-request-timeout", "1", "--ovh-keep-jobs", "true",
                  "out/ok.txt")  # fmt: skip
    try:
        result = run(cmd, wf, ovh_env)
        assert result.returncode == 0, result.stderr[-4000:]
        assert all(state(emulator, i) == "RUNNING" for i in foreign)
        assert "another-workflow" not in result.stderr
        # the slow first submission did create a job: a duplicate of ours, killed
        mine = ours(emulator, tag)
        assert len(mine) == 2 and "DONE" in {s["state"] for s in mine}
    finally:
        kill(emulator, *foreign)


def test_gpu_jobs_beyond_the_quota_wait_instead_of_failing(
    tmp_path: Path, emulator: Emulator, s3_server: str, s3_bucket: str, ovh_env: dict[str, str]
) -> None:
    """Quota 4 GPUs, queued jobs count; another user holds 1. Five 1-GPU jobs: the plugin
    submits 4 (its own limit), the server refuses the 4th (quota), which waits and retries;
    the 5th waits for one of ours to end."""
    wf = copy_workflow("mini", tmp_path)
    tag = secrets.token_hex(4)
    other = start_foreign(emulator, {"user": "someone-else"}, gpus=1)
    models = ["V100S", "A100", "H100", "L40S", "L4"]
    cmd = ovh_cli(emulator, s3_server, s3_bucket, "--ovh-labels", f"test={tag}",
                  "--jobs", "8", "--retries", "0",
                  *(f"gpu/{m}.txt" for m in models))  # fmt: skip
    proc = subprocess.Popen(
        cmd, cwd=wf, env=ovh_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        emulator.wait_for(lambda: emulator.stats()["quota_refusals"] > 0, timeout=180)
        kill(emulator, other)
        _, err = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
        kill(emulator, other)
    assert proc.returncode == 0, err[-4000:]
    assert "waiting for GPU quota" in err and "Quota exceeded" in err
    mine = ours(emulator, tag)
    assert len(mine) == 5 and {s["state"] for s in mine} == {"DONE"}
    # never more than 4 of this run's GPUs unfinished at once
    for job in mine:
        held = [s for s in mine if s["t"] <= job["t"] and (s["t_end"] or 1e18) > job["t"]]
        assert sum(s["gpus"] for s in held) <= 4
    for model in models:
        assert s3_text(s3_server, s3_bucket, f"runs/gpu/{model}.txt").strip() == model


def test_a_late_log_is_fetched_until_complete(
    tmp_path: Path, emulator: Emulator, s3_server: str, s3_bucket: str, ovh_env: dict[str, str]
) -> None:
    wf = copy_workflow("mini", tmp_path)
    emulator.faults(realism={"log_lag": 3.0})
    cmd = ovh_cli(emulator, s3_server, s3_bucket, "--retries", "0", "out/fail.txt")
    cmd[cmd.index("--ovh-log-settle-seconds") + 1] = "5"
    result = run(cmd, wf, ovh_env)
    assert result.returncode != 0
    (log,) = (wf / ".snakemake" / "auxiliary" / "ovh-logs").glob("fail_*.log")
    lines = log.read_text().splitlines()
    assert any("rule fail is broken on purpose" in line for line in lines)
    assert lines[-1] == "[ovh] Job failed with code 1"  # the platform's last word arrived too
