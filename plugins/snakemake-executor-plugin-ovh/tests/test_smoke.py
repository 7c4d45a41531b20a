"""The smoke command against the emulator (and moto S3): green, with a complete report."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from .conftest import S3_ACCESS_KEY, S3_SECRET_KEY, Emulator


def test_smoke_runs_green_against_the_emulator(
    tmp_path: Path, emulator: Emulator, s3_server: str, s3_bucket: str
) -> None:
    env = {
        **os.environ,
        "SNAKEMAKE_OVH_TOKEN": emulator.token,
        "SNAKEMAKE_STORAGE_S3_ACCESS_KEY": S3_ACCESS_KEY,
        "SNAKEMAKE_STORAGE_S3_SECRET_KEY": S3_SECRET_KEY,
    }
    out = tmp_path / "report.json"
    # the other region: a second emulator (BHS), which does not know this token
    other = subprocess.Popen(
        [sys.executable, "-m", "snakemake_executor_plugin_ovh.emulator", "--port", "0",
         "--token", "a-bhs-token", "--realism", '{"region": "bhs"}',
         "--workdir", str(tmp_path / "bhs")],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert other.stdout is not None
    other_url = other.stdout.readline().split("listening on ", 1)[1].split()[0]
    cmd = [
        sys.executable, "-m", "snakemake_executor_plugin_ovh.smoke",
        "--api-url", emulator.url, "--out", str(out),
        "--other-region-url", other_url,
        "--s3-endpoint", s3_server, "--s3-bucket", s3_bucket, "--s3-region", "us-east-1",
        "--quota", "--poll", "0.1", "--log-wait", "0.5", "--job-timeout", "1",
    ]  # fmt: skip
    try:
        result = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    finally:
        other.terminate()
        other.wait(timeout=15)
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    report = json.loads(out.read_text())
    checks = {c["name"]: c for c in report["checks"]}
    assert report["summary"] == {"ok": 13, "differs": 0, "error": 0, "skipped": 0}, result.stdout
    for check in checks.values():
        assert check["assumption"] and check["verdict"] == "ok"
    # what a maintainer reads back: status codes and bodies of every call
    me = checks["token_and_region"]
    assert [c["status"] for c in me["calls"]] == [200, 401]
    assert checks["quota"]["observed"]["submit_statuses"] == [200, 200, 200, 200, 403]
    assert "Quota exceeded" in checks["quota"]["calls"][-1]["body"]
    assert checks["flavors"]["observed"]["builtin_table_differences"] == {}
    assert checks["list_paging_and_label_and"]["observed"]["restarting_filter_status"] == 200
    assert checks["job_done_with_log"]["observed"]["home_writable"] is True
    text = out.read_text()
    assert emulator.token not in text and S3_SECRET_KEY not in text
    # every job it made is gone
    assert emulator.jobs(**report["label"]) == []
