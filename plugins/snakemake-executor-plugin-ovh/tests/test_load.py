"""Load: a 200-job sweep through the real CLI, the emulator and moto.

The jobs' bodies are replaced by ``fast_job.py`` (the emulator's command replacement): two
snakemake start-ups per job would cost ~15 CPU-minutes on 2 cores, and what is under test is
the submitter (submission, status rounds, completion, storage checks), not the job.
"""

from __future__ import annotations

import itertools
import secrets
import sys
import time
from collections import Counter
from pathlib import Path

import boto3
import pytest

from .conftest import S3_ACCESS_KEY, S3_SECRET_KEY, Emulator
from .helpers import HERE, copy_workflow, ovh_cli, run

N_JOBS = 200


@pytest.mark.slow
def test_sweep_of_200_jobs_none_lost_or_duplicated_one_list_call_per_round(
    tmp_path: Path, emulator: Emulator, s3_server: str, s3_bucket: str, ovh_env: dict[str, str]
) -> None:
    wf = copy_workflow("load", tmp_path)
    tag = secrets.token_hex(4)
    fast = [sys.executable, str(HERE / "fast_job.py")]
    emulator.faults(commands=[{"match": {"test": tag}, "argv": fast}])
    cmd = ovh_cli(emulator, s3_server, s3_bucket, "--ovh-labels", f"test={tag}",
                  "--jobs", "50", "--retries", "0", "--config", f"count={N_JOBS}")  # fmt: skip
    start = time.time()
    result = run(cmd, wf, ovh_env, timeout=400)
    elapsed = time.time() - start
    assert result.returncode == 0, result.stderr[-4000:]

    # every output once, with its own content
    s3 = boto3.client("s3", endpoint_url=s3_server, aws_access_key_id=S3_ACCESS_KEY,
                      aws_secret_access_key=S3_SECRET_KEY, region_name="us-east-1")  # fmt: skip
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=s3_bucket, Prefix="runs/sweep/")
    keys = sorted(o["Key"] for page in pages for o in page.get("Contents", []))
    assert keys == sorted(f"runs/sweep/{i}.txt" for i in range(N_JOBS))
    for i in (0, 99, N_JOBS - 1):
        body = s3.get_object(Bucket=s3_bucket, Key=f"runs/sweep/{i}.txt")["Body"].read()
        assert body == f"{i}\n".encode()

    # one submission per output, no more (the emulator keeps deleted jobs in its statistics)
    stats = emulator.stats()
    submitted = [s["labels"] for s in stats["submitted"] if s["labels"].get("test") == tag]
    assert len(submitted) == N_JOBS
    per_output = Counter(labels["snakemake-output"] for labels in submitted)
    assert len(per_output) == N_JOBS and set(per_output.values()) == {1}
    assert {labels["snakemake-rule"] for labels in submitted} == {"sweep"}

    # status: one list call per round (rounds are 1 s apart), never a per-job GET
    (run_id,) = {labels["snakemake-run"] for labels in submitted}
    times = [c["t"] for c in stats["list_calls"] if c["selector"] == f"snakemake-run={run_id}"]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert len(times) >= 5 and min(gaps) > 0.5, gaps
    assert stats["calls"].get("get", 0) == 0
    assert stats["calls"]["submit"] == N_JOBS
    # finished jobs were deleted from the platform
    assert emulator.jobs(test=tag) == []
    print(f"{N_JOBS} jobs in {elapsed:.0f} s, {len(times)} status rounds, calls {stats['calls']}")
