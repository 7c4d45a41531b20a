"""Helpers for the tests (a unique module name: the plugin's tests have their own helpers)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def cli_env() -> dict[str, str]:
    """Environment for subprocesses: this interpreter's bin first, this repo's src importable."""
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}:{env.get('PATH', '')}"
    env["PYTHONPATH"] = f"{ROOT / 'src'}:{env.get('PYTHONPATH', '')}"
    return env


def run_cli(*args: str, check: bool = False) -> subprocess.CompletedProcess:
    """Run `python -m video2mesh ARGS` as the rules do."""
    return subprocess.run(
        [sys.executable, "-m", "video2mesh", *args],
        capture_output=True,
        text=True,
        env=cli_env(),
        check=check,
    )
