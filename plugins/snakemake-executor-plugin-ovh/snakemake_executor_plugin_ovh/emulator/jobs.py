"""Emulated AI Training jobs: documented Job JSON, state machine, subprocess runner, faults.

Each job runs its ``command`` as a subprocess in a fresh empty directory (also its ``$HOME``),
with only its ``envVars`` on top of a minimal "image" environment whose PATH starts with the
emulator's own Python. Volumes are validated but not synchronised (the Snakemake plugin moves
files through S3 itself).
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .realism import Realism

# id -> (type, gpu model, cpu/unit, memory GiB/unit, max units); see ovh-ai-training-api.md §6
FLAVORS: dict[str, tuple[str, str | None, int, int, int]] = {
    "ai1-1-gpu": ("gpu", "Tesla-V100S", 13, 40, 4),
    "ai1-le-1-gpu": ("gpu", "Tesla-V100S", 13, 40, 4),
    "a100-1-gpu": ("gpu", "Ampere-A100", 13, 160, 2),
    "h100-1-gpu": ("gpu", "H100", 28, 350, 4),
    "l40s-1-gpu": ("gpu", "L40s", 13, 80, 4),
    "l4-1-gpu": ("gpu", "L4", 20, 80, 4),
    "ai1-1-cpu": ("cpu", None, 1, 4, 12),
}
DEFAULT_GPU_FLAVOR = "ai1-1-gpu"
GIB = 1024**3
TERMINAL = frozenset({"DONE", "FAILED", "ERROR", "INTERRUPTED", "SYNC_FAILED"})
OUTCOMES = frozenset({"FAILED", "ERROR", "SYNC_FAILED", "STUCK_QUEUED", "INTERRUPTED", "TIMEOUT"})
# the API calls faults can target (server.py names each request by one of these)
ENDPOINTS = ("submit", "list", "get", "kill", "delete", "log")
_DIRECTORY_ARG = re.compile(r"--directory(?:=|\s+)(?:'[^']*'|\"[^\"]*\"|\S+)")


class SpecError(ValueError):
    """Invalid JobSpec: answered with HTTP 400."""


class QuotaError(SpecError):
    """The project's GPU quota is used up (queued jobs count): answered with HTTP 403."""


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def rewrite_directory(arg: str) -> str:
    """Point an injected ``--directory <submitter path>`` at the job's own working directory."""
    return _DIRECTORY_ARG.sub('--directory "$PWD"', arg)


def _labels_match(labels: dict[str, str], match: dict[str, str] | None) -> bool:
    return all(labels.get(k) == v for k, v in (match or {}).items())


@dataclass
class Faults:
    """Fault injection, set through ``POST /emulator/faults``.

    ``errors[endpoint]`` and ``slow[endpoint]`` are queues consumed one entry per request to
    that endpoint: an HTTP status answered instead of the real answer, or seconds slept before
    the request is processed (a slow server: beyond the client's timeout the work still happens
    later, as when a gateway gives up on a busy backend).
    """

    errors: dict[str, deque[int]] = field(default_factory=dict)
    slow: dict[str, deque[float]] = field(default_factory=dict)
    # {"match": {label: value}, "outcome": one of OUTCOMES, "count": n, "after": seconds}
    job_faults: list[dict[str, Any]] = field(default_factory=list)
    # {"match": {label: value}, "argv": [...]}: run argv instead of the job's command (which
    # the replacement reads from $EMULATOR_JOB_COMMAND), for cheap synthetic load
    commands: list[dict[str, Any]] = field(default_factory=list)
    delay: float = 0.0

    def update(self, body: dict[str, Any]) -> None:
        if body.get("reset"):
            self.errors.clear()
            self.slow.clear()
            self.job_faults.clear()
            self.commands.clear()
            self.delay = 0.0
        for queues, given, cast in (
            (self.errors, body.get("errors"), int),
            (self.slow, body.get("slow"), float),
        ):
            for endpoint, values in (given or {}).items():
                if endpoint not in ENDPOINTS:
                    raise SpecError(f"unknown endpoint {endpoint!r}; use one of {ENDPOINTS}")
                queues.setdefault(endpoint, deque()).extend(cast(v) for v in values)
        for fault in body.get("job_faults", []):
            if fault.get("outcome") not in OUTCOMES:
                raise SpecError(f"unknown fault outcome {fault.get('outcome')!r}")
            self.job_faults.append(dict(fault))
        for command in body.get("commands", []):
            argv = command.get("argv")
            if not isinstance(argv, list) or not argv:
                raise SpecError("commands entries need a non-empty argv list")
            self.commands.append(dict(command))
        if "delay" in body:
            self.delay = float(body["delay"])

    def take(self, endpoint: str) -> tuple[int | None, float]:
        """The injected HTTP status (or None) and extra seconds for one request."""
        errors, slow = self.errors.get(endpoint), self.slow.get(endpoint)
        status = errors.popleft() if errors else None
        return status, (slow.popleft() if slow else 0.0)

    def take_job_fault(self, labels: dict[str, str]) -> dict[str, Any] | None:
        for fault in self.job_faults:
            if not _labels_match(labels, fault.get("match")):
                continue
            count = fault.get("count")
            if count is not None:
                if count <= 0:
                    continue
                fault["count"] = count - 1
            return dict(fault)
        return None

    def command_for(self, labels: dict[str, str]) -> list[str] | None:
        for command in self.commands:
            if _labels_match(labels, command.get("match")):
                return [str(a) for a in command["argv"]]
        return None


@dataclass
class Stats:
    """What the API was asked, for tests: calls per endpoint, list calls with their time and
    selector, and every job ever created with its labels and state (deleted ones included)."""

    calls: dict[str, int] = field(default_factory=dict)
    list_calls: list[dict[str, Any]] = field(default_factory=list)
    submitted: list[tuple[float, EmulatedJob]] = field(default_factory=list)
    quota_refusals: int = 0

    def count(self, endpoint: str, selector: str | None = None) -> None:
        self.calls[endpoint] = self.calls.get(endpoint, 0) + 1
        if endpoint == "list":
            self.list_calls.append({"t": time.time(), "selector": selector or ""})

    def to_json(self) -> dict[str, Any]:
        return {
            "calls": dict(self.calls),
            "list_calls": list(self.list_calls),
            "submitted": [
                {
                    "id": j.id,
                    "labels": dict(j.spec["labels"]),
                    "t": t,
                    "state": j.state,
                    "t_end": j.finished_at,
                    "gpus": j.gpus(),
                }
                for t, j in self.submitted
            ],
            "quota_refusals": self.quota_refusals,
        }


@dataclass
class Timing:
    """Seconds spent in the non-running phases (small by default: tests run fast)."""

    queued: float = 0.1
    initializing: float = 0.1
    pending: float = 0.1
    finalizing: float = 0.1
    kill_grace: float = 5.0


def resolve_resources(resources: dict[str, Any] | None) -> dict[str, Any]:
    resources = dict(resources or {})
    gpu = int(resources.get("gpu") or 0)
    flavor = resources.get("flavor")
    if not flavor:
        flavor = DEFAULT_GPU_FLAVOR if gpu or "cpu" not in resources else "ai1-1-cpu"
    if flavor not in FLAVORS:
        raise SpecError(f"unknown flavor {flavor!r}")
    kind, model, cpu_unit, mem_unit, max_units = FLAVORS[flavor]
    units = max(gpu, 1) if kind == "gpu" else max(int(resources.get("cpu") or 1), 1)
    if units > max_units:
        raise SpecError(f"flavor {flavor} allows at most {max_units} per job, asked {units}")
    out: dict[str, Any] = {
        "flavor": flavor,
        "gpu": units if kind == "gpu" else 0,
        "cpu": cpu_unit * units,
        "memory": mem_unit * units * GIB,
        "ephemeralStorage": 100 * units * GIB,
        "publicNetwork": 1_500_000_000,
        "privateNetwork": 0,
    }
    if model:
        out.update(gpuModel=model, gpuBrand="NVIDIA", gpuMemory=32 * GIB)
    return out


def validate_spec(spec: dict[str, Any]) -> dict[str, Any]:
    if not isinstance(spec, dict):
        raise SpecError("body must be a JSON object")
    if not spec.get("image") or not isinstance(spec["image"], str):
        raise SpecError("image is required")
    command = spec.get("command")
    if command is not None and (
        not isinstance(command, list) or not all(isinstance(c, str) for c in command)
    ):
        raise SpecError("command must be a list of strings")
    env = spec.get("envVars") or spec.get("env") or []
    for item in env:
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            raise SpecError("envVars items must be {name, value}")
    labels = spec.get("labels") or {}
    if not isinstance(labels, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in labels.items()
    ):
        raise SpecError("labels must map strings to strings")
    for volume in spec.get("volumes") or []:
        if not str(volume.get("mountPath", "")).startswith("/"):
            raise SpecError("volume mountPath must start with /")
        if str(volume.get("permission", "")).upper() not in ("RO", "RW", "RWD"):
            raise SpecError("volume permission must be RO, RW or RWD")
    timeout = spec.get("timeout", 604800)
    if not isinstance(timeout, int) or timeout < 0:
        raise SpecError("timeout must be a non-negative integer (seconds)")
    return {
        "image": spec["image"],
        "command": command,
        "envVars": [{"name": e["name"], "value": str(e.get("value", ""))} for e in env],
        "name": spec.get("name") or f"emulated-{uuid.uuid4().hex[:6]}",
        "labels": {k: v for k, v in labels.items() if not k.startswith("ovh/")},
        "resources": resolve_resources(spec.get("resources")),
        "volumes": spec.get("volumes") or [],
        "sshPublicKeys": spec.get("sshPublicKeys"),
        "timeout": timeout,
        "timeoutAutoRestart": bool(spec.get("timeoutAutoRestart", False)),
        "unsecureHttp": bool(spec.get("unsecureHttp", False)),
        "defaultHttpPort": int(spec.get("defaultHttpPort", 8080)),
        "grpcPort": int(spec.get("grpcPort", 0)),
        "shutdown": None,
    }


class EmulatedJob:
    def __init__(
        self,
        spec: dict[str, Any],
        root: Path,
        fault: dict[str, Any] | None,
        command: list[str] | None = None,
    ) -> None:
        self.id = str(uuid.uuid4())
        self.spec = spec
        self.spec["labels"].update({"ovh/id": self.id, "ovh/type": "job"})
        self.fault = str(fault["outcome"]) if fault else None
        # INTERRUPTED/TIMEOUT: seconds of RUNNING before the platform stops the job
        self.fault_after = float((fault or {}).get("after", 0.5))
        self.command_override = command
        self.workdir = root / self.id
        self.log_path = root / f"{self.id}.log"
        self.created_at = now_iso()
        self.updated_at = self.created_at
        self.kill_requested = threading.Event()
        self.proc: subprocess.Popen[bytes] | None = None
        self.started_monotonic: float | None = None
        self.interrupt_code = "JOB_INTERRUPTED"
        self.finished_at: float | None = None
        # (monotonic time written, line): served once older than the log lag
        self.log_lines: list[tuple[float, str]] = []
        self.log_lock = threading.Lock()
        self.status: dict[str, Any] = {
            "state": None,
            "history": [],
            "info": {},
            "exitCode": None,
            "duration": 0,
            "queuedAt": None,
            "initializingAt": None,
            "startedAt": None,
            "stoppedAt": None,
            "finalizedAt": None,
            "timeoutAt": None,
            "lastTransitionDate": None,
            "ip": "127.0.0.1",
            "externalIp": "127.0.0.1",
            "url": f"http://{self.id}.job.emulator.invalid",
            "grpcAddress": f"{self.id}.job-grpc.emulator.invalid:443",
            "infoUrl": f"http://ui.emulator.invalid/job/{self.id}",
            "monitoringUrl": "",
            "sshUrl": "",
            "dataSync": [],
            "volumes": [],
        }
        self.transition("QUEUED")

    @property
    def state(self) -> str:
        return str(self.status["state"])

    def transition(self, state: str, message: str | None = None) -> None:
        date = now_iso()
        self.status["state"] = state
        self.status["history"].append({"state": state, "date": date})
        self.status["lastTransitionDate"] = date
        code = {"JOB_INTERRUPTED": self.interrupt_code}.get(f"JOB_{state}", f"JOB_{state}")
        if state == "FAILED" and message is None:
            message = f"Job failed with code {self.status['exitCode']}"
        self.status["info"] = {"code": code, "message": message or f"Job is {state.lower()}"}
        stamp = {
            "QUEUED": "queuedAt",
            "INITIALIZING": "initializingAt",
            "RUNNING": "startedAt",
            "FINALIZING": "stoppedAt",
        }.get(state)
        if stamp and not self.status[stamp]:
            self.status[stamp] = date
        if state in TERMINAL:
            self.finished_at = time.time()
            self.status["finalizedAt"] = date
            if not self.status["stoppedAt"]:
                self.status["stoppedAt"] = date
        self.add_log_line(f"[ovh] {self.status['info']['message']}")
        if self.started_monotonic is not None and self.proc is not None:
            self.status["duration"] = int(time.monotonic() - self.started_monotonic)
        self.updated_at = date

    def add_log_line(self, line: str) -> None:
        with self.log_lock:
            self.log_lines.append((time.monotonic(), line.rstrip("\n") + "\n"))

    def gpus(self) -> int:
        return int(self.spec["resources"].get("gpu") or 0)

    def to_json(self) -> dict[str, Any]:
        spec = dict(self.spec)
        # like the real API, the spec (envVars included) is readable by any token of the project
        return {
            "id": self.id,
            "createdAt": self.created_at,
            "updatedAt": self.updated_at,
            "user": "emulator",
            "spec": spec,
            "status": dict(self.status),
        }


class JobStore:
    def __init__(
        self,
        root: Path,
        python_bin: str,
        timing: Timing | None = None,
        realism: Realism | None = None,
    ) -> None:
        self.root = root
        self.realism = realism or Realism()
        self.realism_at_start = self.realism.copy()
        self.root.mkdir(parents=True, exist_ok=True)
        self.python_bin = python_bin
        self.timing = timing or Timing()
        self.faults = Faults()
        self.jobs: dict[str, EmulatedJob] = {}
        self.lock = threading.Lock()
        self.stats = Stats()

    def reset_stats(self) -> None:
        with self.lock:
            self.stats = Stats()

    # -- API operations -----------------------------------------------------------------------

    def submit(self, body: dict[str, Any]) -> EmulatedJob:
        spec = validate_spec(body)
        with self.lock:
            self._check_quota(spec)
            fault = self.faults.take_job_fault(spec["labels"])
            job = EmulatedJob(spec, self.root, fault, self.faults.command_for(spec["labels"]))
            self.jobs[job.id] = job
            self.stats.submitted.append((time.time(), job))
        threading.Thread(target=self._lifecycle, args=(job,), daemon=True).start()
        return job

    def _check_quota(self, spec: dict[str, Any]) -> None:
        quota = int(self.realism.gpu_quota or 0)
        wanted = int(spec["resources"].get("gpu") or 0)
        if not quota or not wanted:
            return
        used = sum(j.gpus() for j in self.jobs.values() if j.state not in TERMINAL)
        if used + wanted > quota:
            self.stats.quota_refusals += 1
            raise QuotaError(
                f"Quota exceeded: the project may use {quota} GPUs at once (running or "
                f"queued), {used} in use, {wanted} asked"
            )

    def get(self, job_id: str) -> EmulatedJob | None:
        with self.lock:
            return self.jobs.get(job_id)

    def list(self, selector: dict[str, str], states: set[str]) -> list[EmulatedJob]:
        with self.lock:
            jobs = list(self.jobs.values())
        return [
            j
            for j in jobs
            if self.realism.selects(j.spec["labels"], selector)
            and (not states or j.state in states)
        ]

    def kill(self, job: EmulatedJob) -> None:
        # the lifecycle thread notices within 0.2 s and stops the process (INTERRUPTING)
        job.kill_requested.set()

    def delete(self, job: EmulatedJob, force: bool) -> bool:
        if job.state not in TERMINAL:
            if not force:
                return False
            self.kill(job)
        with self.lock:
            self.jobs.pop(job.id, None)
        return True

    def log(self, job: EmulatedJob, tail: int | None) -> str:
        """The lines older than the log lag, ``[ovh]`` (platform) or ``[job]`` (output)."""
        horizon = time.monotonic() - float(self.realism.log_lag or 0.0)
        with job.log_lock:
            lines = [line for t, line in job.log_lines if t <= horizon]
        if tail:
            lines = lines[-tail:]
        return "".join(lines)

    def shutdown(self) -> None:
        with self.lock:
            jobs = list(self.jobs.values())
        # the emulator is exiting (its threads are daemons): stop job processes right here
        for job in jobs:
            if job.state not in TERMINAL:
                self.kill(job)
                if job.proc is not None and job.proc.poll() is None:
                    self._terminate(job.proc)

    # -- state machine ------------------------------------------------------------------------

    def _wait(self, job: EmulatedJob, seconds: float) -> bool:
        """Sleep in a phase; True if a kill arrived meanwhile."""
        return job.kill_requested.wait(seconds)

    def _interrupt(self, job: EmulatedJob) -> None:
        job.transition("INTERRUPTING")
        job.transition("FINALIZING")
        time.sleep(self.timing.finalizing)
        job.transition("INTERRUPTED", "Job was interrupted")

    def _lifecycle(self, job: EmulatedJob) -> None:
        try:
            self._run_lifecycle(job)
        except Exception as e:  # never leave a job hanging in a non-terminal state
            job.transition("ERROR", f"emulator error: {type(e).__name__}: {e}")

    def _run_lifecycle(self, job: EmulatedJob) -> None:
        if job.fault == "STUCK_QUEUED":
            job.kill_requested.wait()
            self._interrupt(job)
            return
        for phase, seconds in (
            ("QUEUED", self.timing.queued),
            ("INITIALIZING", self.timing.initializing),
            ("PENDING", self.timing.pending),
        ):
            if phase != "QUEUED":
                job.transition(phase)
            if self._wait(job, seconds):
                self._interrupt(job)
                return
        if job.fault == "ERROR":
            job.transition("ERROR", "Emulated platform error, please contact support")
            return
        job.transition("RUNNING")
        exit_code, reason = self._run_command(job)
        job.status["exitCode"] = exit_code
        # INTERRUPTING / TIMEOUT were recorded while the process was being stopped
        job.transition("FINALIZING")
        time.sleep(self.timing.finalizing)
        if reason == "timeout":
            job.interrupt_code = "JOB_TIMEOUT"
        if reason in ("killed", "timeout"):
            messages = {
                "JOB_INTERRUPTED": "Job was interrupted",
                "JOB_INTERRUPTED_BY_PLATFORM": "Job was interrupted by the platform",
                "JOB_TIMEOUT": "Job timed out",
            }
            job.transition("INTERRUPTED", messages[job.interrupt_code])
        elif job.fault == "SYNC_FAILED":
            job.transition("SYNC_FAILED", "Emulated data synchronization failure")
        elif exit_code == 0:
            job.transition("DONE", "Job is done")
        else:
            job.transition("FAILED")

    def _environment(self, job: EmulatedJob) -> dict[str, str]:
        env = {
            "PATH": f"{self.python_bin}:/usr/local/bin:/usr/bin:/bin",
            "HOME": str(job.workdir),
            "LANG": "C.UTF-8",
            "JOB_ID": job.id,
        }
        env.update({e["name"]: e["value"] for e in job.spec["envVars"]})
        return env

    def _run_command(self, job: EmulatedJob) -> tuple[int, str]:
        job.workdir.mkdir(parents=True, exist_ok=False)
        command = [rewrite_directory(c) for c in (job.spec["command"] or ["/bin/true"])]
        env = self._environment(job)
        if job.command_override:
            env["EMULATOR_JOB_COMMAND"] = command[-1]
            command = job.command_override
        if job.fault == "FAILED":
            command = ["/bin/sh", "-c", "echo 'emulated failure' >&2; exit 3"]
        deadline = time.monotonic() + job.spec["timeout"] if job.spec["timeout"] else None
        if job.fault == "TIMEOUT":
            deadline = time.monotonic() + job.fault_after
        # a platform interruption (maintenance, eviction): stopped like a kill, not by the user
        evict_at = time.monotonic() + job.fault_after if job.fault == "INTERRUPTED" else None
        job.proc = subprocess.Popen(
            command,
            cwd=job.workdir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # own process group: kill takes its children too
        )
        reader = threading.Thread(target=_read_output, args=(job,), daemon=True)
        reader.start()
        job.started_monotonic = time.monotonic()
        reason = "exited"
        while True:
            try:
                code = job.proc.wait(timeout=0.2)
                break
            except subprocess.TimeoutExpired:
                pass
            if evict_at is not None and time.monotonic() > evict_at and reason == "exited":
                job.interrupt_code = "JOB_INTERRUPTED_BY_PLATFORM"
                job.kill_requested.set()
            if job.kill_requested.is_set() and reason == "exited":
                reason = "killed"
                job.transition("INTERRUPTING")
                self._terminate(job.proc)
            elif deadline is not None and time.monotonic() > deadline and reason == "exited":
                reason = "timeout"
                job.transition("TIMEOUT")
                self._terminate(job.proc)
        # a background child may still hold the pipe open: do not wait for it for ever
        reader.join(timeout=self.timing.kill_grace)
        return code, reason

    def _terminate(self, proc: subprocess.Popen[bytes]) -> None:
        _signal_group(proc, signal.SIGTERM)
        try:
            proc.wait(timeout=self.timing.kill_grace)
        except subprocess.TimeoutExpired:
            _signal_group(proc, signal.SIGKILL)


def _read_output(job: EmulatedJob) -> None:
    """The job's output, line by line, into its log (``[job]`` prefix) and its log file."""
    assert job.proc is not None and job.proc.stdout is not None
    with open(job.log_path, "ab") as raw:
        for line in job.proc.stdout:
            raw.write(line)
            raw.flush()
            job.add_log_line("[job] " + line.decode(errors="replace"))


def _signal_group(proc: subprocess.Popen[bytes], sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, sig)


def default_python_bin() -> str:
    return str(Path(sys.executable).parent)
