"""``python -m snakemake_executor_plugin_ovh.smoke``: what the real AI Training service does,
checked once by a user with an account, against what the plugin assumes.

Every API call is recorded (method, path, parameters, status, content type, body; the token
and S3 secret redacted) in a JSON report; each check ends ``ok`` (as the plugin assumes),
``differs`` (the plugin's assumption is wrong: please send the report), ``error`` (the check
could not run) or ``skipped``. Exit status 0 when no check differs or errs. The checks are in
``smoke_checks.py``; the README explains how to run them and send the report back.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import httpx

from .api import TERMINAL_STATES

BODY_LIMIT = 4000  # characters of a body kept in the report
VERDICTS = ("ok", "differs", "error", "skipped")


@dataclass
class Options:
    api_url: str
    token: str
    out: Path
    other_region_url: str | None = None
    image: str = "python:3.11-slim"
    cpu_flavor: str = "ai1-1-cpu"
    gpu_flavor: str = "ai1-1-gpu"
    quota: bool = False
    s3_endpoint: str | None = None
    s3_bucket: str | None = None
    s3_region: str = "gra"
    poll: float = 5.0
    job_wait: float = 900.0
    log_wait: float = 30.0
    job_timeout: int = 60
    secrets: tuple[str, ...] = ()


@dataclass
class Check:
    name: str
    assumption: str
    verdict: str = "ok"
    notes: list[str] = field(default_factory=list)
    observed: dict[str, Any] = field(default_factory=dict)
    calls: list[dict[str, Any]] = field(default_factory=list)

    def expect(self, condition: bool, note: str) -> bool:
        """Record a difference from the plugin's assumption (the check goes on)."""
        if not condition:
            self.verdict = "differs" if self.verdict == "ok" else self.verdict
            self.notes.append(note)
        return condition


class Api:
    """The regional API with every call recorded into the current check."""

    def __init__(self, options: Options, base_url: str | None = None) -> None:
        self.options = options
        self.http = httpx.Client(
            base_url=(base_url or options.api_url).rstrip("/"),
            headers={
                "Authorization": f"Bearer {options.token}",
                "User-Agent": "snakemake-executor-plugin-ovh-smoke",
            },
            timeout=60,
        )
        self.check: Check | None = None

    def redact(self, text: str) -> str:
        for secret in (self.options.token, *self.options.secrets):
            if secret:
                text = text.replace(secret, "***")
        return text

    def call(
        self,
        method: str,
        path: str,
        *,
        params: Any = None,
        json_body: Any = None,
        accept: str = "application/json",
    ) -> httpx.Response:
        start = time.monotonic()
        response = self.http.request(
            method, path, params=params, json=json_body, headers={"Accept": accept}
        )
        if self.check is not None:
            self.check.calls.append(
                {
                    "method": method,
                    "path": path,
                    "params": _params(params),
                    "accept": accept,
                    "status": response.status_code,
                    "content_type": response.headers.get("content-type", ""),
                    "retry_after": response.headers.get("retry-after"),
                    "elapsed_s": round(time.monotonic() - start, 3),
                    "body": self.redact(response.text[:BODY_LIMIT]),
                }
            )
        return response

    def submit(self, command: str, labels: dict[str, str], **spec: Any) -> httpx.Response:
        body = {
            "image": self.options.image,
            "command": ["/bin/sh", "-c", command],
            "labels": labels,
            "resources": {"flavor": self.options.cpu_flavor, "cpu": 1},
            "timeout": 600,
            **spec,
        }
        return self.call("POST", "/v1/job", json_body=body)

    def wait(
        self, job_id: str, until: Callable[[str], bool] = lambda s: s in TERMINAL_STATES
    ) -> dict[str, Any]:
        """Poll GET /v1/job/{id} (recording only the last answer) until ``until(state)``."""
        deadline = time.monotonic() + self.options.job_wait
        while True:
            response = self.http.get(f"/v1/job/{job_id}", headers={"Accept": "application/json"})
            job = response.json() if response.status_code == 200 else {}
            state = str((job.get("status") or {}).get("state"))
            if until(state) or time.monotonic() > deadline:
                if self.check is not None:
                    self.check.observed.setdefault("polled", {})[job_id] = {
                        "status": response.status_code,
                        "state": state,
                    }
                return job
            time.sleep(self.options.poll)

    def close(self) -> None:
        self.http.close()


def _params(params: Any) -> Any:
    if params is None:
        return None
    items = params.items() if isinstance(params, dict) else params
    return [[str(k), str(v)] for k, v in items]


def run_checks(options: Options) -> dict[str, Any]:
    from .smoke_checks import CHECKS

    api = Api(options)
    context: dict[str, Any] = {"label": {"smoke": uuid.uuid4().hex[:12]}, "jobs": []}
    checks: list[Check] = []
    started = datetime.now(UTC).isoformat()
    try:
        for name, assumption, function in CHECKS:
            check = Check(name, assumption)
            api.check = check
            try:
                function(api, check, context)
            except Exception as e:  # a check that crashed: recorded, the others still run
                check.verdict = "error"
                check.notes.append(api.redact(f"{type(e).__name__}: {e}"))
                check.observed["traceback"] = api.redact(traceback.format_exc()[-2000:])
            checks.append(check)
    finally:
        api.check = None
        _clean_up(api, context)
        api.close()
    summary = {v: sum(c.verdict == v for c in checks) for v in VERDICTS}
    return {
        "tool": "snakemake_executor_plugin_ovh.smoke",
        "plugin_version": _version(),
        "python": platform.python_version(),
        "started": started,
        "finished": datetime.now(UTC).isoformat(),
        "api_url": options.api_url,
        "other_region_url": options.other_region_url,
        "label": context["label"],
        "summary": summary,
        "checks": [c.__dict__ for c in checks],
    }


def _clean_up(api: Api, context: dict[str, Any]) -> None:
    """Kill and delete every job the checks created (best effort)."""
    for job_id in context["jobs"]:
        try:
            api.http.put(f"/v1/job/{job_id}/kill")
            api.http.delete(f"/v1/job/{job_id}", params={"force": "true"})
        except httpx.HTTPError:
            pass


def _version() -> str:
    try:
        return metadata.version("snakemake-executor-plugin-ovh")
    except metadata.PackageNotFoundError:
        return "unknown"


def parse_args(argv: list[str] | None) -> Options:
    p = argparse.ArgumentParser(
        prog="python -m snakemake_executor_plugin_ovh.smoke",
        description="Check the real OVHcloud AI Training API against the plugin's assumptions "
        "(creates a few small jobs, labelled smoke=<random>, and deletes them).",
    )
    p.add_argument("--api-url", required=True, help="e.g. https://gra.ai.cloud.ovh.net")
    p.add_argument(
        "--token", help="app token (default: $SNAKEMAKE_OVH_TOKEN, which keeps it out of ps)"
    )
    p.add_argument("--out", required=True, type=Path, help="the JSON report to write")
    p.add_argument(
        "--other-region-url",
        help="another region's API, e.g. https://bhs.ai.cloud.ovh.net (should refuse the token)",
    )
    p.add_argument("--image", default=Options.image)
    p.add_argument("--cpu-flavor", default=Options.cpu_flavor)
    p.add_argument("--gpu-flavor", default=Options.gpu_flavor)
    p.add_argument(
        "--quota", action="store_true", help="also try five 1-GPU jobs of 30 s (a few cents)"
    )
    p.add_argument(
        "--s3-endpoint",
        help="S3 endpoint for the put/get from inside a job, e.g. https://s3.gra.io.cloud.ovh.net",
    )
    p.add_argument(
        "--s3-bucket",
        help="an existing bucket (keys from $SNAKEMAKE_STORAGE_S3_ACCESS_KEY/SECRET_KEY)",
    )
    p.add_argument("--s3-region", default=Options.s3_region)
    p.add_argument("--poll", type=float, default=Options.poll, help="seconds between job polls")
    p.add_argument(
        "--job-wait", type=float, default=Options.job_wait, help="seconds a job may take"
    )
    p.add_argument(
        "--log-wait",
        type=float,
        default=Options.log_wait,
        help="seconds before fetching a log again",
    )
    p.add_argument(
        "--job-timeout",
        type=int,
        default=Options.job_timeout,
        help="timeout of the timeout check's job",
    )
    a = p.parse_args(argv)  # fmt: skip
    token = a.token or os.environ.get("SNAKEMAKE_OVH_TOKEN")
    if not token:
        p.error("give --token or set SNAKEMAKE_OVH_TOKEN")
    secret = os.environ.get("SNAKEMAKE_STORAGE_S3_SECRET_KEY", "")
    return Options(
        api_url=a.api_url, token=token, out=a.out, other_region_url=a.other_region_url,
        image=a.image, cpu_flavor=a.cpu_flavor, gpu_flavor=a.gpu_flavor, quota=a.quota,
        s3_endpoint=a.s3_endpoint, s3_bucket=a.s3_bucket, s3_region=a.s3_region, poll=a.poll,
        job_wait=a.job_wait, log_wait=a.log_wait, job_timeout=a.job_timeout,
        secrets=(secret,) if secret else (),
    )  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    options = parse_args(argv)
    report = run_checks(options)
    tmp = options.out.with_name(options.out.name + ".part")
    tmp.write_text(json.dumps(report, indent=2) + "\n")
    tmp.replace(options.out)
    for check in report["checks"]:
        notes = "; ".join(check["notes"])
        print(f"{check['verdict']:8} {check['name']}" + (f": {notes}" if notes else ""))
    s = report["summary"]
    print(f"{s['ok']} ok, {s['differs']} differ, {s['error']} errors, {s['skipped']} skipped; "
          f"report: {options.out}")  # fmt: skip
    return 0 if not (s["differs"] or s["error"]) else 1


if __name__ == "__main__":
    sys.exit(main())
