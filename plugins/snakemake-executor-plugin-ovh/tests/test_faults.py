"""Fault matrix through the real CLI (`snakemake --profile tests/profile`), the emulator and
moto: API errors and slow answers on every call, failed job outcomes, a job stuck in the
queue, kills that fail at shutdown. docs/reliability.md §1 lists each row and its test."""

from __future__ import annotations

import secrets
import signal
import subprocess
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from .conftest import Emulator
from .helpers import copy_workflow, ovh_cli, run
from .test_cli import s3_text

TERMINAL = {"DONE", "FAILED", "ERROR", "INTERRUPTED", "SYNC_FAILED"}


def ovh_logs(wf: Path) -> list[Path]:
    return sorted((wf / ".snakemake" / "auxiliary" / "ovh-logs").iterdir())


def submitted(emulator: Emulator, tag: str) -> list[dict[str, Any]] | None:
    """Every job of the test ever created (deleted ones too), once all are terminal."""
    jobs = [s for s in emulator.stats()["submitted"] if s["labels"].get("test") == tag]
    return jobs if all(j["state"] in TERMINAL for j in jobs) else None


def test_api_errors_and_slow_answers_on_every_call_are_survived(
    tmp_path: Path, emulator: Emulator, s3_server: str, s3_bucket: str, ovh_env: dict[str, str]
) -> None:
    wf = copy_workflow("mini", tmp_path)
    tag = secrets.token_hex(4)
    http = [500, 502, 503, 429]
    emulator.faults(
        # the first log fetch fails for good (3 tries), later ones after one retry
        errors={"submit": http, "list": http, "log": [500, 502, 503, 429], "delete": http},
        # beyond the client's 1 s timeout, after the errors (each queue is consumed per
        # request): the server still does the work afterwards, so the 5th POST creates a job
        # after the client gave up and submitted again
        slow={"submit": [0] * 4 + [5], "list": [0] * 8 + [2.5], "log": [0] * 4 + [2.5]},
    )
    cmd = ovh_cli(emulator, s3_server, s3_bucket, "--ovh-labels", f"test={tag}",
                  "--ovh-request-timeout", "1", "--retries", "0",
                  "out/ok.txt", "wc/a.txt", "wc/b.txt")  # fmt: skip
    result = run(cmd, wf, ovh_env)
    assert result.returncode == 0, result.stderr[-4000:]
    err = result.stderr
    assert "3 of 3 steps (100%) done" in err
    for status in http:
        assert f"HTTP {status}" in err
    assert "network error: ReadTimeout" in err
    assert s3_text(s3_server, s3_bucket, "runs/wc/b.txt").strip() == "b"
    # every log saved; the one whose fetch failed says so, the job still succeeded
    logs = [p.read_text() for p in ovh_logs(wf)]
    assert len(logs) == 3
    assert sum(text.startswith("(log unavailable:") for text in logs) == 1, logs
    # the slow submission was created after the client gave up, then submitted again:
    # the duplicate is killed, each output is computed by one job that finished DONE
    jobs = emulator.wait_for(lambda: submitted(emulator, tag))
    done = Counter(j["labels"]["snakemake-output"] for j in jobs if j["state"] == "DONE")
    assert len(done) == 3 and set(done.values()) == {1}
    assert len(jobs) == 4  # the duplicate, killed:
    assert err.count("(a submission whose answer was lost): killing it") == 1
    assert Counter(j["state"] for j in jobs) == {"DONE": 3, "INTERRUPTED": 1}
    assert emulator.token not in err


@pytest.mark.parametrize("persistent", [False, True], ids=["kill-retried", "kill-fails"])
def test_kill_errors_at_shutdown(
    tmp_path: Path,
    emulator: Emulator,
    s3_server: str,
    s3_bucket: str,
    ovh_env: dict[str, str],
    persistent: bool,
) -> None:
    wf = copy_workflow("mini", tmp_path)
    tag = secrets.token_hex(4)
    cmd = ovh_cli(emulator, s3_server, s3_bucket, "--ovh-keep-jobs", "true",
                  "--ovh-labels", f"test={tag}", "--ovh-request-timeout", "1",
                  "out/sleepy.txt")  # fmt: skip
    proc = subprocess.Popen(
        cmd, cwd=wf, env=ovh_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        job = emulator.wait_for(
            lambda: next(
                (j for j in emulator.jobs(test=tag) if j["status"]["state"] == "RUNNING"), None
            ),
            timeout=120,
        )
        # the rule itself runs: before that, the job still fetches the workflow's sources,
        # which Snakemake deletes from S3 as it exits, so a job orphaned by a failed kill
        # would fail on its own instead of waiting for the hand kill (once, on a loaded VM)
        emulator.wait_for(lambda: "[job] started\n" in emulator.log(job["id"]), timeout=120)
        if persistent:  # more failures than the 7 tries of a kill
            emulator.faults(errors={"kill": [503] * 10})
        else:  # two errors and one answer slower than the client's timeout
            emulator.faults(errors={"kill": [500, 429]}, slow={"kill": [0, 0, 2.5]})
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    ovh_id = job["id"]
    if persistent:
        assert f"Could not kill OVHcloud AI Training job {ovh_id}" in err
        assert f"stop it by hand with 'ovhai job stop {ovh_id}'" in err
        assert err.count("Could not kill") == 1  # reported once, not again at exit
        assert emulator.jobs(test=tag)[0]["status"]["state"] == "RUNNING"
        emulator.faults(reset=True)
        with emulator._client() as c:  # what the user does by hand
            c.put(f"/v1/job/{ovh_id}/kill").raise_for_status()
    else:
        assert f"Killed OVHcloud AI Training job {ovh_id}" in err and "Could not kill" not in err
    final = emulator.wait_for(
        lambda: (j := emulator.jobs(test=tag)[0])["status"]["state"] in TERMINAL and j
    )
    assert final["status"]["state"] == "INTERRUPTED"


def test_failed_outcomes_are_errors_with_logs_and_retried(
    tmp_path: Path, emulator: Emulator, s3_server: str, s3_bucket: str, ovh_env: dict[str, str]
) -> None:
    wf = copy_workflow("mini", tmp_path)
    tag = secrets.token_hex(4)
    first = {"test": tag, "snakemake-attempt": "1"}
    outcomes = ["FAILED", "ERROR", "SYNC_FAILED", "INTERRUPTED", "TIMEOUT"]
    emulator.faults(
        job_faults=[
            {"match": {**first, "snakemake-rule": "ok"}, "outcome": "STUCK_QUEUED", "count": 1},
            *({"match": first, "outcome": o, "count": 1, "after": 1.0} for o in outcomes),
        ]
    )
    targets = ["out/ok.txt", *(f"wc/{i}.txt" for i in range(len(outcomes)))]
    cmd = ovh_cli(emulator, s3_server, s3_bucket, "--ovh-labels", f"test={tag}",
                  "--ovh-keep-jobs", "true", "--retries", "1", "--ovh-max-queued-seconds", "4",
                  *targets)  # fmt: skip
    result = run(cmd, wf, ovh_env)
    assert result.returncode == 0, result.stderr[-4000:]
    err = result.stderr
    # each first attempt failed as injected, with its cause, and was retried once
    for state in ("FAILED (exit code 3)", "ERROR", "SYNC_FAILED"):
        assert f"ended {state}" in err
    assert "ended INTERRUPTED" in err and "Job was interrupted by the platform" in err
    assert "Job timed out" in err and "It reached its timeout: raise the rule's runtime" in err
    assert "was still QUEUED after" in err and "--ovh-max-queued-seconds 4) and was killed" in err
    assert "--ovh-region" in err
    assert "6 of 6 steps (100%) done" in err
    jobs = emulator.jobs(test=tag)
    states = Counter((j["spec"]["labels"]["snakemake-attempt"], j["status"]["state"]) for j in jobs)
    assert states == {("1", "FAILED"): 1, ("1", "ERROR"): 1, ("1", "SYNC_FAILED"): 1,
                      ("1", "INTERRUPTED"): 3, ("2", "DONE"): 6}  # fmt: skip
    # the remote log of every attempt is saved; the failed job's own words are in its log
    logs = ovh_logs(wf)
    assert len(logs) == 11  # not the job killed in the queue: it never ran
    assert sum("emulated failure" in p.read_text() for p in logs) == 1
    assert sum("_a1_" in p.name for p in logs) == 5
