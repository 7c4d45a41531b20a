"""Pytest fixtures: the AI Training emulator and a moto S3 server (both on free local ports).

For the plugin's tests and any workflow's tests that run Snakemake through ``--executor ovh``:
import them into a ``conftest.py`` (``from snakemake_executor_plugin_ovh.testing import *``).
Needs the ``test`` extra (pytest, moto, boto3).

- ``ovh_token``: a random bearer token, distinctive enough to grep for leaks.
- ``emulator``: an :class:`Emulator` handle (``url``, ``token``, ``workdir``, ``faults(...)``,
  ``jobs(**labels)``); one emulator subprocess per test session, faults reset per test.
- ``s3_server``: endpoint URL of a moto S3 server (threaded, in this process); any key pair works.
- ``ovh_env``: environment for a ``snakemake --profile ovh`` subprocess aimed at both.
"""

from __future__ import annotations

import logging
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

S3_ACCESS_KEY = "testing-access"
S3_SECRET_KEY = "testing-secret"


@dataclass
class Emulator:
    url: str
    token: str
    workdir: Path
    proc: subprocess.Popen[str]

    def _client(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {self.token}"}, timeout=30
        )

    def faults(self, **body: Any) -> None:
        with self._client() as c:
            c.post("/emulator/faults", json=body).raise_for_status()

    def reset(self) -> None:
        self.faults(reset=True)

    def jobs(self, **labels: str) -> list[dict[str, Any]]:
        """Every job with these labels (all pages)."""
        selector = ",".join(f"{k}={v}" for k, v in labels.items())
        params: dict[str, Any] = {"labelSelector": selector} if labels else {}
        items: list[dict[str, Any]] = []
        with self._client() as c:
            page, pages = 1, 1
            while page <= pages:
                r = c.get("/v1/job", params={**params, "page": page, "size": 100})
                r.raise_for_status()
                items += r.json()["items"]
                page, pages = page + 1, int(r.json()["metadata"]["pageCount"])
        return items

    def log(self, job_id: str) -> str:
        """The job's log as the API serves it."""
        with self._client() as c:
            r = c.get(f"/v1/job/{job_id}/log")
            r.raise_for_status()
            return r.text

    def kill_unfinished(self) -> None:
        """Kill every job not finished yet: a test's leftovers must not hold the next test's
        GPU quota."""
        finished = {"DONE", "FAILED", "ERROR", "INTERRUPTED", "SYNC_FAILED"}
        with self._client() as c:
            for job in self.jobs():
                if job["status"]["state"] not in finished:
                    c.put(f"/v1/job/{job['id']}/kill")

    def stats(self) -> dict[str, Any]:
        """Calls per endpoint, list calls (time, selector), every job created (jobs.Stats)."""
        with self._client() as c:
            r = c.get("/emulator/stats")
            r.raise_for_status()
            return r.json()

    def wait_for(self, predicate: Any, timeout: float = 60.0, interval: float = 0.2) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = predicate()
            if value:
                return value
            time.sleep(interval)
        raise TimeoutError("condition not reached in time")


@pytest.fixture(scope="session")
def ovh_token() -> str:
    return "ovhtok-" + secrets.token_hex(16)


@pytest.fixture(scope="session")
def _emulator_process(
    ovh_token: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Emulator]:
    workdir = tmp_path_factory.mktemp("ovh-emulator")
    env = {**os.environ, "SNAKEMAKE_OVH_TOKEN": ovh_token}
    proc = subprocess.Popen(
        [
            sys.executable, "-m", "snakemake_executor_plugin_ovh.emulator",
            "--host", "127.0.0.1", "--port", "0", "--workdir", str(workdir),
            "--phase-seconds", "0.05", "--kill-grace", "3",
        ],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if "listening on" not in line:
        proc.kill()
        raise RuntimeError(f"emulator did not start: {line!r}")
    url = line.split("listening on ", 1)[1].split()[0]
    emu = Emulator(url=url, token=ovh_token, workdir=workdir, proc=proc)
    yield emu
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.fixture
def emulator(_emulator_process: Emulator) -> Iterator[Emulator]:
    _emulator_process.reset()
    yield _emulator_process
    _emulator_process.reset()
    _emulator_process.kill_unfinished()


@pytest.fixture(scope="session")
def s3_server() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per S3 request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def s3_bucket(s3_server: str) -> str:
    import boto3

    name = f"v2m-test-{secrets.token_hex(6)}"
    boto3.client(
        "s3",
        endpoint_url=s3_server,
        aws_access_key_id=S3_ACCESS_KEY,
        aws_secret_access_key=S3_SECRET_KEY,
        region_name="us-east-1",
    ).create_bucket(Bucket=name)
    return name


@pytest.fixture
def ovh_env(emulator: Emulator, s3_server: str) -> dict[str, str]:
    """Environment for a CLI run: token and S3 keys only in env, never on the command line."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SNAKEMAKE_", "AWS_"))}
    env.update(
        {
            "SNAKEMAKE_OVH_TOKEN": emulator.token,
            "SNAKEMAKE_STORAGE_S3_ACCESS_KEY": S3_ACCESS_KEY,
            "SNAKEMAKE_STORAGE_S3_SECRET_KEY": S3_SECRET_KEY,
            "PATH": f"{Path(sys.executable).parent}:{env.get('PATH', '')}",
        }
    )
    return env


__all__ = [
    "S3_ACCESS_KEY", "S3_SECRET_KEY", "Emulator", "_emulator_process", "emulator",
    "ovh_env", "ovh_token", "s3_bucket", "s3_server",
]  # fmt: skip
