"""Canary secrets: the OVHcloud token and the S3 keys appear nowhere a run writes.

Extends the token check of ``test_cli.py::test_profile_run_remote_local_flavors_...`` (one
successful run, the token only) to the S3 keys and to the paths where secrets are most
likely to slip out: a remote job that fails (its log saved and printed by
show-failed-logs), API errors answered to submit and status calls (their messages printed),
the results in S3, and the report. The S3 keys must reach the jobs (as JobSpec envVars, as on
the real platform, where the spec is readable by tokens of the project) and nowhere else.
"""

from __future__ import annotations

import secrets
from pathlib import Path

import boto3

from .conftest import Emulator
from .helpers import copy_workflow, ovh_cli, run
from .test_cli import files_containing

S3_KEY_VARS = ("SNAKEMAKE_STORAGE_S3_ACCESS_KEY", "SNAKEMAKE_STORAGE_S3_SECRET_KEY")


def test_canary_token_and_s3_keys_appear_nowhere_the_run_writes(
    tmp_path: Path, emulator: Emulator, s3_server: str, s3_bucket: str, ovh_env: dict[str, str]
) -> None:
    access = "AKCANARY" + secrets.token_hex(8).upper()
    secret = "skcanary-" + secrets.token_hex(16)
    env = {**ovh_env, S3_KEY_VARS[0]: access, S3_KEY_VARS[1]: secret}
    canaries = {"token": emulator.token, "s3 access key": access, "s3 secret key": secret}
    wf = copy_workflow("mini", tmp_path)
    tag = secrets.token_hex(4)
    # transient API errors on submit and status: their (redacted) messages are printed
    emulator.faults(errors={"submit": [500, 429], "list": [502, 503]})
    cmd = ovh_cli(emulator, s3_server, s3_bucket, "--ovh-keep-jobs", "true",
                  "--ovh-labels", f"test={tag}", "--retries", "0", "--keep-going",
                  "out/merged.txt", "gpu/H100.txt", "out/fail.txt")  # fmt: skip
    result = run(cmd, wf, env)
    assert result.returncode != 0  # rule fail fails on purpose
    assert "rule fail is broken on purpose" in result.stderr  # the failed job's log was shown
    report = run(
        [*ovh_cli(emulator, s3_server, s3_bucket), "--report", "report.html",
         "out/merged.txt", "gpu/H100.txt"], wf, env,
    )  # fmt: skip
    assert report.returncode == 0, report.stderr[-3000:]
    assert (wf / "report.html").is_file()
    outputs = {"run": result.stdout + result.stderr, "report": report.stdout + report.stderr}

    # the jobs: S3 keys only as the storage plugin's envVars, the token not at all
    jobs = emulator.jobs(test=tag)
    assert sorted(j["spec"]["labels"]["snakemake-rule"] for j in jobs) == ["fail", "gpu", "ok"]
    for job in jobs:
        spec = dict(job["spec"])
        env_vars = {e["name"]: e["value"] for e in spec.pop("envVars")}
        assert {env_vars.get(S3_KEY_VARS[0]), env_vars.get(S3_KEY_VARS[1])} == {access, secret}
        assert emulator.token not in str(env_vars)
        for what, canary in canaries.items():
            assert canary not in str(spec), f"{what} in the job spec outside envVars"

    # the results: every object the run (and the report) left in the bucket
    s3 = boto3.client("s3", endpoint_url=s3_server, aws_access_key_id=access,
                      aws_secret_access_key=secret, region_name="us-east-1")  # fmt: skip
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=s3_bucket).get("Contents", [])]
    assert "runs/out/merged.txt" in keys and "runs/gpu/H100.txt" in keys
    objects = {k: s3.get_object(Bucket=s3_bucket, Key=k)["Body"].read() for k in keys}

    leaks = []
    for what, canary in canaries.items():
        leaks += [f"{what} in {name} output" for name, out in outputs.items() if canary in out]
        for root in (wf, emulator.workdir):  # .snakemake/ (logs, ovh-logs, metadata), job dirs
            leaks += [f"{what} in {p}" for p in files_containing(root, canary.encode())]
        leaks += [
            f"{what} in s3://{s3_bucket}/{k}" for k, b in objects.items() if canary.encode() in b
        ]
    assert leaks == []
    assert (wf / ".snakemake" / "log").is_dir() and any((wf / ".snakemake" / "log").iterdir())
    assert len(list((wf / ".snakemake" / "auxiliary" / "ovh-logs").iterdir())) == 3
    # the search does reach what the jobs wrote: the failing job's own words are found
    marker = b"rule fail is broken on purpose"
    assert files_containing(wf / ".snakemake" / "auxiliary" / "ovh-logs", marker)
    assert files_containing(emulator.workdir, marker)
    assert any(b"ok ran" in b for b in objects.values())  # logs/ok.log, written in the job
