"""A preempted training job through `snakemake --profile ovh --retries 1` (emulator + moto S3).

The video2mesh train rule runs as an AI Training job; once its first in-segment save is in S3
the job is killed (INTERRUPTED, as a preemption), Snakemake resubmits it, and the new job, on a
fresh disk, resumes from the save in S3, not from zero. The checkpoint it ends with equals an
uninterrupted run bit for bit. Scene and images come from the synthetic scene writer (no SfM):
`--allowed-rules train` takes them as given inputs.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from snakemake_executor_plugin_ovh.testing import S3_ACCESS_KEY, S3_SECRET_KEY, Emulator
from test_e2e_workflow import checkout_copy
from v2m_testing import ROOT as REPO
from v2m_testing import TINY_TRAIN

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not (REPO / "rules" / "train.smk").exists(), reason="needs the video2mesh workflow"
    ),
]

ITERATIONS = 400
RUN = {
    "backend": "builtin",
    "preset": "cpu",
    "save_every_seconds": 0.3,
    "train": TINY_TRAIN,
}
CKPT = f"results/s/builtin/ckpt/it{ITERATIONS}"


def _s3(endpoint: str) -> Any:
    import boto3

    return boto3.client(
        "s3", endpoint_url=endpoint, aws_access_key_id=S3_ACCESS_KEY,
        aws_secret_access_key=S3_SECRET_KEY, region_name="us-east-1",
    )  # fmt: skip


def _exists(s3: Any, bucket: str, key: str) -> bool:
    return bool(s3.list_objects_v2(Bucket=bucket, Prefix=key).get("KeyCount"))


def _saved_iteration(s3: Any, bucket: str, key: str, dest: Path) -> int:
    import torch

    if not _exists(s3, bucket, key):
        return 0
    s3.download_file(bucket, key, str(dest))
    return int(torch.load(dest, weights_only=False)["iteration"])


def test_preempted_train_job_is_retried_and_resumes_from_its_s3_partial_save(
    tmp_path: Path, emulator: Emulator, s3_server: str, s3_bucket: str, ovh_env: dict[str, str]
) -> None:
    import torch

    from video2mesh.recon.presets import build_config
    from video2mesh.recon.synthetic import sphere_sdf, write_scene
    from video2mesh.recon.train import Segment, run_segment

    wd = checkout_copy(tmp_path / "remote")
    config = {
        "scenes": {"s": {"source": "sample", "type": "object"}},
        "runs": {"builtin": RUN},
        "sweep": {"iterations": [ITERATIONS], "resolutions": [32]},
    }
    (wd / "preempt.json").write_text(json.dumps(config))
    transforms, images = write_scene(tmp_path / "scene", sphere_sdf(0.5), n_views=8, size=32)
    s3 = _s3(s3_server)
    prefix = "video2mesh"
    s3.upload_file(str(transforms), s3_bucket, f"{prefix}/results/s/transforms.json")
    s3.upload_file(str(images), s3_bucket, f"{prefix}/results/s/sfm/images.tar")

    cmd = [
        sys.executable, "-m", "snakemake", "--profile", "ovh", f"{CKPT}.pt",
        "--configfile", "preempt.json", "--allowed-rules", "train", "--retries", "1",
        "--ovh-api-url", emulator.url,
        "--storage-s3-endpoint-url", s3_server,
        "--default-storage-prefix", f"s3://{s3_bucket}/{prefix}",
        "--seconds-between-status-checks", "1", "--ovh-request-backoff", "0.05",
        "--latency-wait", "5", "--ovh-keep-jobs", "true", "--ovh-labels", "test=preempt",
        "--ovh-log-settle-seconds", "0",
    ]  # fmt: skip
    smk = subprocess.Popen(
        cmd, cwd=wd, env=ovh_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    partial_key = f"{prefix}/{CKPT}.partial.pt"
    try:
        # preempt the training job once a save a quarter of the way in has reached S3
        # (no clock here: the run ends by itself, and pytest's timeout bounds a hang)
        saved_at = 0
        while saved_at < ITERATIONS // 4:
            assert smk.poll() is None, "no partial save in S3"
            time.sleep(0.2)
            saved_at = _saved_iteration(s3, s3_bucket, partial_key, tmp_path / "seen.pt")
        (first,) = [j for j in emulator.jobs(test="preempt") if j["status"]["state"] == "RUNNING"]
        with emulator._client() as c:
            c.put(f"/v1/job/{first['id']}/kill").raise_for_status()
        out, _ = smk.communicate()
    finally:
        if smk.poll() is None:
            smk.kill()
    assert smk.returncode == 0, out[-6000:]

    jobs = sorted(emulator.jobs(test="preempt"), key=lambda j: j["createdAt"])
    assert [(j["spec"]["labels"]["snakemake-attempt"], j["status"]["state"]) for j in jobs] == [
        ("1", "INTERRUPTED"),
        ("2", "DONE"),
    ]
    log = s3.get_object(Bucket=s3_bucket, Key=f"{prefix}/results/s/builtin/logs/"
                        f"train_it{ITERATIONS}.log")["Body"].read().decode()  # fmt: skip
    assert f"fetched the partial save s3://{s3_bucket}/{partial_key}" in log
    resumed = re.search(r"resuming from \S+ at iteration (\d+)", log)
    # from the save seen before the kill, or a later one the job made before it stopped
    assert resumed and saved_at <= int(resumed.group(1)) < ITERATIONS, log
    assert not _exists(s3, s3_bucket, partial_key)  # removed at the end of the segment
    assert S3_SECRET_KEY not in out + log

    # the chain ends where an uninterrupted run with the job's thread count does
    s3.download_file(s3_bucket, f"{prefix}/{CKPT}.pt", str(tmp_path / "remote.pt"))
    b = torch.load(tmp_path / "remote.pt", weights_only=False)
    cfg, preset = build_config(RUN, "object")
    ref = tmp_path / "ref"
    run_segment(
        Segment(transforms=transforms, images=images, cfg=cfg, preset=preset,
                scene_type="object", until=ITERATIONS, final=ITERATIONS,
                out=ref / "it.pt", metrics=ref / "it.csv", threads=b["threads"])
    )  # fmt: skip
    a = torch.load(ref / "it.pt", weights_only=False)
    assert a["iteration"] == b["iteration"] == ITERATIONS
    for k, v in a["model"].items():
        assert torch.equal(v, b["model"][k]), k
    assert torch.equal(a["rng"]["generator"], b["rng"]["generator"])
