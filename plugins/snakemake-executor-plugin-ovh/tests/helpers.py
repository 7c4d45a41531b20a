"""Running ``snakemake --profile <repo>/profiles/ovh`` against the emulator and moto."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from .conftest import Emulator

HERE = Path(__file__).parent
REPO = HERE.parents[2]
PROFILE = REPO / "profiles" / "ovh"


def copy_workflow(name: str, dest: Path) -> Path:
    target = dest / name
    shutil.copytree(HERE / "workflows" / name, target)
    return target


def ovh_cli(
    emulator: Emulator, s3_endpoint: str, bucket: str, *args: str, prefix: str = "runs"
) -> list[str]:
    """The one command, pointed at the emulator and local S3 (secrets stay in env)."""
    return [
        sys.executable, "-m", "snakemake",
        "--profile", str(PROFILE),
        "--ovh-api-url", emulator.url,
        "--storage-s3-endpoint-url", s3_endpoint,
        "--default-storage-prefix", f"s3://{bucket}/{prefix}",
        "--seconds-between-status-checks", "1",
        "--ovh-request-backoff", "0.05",
        "--latency-wait", "5",
        *args,
    ]  # fmt: skip


def run(
    cmd: list[str], cwd: Path, env: dict[str, str], timeout: float = 240
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
