"""The Snakemake executor: submit, poll (one list call per round), logs, cancel."""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import socket
import threading
import time
import uuid
from collections.abc import AsyncGenerator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

from snakemake_interface_common.exceptions import WorkflowError
from snakemake_interface_executor_plugins.executors.base import SubmittedJobInfo
from snakemake_interface_executor_plugins.executors.remote import RemoteExecutor
from snakemake_interface_executor_plugins.jobs import JobExecutorInterface

from .api import (
    FAILURE_STATES,
    SUCCESS_STATES,
    TERMINAL_STATES,
    ApiError,
    OvhAiClient,
    job_info_message,
    job_labels_of,
    job_state,
    job_timed_out,
)
from .bootstrap import installed_version, job_script
from .flavors import flavor_limits, region_gpu_flavors
from .joblogs import LogCollector
from .preflight import check_token, read_flavors
from .quota import GpuQuota, is_quota_refusal, quota_pause
from .spec import (
    HOST_LABEL,
    OUTPUT_LABEL,
    PID_LABEL,
    RUN_LABEL,
    WORKFLOW_LABEL,
    SpecOptions,
    build_job_spec,
    digest_label,
    job_labels,
    output_label,
    parse_mapping,
    sanitize_label,
)

TOKEN_ENV = "SNAKEMAKE_OVH_TOKEN"
# A job missing from this many consecutive list answers is looked up directly.
MISSING_ROUNDS_BEFORE_GET = 3
# A closed terminal (SIGHUP), a kill (SIGTERM) or Ctrl-C (SIGINT) must not leave billed GPU
# jobs running: the handler kills them at once, before Snakemake's own handling (which may be
# slow, or lost in an event loop) runs. A signal the user ignores (nohup) is left alone.
KILL_SIGNALS = (signal.SIGTERM, signal.SIGHUP, signal.SIGINT)
# A kill is the last thing standing between a dead run and a billed GPU: try harder than for
# other calls (with the default back-off, about a minute in all).
KILL_RETRIES = 6
# States in which a job can still start, run or bill: what a dead run may have left behind.
# (RESTARTING is missing from older API versions' enum: a filter naming it may be refused.)
ACTIVE_STATES = ("QUEUED", "INITIALIZING", "PENDING", "RUNNING", "RESTARTING")
# Our own mark (never an API state) for a job whose kill kept failing: reported once, by id.
KILL_FAILED = "KILL_FAILED"


def labels_match(job: Mapping[str, Any], wanted: Mapping[str, str]) -> bool:
    """Every wanted label, checked here: how the server applies a selector of several labels
    (AND is only inferred) must never decide which job is adopted or killed."""
    labels = job_labels_of(dict(job))
    return all(labels.get(k) == v for k, v in wanted.items())


def _vanished(ovh_id: str) -> dict[str, Any]:
    return {"id": ovh_id, "status": {"state": "ERROR", "info": {"message": "job vanished (404)"}}}


def pid_alive(pid: str | None) -> bool | None:
    """Whether a process of this host exists (None: no usable pid)."""
    try:
        os.kill(int(pid or ""), 0)
    except ValueError:
        return None
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, someone else's
        return True
    return True


class Executor(RemoteExecutor):
    def __post_init__(self) -> None:
        settings = self.executor_settings
        token = getattr(settings, "token", None) or os.environ.get(TOKEN_ENV)
        if not token:
            raise WorkflowError(f"no OVHcloud AI token: set the environment variable {TOKEN_ENV}")
        self._token = token
        try:
            base_url = settings.base_url()
        except ValueError as e:
            raise WorkflowError(str(e)) from e
        self._check_storage_prefix()
        self.client = OvhAiClient(
            base_url,
            token,
            timeout=float(settings.request_timeout or 60.0),
            retries=int(settings.request_retries if settings.request_retries is not None else 8),
            backoff=float(
                settings.request_backoff if settings.request_backoff is not None else 1.0
            ),
        )
        self.region = None if settings.api_url else (settings.region or "gra").lower()
        check_token(self.client, self.region)
        self.run_id = f"{time.strftime('%Y%m%d%H%M%S')}-{uuid.uuid4().hex[:8]}"
        self.options = SpecOptions(
            image=settings.image or "",
            flavor=settings.flavor or "ai1-1-gpu",
            cpu_flavor=settings.cpu_flavor or "ai1-1-cpu",
            gpu_flavors=parse_mapping(settings.gpu_flavors, "--ovh-gpu-flavors"),
            default_timeout=int(settings.default_timeout or 86400),
            timeout_margin=int(settings.timeout_margin or 0),
            labels=parse_mapping(settings.labels, "--ovh-labels"),
        )
        self._use_region_flavors(read_flavors(self.client))
        self.max_queued_seconds = int(settings.max_queued_seconds or 0)
        self.quota = GpuQuota(int(settings.gpu_quota or 0))
        self.status_timeout = float(settings.status_timeout or 0)
        self._status_ok = time.monotonic()  # last round that got an answer
        self._per_job_status = False  # the list call was refused: GET each job instead
        self._last_status_error = ""
        self.log_dir = Path(self.workflow.persistence.aux_path) / "ovh-logs"
        self._versions = (installed_version("snakemake"), self._s3_plugin_version())
        storage = getattr(self.workflow, "storage_settings", None)
        self.origin = {
            WORKFLOW_LABEL: digest_label(
                os.getcwd(), getattr(storage, "default_storage_prefix", "") or ""
            ),
            HOST_LABEL: sanitize_label(socket.gethostname()),
            PID_LABEL: str(os.getpid()),
        }
        # OVH id -> last known state; read by the exit/signal handlers
        self._jobs: dict[str, str] = {}
        # OVH id -> (snakemake jobid, attempt) labels: tells a duplicate submission apart
        self._keys: dict[str, tuple[str, str]] = {}
        self._missing: dict[str, int] = {}
        self._jobs_lock = threading.Lock()
        self._closed = False
        # set by a signal or a cancel: from then on nothing is submitted (no retry outlives it)
        self._stopping = False
        self.logs = LogCollector(
            self.client,
            float(settings.log_settle_seconds if settings.log_settle_seconds is not None else 30),
            self._redact,
            self.logger.warning,
        )
        # finished successfully, log still settling: OVH id -> log path (deleted once settled)
        self._settling: dict[str, Path] = {}
        atexit.register(self._kill_unfinished)
        self._previous_handlers: dict[int, Any] = {}
        self._install_signal_handlers()
        self.logger.info(f"OVHcloud AI Training: run {self.run_id} at {base_url}")
        self._stop_leftovers()

    # -- helpers -------------------------------------------------------------------------------

    def _use_region_flavors(self, flavors: list[dict[str, Any]] | None) -> None:
        """Map gpu_model through the region's own flavor list, and refuse flavors it lacks."""
        if flavors is None:
            self.logger.warning(
                "could not read the region's flavors (GET /v1/capabilities/flavor): using "
                "the built-in gpu_model table, unchecked"
            )
            return
        limits = flavor_limits(flavors)
        for name, flavor in (("--ovh-flavor", self.options.flavor),
                             ("--ovh-cpu-flavor", self.options.cpu_flavor)):  # fmt: skip
            if flavor not in limits:
                raise WorkflowError(
                    f"{name} {flavor!r} is not offered in this region; it offers "
                    f"{', '.join(sorted(limits))}"
                )
        self.options = replace(
            self.options, region_gpu_flavors=region_gpu_flavors(flavors), flavor_max=limits
        )

    def _check_storage_prefix(self) -> None:
        storage = getattr(self.workflow, "storage_settings", None)
        prefix = getattr(storage, "default_storage_prefix", None)
        if not prefix:
            return
        prefix = str(prefix)
        if "$" in prefix:
            raise WorkflowError(
                f"default storage prefix {prefix!r} contains an unset variable "
                "(export OVH_S3_BUCKET, or pass --default-storage-prefix s3://BUCKET/PREFIX)"
            )
        scheme, _, rest = prefix.partition("://")
        if scheme == "s3" and "/" not in rest.strip("/"):
            raise WorkflowError(
                f"default storage prefix {prefix!r} is a bucket root; use s3://BUCKET/PREFIX "
                "(Snakemake deletes a bucket that its cleanup leaves empty)"
            )

    @staticmethod
    def _s3_plugin_version() -> str:
        try:
            return installed_version("snakemake-storage-plugin-s3")
        except Exception:  # not installed: the bootstrap pins whatever snakemake pulls
            return "0.3.6"

    def _redact(self, text: str) -> str:
        return text.replace(self._token, "***") if self._token else text

    def _envvars(self) -> dict[str, str]:
        # unbuffered: a killed job still leaves its last lines in the AI Training log
        env = {"PYTHONUNBUFFERED": "1"}
        env.update({k: v for k, v in self.envvars().items() if v is not None})
        env.pop(TOKEN_ENV, None)  # never forward the API token to jobs
        return env

    def _image(self, job: JobExecutorInterface) -> str:
        """The rule's ``container:`` image, else ``--ovh-image``."""
        if job.resources.get("ovh_image", None):
            raise WorkflowError(
                f"rule {job.name}: the resource ovh_image is gone; give the image with the "
                "rule's container: directive"
            )
        image = str(getattr(job, "container_img_url", None) or self.options.image or "")
        for scheme in ("docker://", "oci://"):
            image = image.removeprefix(scheme)
        if not image:
            raise WorkflowError("no job image: set --ovh-image or the rule's container:")
        return image

    def _log_path(self, job: JobExecutorInterface, ovh_id: str) -> Path:
        wildcards = getattr(job, "wildcards_dict", None) or {}
        slug = (
            sanitize_label("_".join(f"{k}-{v}" for k, v in wildcards.items()), 80)
            if wildcards
            else ""
        )
        parts = [sanitize_label(job.name), slug, str(job.jobid), f"a{job.attempt}", ovh_id[:8]]
        return self.log_dir / ("_".join(p for p in parts if p) + ".log")

    # -- submission ---------------------------------------------------------------------------

    def run_job(self, job: JobExecutorInterface) -> None:
        # Snakemake's scheduler installs its own (graceful: wait for running jobs) SIGTERM
        # handler after creating the executor; chain in front of it so SIGTERM kills our jobs.
        self._install_signal_handlers()
        if self._stopping:
            self.report_job_error(
                SubmittedJobInfo(job), msg="not submitted: the run is stopping (signal or Ctrl-C)"
            )
            return
        exec_command = self.format_job_exec(job)
        precommand = self.workflow.spawned_job_args_factory.precommand(
            executor_common_settings=self.common_settings
        )
        script = job_script(
            exec_command,
            precommand=precommand,
            bootstrap=bool(self.executor_settings.bootstrap),
            job_workdir=self.executor_settings.job_workdir,
            snakemake_version=self._versions[0],
            s3_plugin_version=self._versions[1],
            project_setup=self.executor_settings.project_setup,
        )
        if self._token in script:
            raise WorkflowError("refusing to submit: the job command would contain the API token")
        origin = {**self.origin, OUTPUT_LABEL: output_label(job.output)}
        labels = job_labels(
            self.run_id, job.name, job.jobid, job.attempt, self.options.labels, origin
        )
        spec = build_job_spec(
            name=f"snakemake-{job.name}-{job.jobid}",
            image=self._image(job),
            command=script,
            envvars=self._envvars(),
            resources=job.resources,
            labels=labels,
            options=self.options,
        )
        gpus = int(spec["resources"].get("gpu") or 0)
        if self.quota.limit and gpus > self.quota.limit:
            raise WorkflowError(
                f"rule {job.name} asks {gpus} GPUs, more than the project's quota "
                f"(--ovh-gpu-quota {self.quota.limit})"
            )
        self.quota.wait_for_room(
            gpus,
            lambda used: self.logger.info(
                f"waiting for GPU quota: job {job.jobid} needs {gpus}, this run holds {used} "
                f"of {self.quota.limit} (--ovh-gpu-quota)"
            ),
            stop=lambda: self._closed,
        )
        try:
            ovh_job = self._submit(spec, labels)
        except ApiError as e:
            raise WorkflowError(
                f"OVHcloud AI Training: submission failed: {self._redact(str(e))}"
            ) from e
        ovh_id = str(ovh_job["id"])
        self.quota.hold(ovh_id, gpus)
        with self._jobs_lock:
            self._jobs[ovh_id] = job_state(ovh_job)
            self._keys[ovh_id] = (labels["snakemake-jobid"], labels["snakemake-attempt"])
        self.logger.info(f"Submitted job {job.jobid} as OVHcloud AI Training job {ovh_id}")
        aux = {"log": str(self._log_path(job, ovh_id)), "submitted": time.monotonic()}
        self.report_job_submission(SubmittedJobInfo(job, external_jobid=ovh_id, aux=aux))

    def _submit(self, spec: dict[str, Any], labels: dict[str, str]) -> dict[str, Any]:
        """POST the job; a retried POST first checks whether the lost answer created it. A
        refusal for quota (other runs or users of the project hold the GPUs) waits and
        retries, up to --ovh-max-queued-seconds."""
        attempts = int(self.client.retries) + 1
        keys = (RUN_LABEL, "snakemake-jobid", "snakemake-attempt")
        wanted = {k: labels[k] for k in keys}
        selector = ",".join(f"{k}={v}" for k, v in wanted.items())
        last: ApiError | None = None
        attempt = quota_waits = 0
        quota_since: float | None = None
        while attempt < attempts:
            if attempt:
                try:
                    existing = self.client.list(label_selector=selector, retries=2)
                except (ApiError, ValueError):
                    existing = []
                adopted = [j for j in existing if labels_match(j, wanted)]
                if adopted:
                    return adopted[0]
            try:
                return self.client.submit(spec, retries=0)
            except ApiError as e:
                if is_quota_refusal(e):
                    quota_since = quota_since or time.monotonic()
                    waited = time.monotonic() - quota_since
                    if self.max_queued_seconds and waited > self.max_queued_seconds:
                        raise ApiError(
                            f"{e} (still refused for quota after {waited:.0f} s, "
                            "--ovh-max-queued-seconds): free GPUs of the project, lower "
                            "--ovh-gpu-quota, or ask OVHcloud support for more quota",
                            e.status,
                        ) from e
                    if not quota_waits:
                        self.logger.info(
                            f"waiting for GPU quota: {self._redact(str(e))}; submitting again "
                            "when GPUs of the project are free"
                        )
                    time.sleep(quota_pause(quota_waits, float(self.client.backoff)))
                    quota_waits += 1
                    continue  # not a failed attempt: nothing was created
                transient = e.status is None or e.status == 429 or e.status >= 500
                if not transient:
                    raise
                last = e
                if attempt + 1 < attempts:
                    delay = self.client._delay(attempt, None)
                    self.logger.warning(
                        f"{self._redact(str(e))}; retrying submission in {delay:.1f} s"
                    )
                    time.sleep(delay)
                attempt += 1
        assert last is not None
        raise last

    # -- status -------------------------------------------------------------------------------

    async def check_active_jobs(
        self, active_jobs: list[SubmittedJobInfo]
    ) -> AsyncGenerator[SubmittedJobInfo, None]:
        # (the wait thread calls this from before __post_init__: nothing is set up yet then)
        if not active_jobs:
            return
        self._settle_logs()
        async with self.status_rate_limiter:
            by_id = self._status_round([str(j.external_jobid) for j in active_jobs])
        if by_id is None:
            self._check_status_timeout()
            for job_info in active_jobs:
                yield job_info
            return
        self._status_ok = time.monotonic()
        for job_info in active_jobs:
            ovh_id = str(job_info.external_jobid)
            ovh_job = by_id.get(ovh_id)
            if ovh_job is None:
                ovh_job = self._lookup_missing(ovh_id)
                if ovh_job is None:
                    yield job_info
                    continue
            state = job_state(ovh_job)
            with self._jobs_lock:
                kill_failed = self._jobs.get(ovh_id) == KILL_FAILED
                if not kill_failed:
                    self._jobs[ovh_id] = state
            if state in TERMINAL_STATES:
                self.quota.release(ovh_id)
            if kill_failed and state not in TERMINAL_STATES:
                # we are stopping (signal, Ctrl-C): waiting for a job we could not kill would
                # keep this process alive for as long as the job runs; it was reported by id
                self.report_job_error(
                    job_info,
                    msg=f"OVHcloud AI Training job {ovh_id} could not be killed and may still "
                    f"run: stop it by hand with 'ovhai job stop {ovh_id}'. ",
                )
            elif state == "QUEUED" and self._queued_too_long(job_info):
                self._kill([ovh_id])  # left on the platform (INTERRUPTED) for inspection
                self._missing.pop(ovh_id, None)
                self.quota.release(ovh_id)
                self.report_job_error(job_info, msg=self._queued_message(ovh_job, job_info))
            elif state in SUCCESS_STATES:
                # the log may still grow: saved now, deleted once settled (_settle_logs)
                self._settling[ovh_id] = self._log_file(job_info)
                self._missing.pop(ovh_id, None)
                self.report_job_success(job_info)
            elif state in FAILURE_STATES:
                # the error report carries the log: wait (stay active) until it has settled
                log_path = self._log_file(job_info)
                if not self.logs.poll(ovh_id, log_path):
                    yield job_info
                    continue
                self._forget(ovh_id)
                self.report_job_error(
                    job_info, msg=self._failure_message(ovh_id, ovh_job), aux_logs=[str(log_path)]
                )
            else:
                yield job_info  # pending, running, stopping or a state unknown to us

    def _status_round(self, ids: list[str]) -> dict[str, dict[str, Any]] | None:
        """This run's jobs by id: one list call, or, once the API refused the list call
        (a 4xx: a parameter it does not take), one GET per job. None: no answer."""
        if not self._per_job_status:
            try:
                listed = self.client.list(label_selector=f"{RUN_LABEL}={self.run_id}", retries=3)
            except ApiError as e:
                if e.status is None or not 400 <= e.status < 500 or e.status == 429:
                    self._last_status_error = str(e)
                    self.logger.warning(
                        f"OVHcloud status query failed, will retry: {self._redact(str(e))}"
                    )
                    return None
                self._per_job_status = True
                self.logger.warning(
                    f"OVHcloud refused the job list ({self._redact(str(e))}): following this "
                    "run's jobs with one GET /v1/job/{id} each from now on"
                )
            except ValueError as e:  # an answer that is not JSON
                self._last_status_error = str(e)
                self.logger.warning(f"OVHcloud status answer unreadable, will retry: {e}")
                return None
            else:
                mine = [j for j in listed if labels_match(j, {RUN_LABEL: self.run_id})]
                self._kill_duplicates(mine)
                return {str(j.get("id")): j for j in mine}
        found: dict[str, dict[str, Any]] = {}
        answered = False
        for ovh_id in ids:
            try:
                found[ovh_id] = self.client.get(ovh_id, retries=1)
                answered = True
            except ApiError as e:
                if e.status == 404:
                    answered = True
                    found[ovh_id] = _vanished(ovh_id)
                else:
                    self._last_status_error = str(e)
            except ValueError as e:
                self._last_status_error = str(e)
        return found if answered else None

    def _check_status_timeout(self) -> None:
        """Every round failing for --ovh-status-timeout seconds ends the run (its jobs are
        killed on the way out) instead of waiting for ever on jobs nobody can see."""
        silent = time.monotonic() - self._status_ok
        if self.status_timeout and silent > self.status_timeout:
            raise WorkflowError(
                f"no job status from OVHcloud AI Training for {silent:.0f} s "
                f"(--ovh-status-timeout {self.status_timeout:.0f}); last error: "
                f"{self._redact(self._last_status_error or '?')}. Stopping the run "
                "and killing its jobs; check the API (token, region, status.ovhcloud.com) and "
                "run again"
            )

    def _failure_message(self, ovh_id: str, ovh_job: dict[str, Any]) -> str:
        state = job_state(ovh_job)
        info = job_info_message(ovh_job)
        exit_code = (ovh_job.get("status") or {}).get("exitCode")
        msg = f"OVHcloud AI Training job {ovh_id} ended {state}"
        if exit_code is not None:
            msg += f" (exit code {exit_code})"
        if info:
            msg += f": {info}"
        msg = self._redact(msg) + ". "
        if job_timed_out(ovh_job):
            msg += (
                "It reached its timeout: raise the rule's runtime resource (minutes) "
                "or --ovh-timeout-margin / --ovh-default-timeout. "
            )
        return msg

    def _settle_logs(self, final: bool = False) -> None:
        """Logs of jobs that succeeded: fetched each round until settled, then the job deleted."""
        for ovh_id, path in list(self._settling.items()):
            if self.logs.poll(ovh_id, path, final=final):
                del self._settling[ovh_id]
                self._forget(ovh_id)

    def _settle_remaining_logs(self) -> None:
        """At the end: the last jobs' logs, polled until settled (at most twice the settle
        time), then saved as they are."""
        deadline = time.monotonic() + 2 * self.logs.settle
        while self._settling and time.monotonic() < deadline:
            self._settle_logs()
            if self._settling:
                time.sleep(min(2.0, max(self.logs.settle / 4, 0.1)))
        self._settle_logs(final=True)

    def _queued_too_long(self, job_info: SubmittedJobInfo) -> bool:
        submitted = (job_info.aux or {}).get("submitted")
        return bool(self.max_queued_seconds and submitted is not None) and (
            time.monotonic() - float(submitted) > self.max_queued_seconds
        )

    def _queued_message(self, ovh_job: dict[str, Any], job_info: SubmittedJobInfo) -> str:
        waited = time.monotonic() - float((job_info.aux or {})["submitted"])
        flavor = ((ovh_job.get("spec") or {}).get("resources") or {}).get("flavor") or "its"
        region = getattr(self.executor_settings, "region", None) or "the region"
        return (
            f"OVHcloud AI Training job {ovh_job.get('id')} was still QUEUED after {waited:.0f} s "
            f"(--ovh-max-queued-seconds {self.max_queued_seconds}) and was killed: no {flavor} "
            f"capacity free in {region}, or the project's GPU quota is used up. What to do: "
            "another flavor (rule resource gpu_model or ovh_flavor, --ovh-flavor) or region "
            "(--ovh-region), fewer concurrent jobs (--jobs), a quota increase from OVHcloud "
            "support, or a longer wait (--ovh-max-queued-seconds, 0 = no limit). "
        )

    def _kill_duplicates(self, listed: list[dict[str, Any]]) -> None:
        """Kill jobs of this run that we do not track but that do the work of one we track:
        a submission whose answer was lost (timeout) and was then submitted again."""
        with self._jobs_lock:
            tracked = {key: i for i, key in self._keys.items()}
            known = set(self._jobs)
        duplicates = []
        for ovh_job in listed:
            ovh_id = str(ovh_job.get("id"))
            labels = job_labels_of(ovh_job)
            key = (str(labels.get("snakemake-jobid")), str(labels.get("snakemake-attempt")))
            original = tracked.get(key)
            if original is None or ovh_id in known or job_state(ovh_job) in TERMINAL_STATES:
                continue
            self.logger.warning(
                f"OVHcloud AI Training job {ovh_id} duplicates job {original} (a submission "
                "whose answer was lost): killing it"
            )
            duplicates.append(ovh_id)
        self._kill(duplicates)

    def _stop_leftovers(self) -> None:
        """Kill jobs of this workflow left active by an earlier run whose snakemake died
        (SIGKILL, crash, lost machine). Killed rather than adopted: this run resubmits what it
        still needs, under its own run label, with its own code, config and inputs; a leftover
        could not be shown to compute the same thing, and its outputs are already marked
        incomplete. Jobs whose submitter may still live (another host, a running pid) are
        only reported."""
        wanted = {WORKFLOW_LABEL: self.origin[WORKFLOW_LABEL]}
        selector = f"{WORKFLOW_LABEL}={wanted[WORKFLOW_LABEL]}"
        try:
            try:
                jobs = self.client.list(label_selector=selector, states=ACTIVE_STATES, retries=2)
            except ApiError as e:
                if e.status != 400:
                    raise
                # an older API without RESTARTING in its enum refuses the state filter:
                # list them all and filter the states here
                jobs = self.client.list(label_selector=selector, retries=2)
        except (ApiError, ValueError) as e:
            self.logger.warning(
                f"could not look for jobs left by an earlier run: {self._redact(str(e))}"
            )
            return
        dead: list[str] = []
        for ovh_job in jobs:
            if not labels_match(ovh_job, wanted) or job_state(ovh_job) not in ACTIVE_STATES:
                continue  # another workflow's job, whatever the server's filter returned
            labels = job_labels_of(ovh_job)
            ovh_id, run = str(ovh_job.get("id")), labels.get(RUN_LABEL)
            if run == self.run_id:
                continue
            host, pid = labels.get(HOST_LABEL), labels.get(PID_LABEL)
            if host == self.origin[HOST_LABEL] and pid_alive(pid) is False:
                dead.append(ovh_id)
                self.logger.warning(
                    f"OVHcloud AI Training job {ovh_id} ({labels.get('snakemake-rule')}, "
                    f"{job_state(ovh_job)}) was left by run {run}, whose snakemake (pid {pid}) "
                    "is gone: killing it; this run resubmits what it still needs"
                )
            else:
                self.logger.warning(
                    f"OVHcloud AI Training job {ovh_id} of this workflow belongs to run {run} "
                    f"(host {host}, pid {pid}), which may still be running: left alone. If "
                    f"that run is gone, stop the job: ovhai job stop {ovh_id}"
                )
        self._kill(dead)

    def _lookup_missing(self, ovh_id: str) -> dict[str, Any] | None:
        """A job absent from the list answer: tolerate a few rounds, then GET it."""
        self._missing[ovh_id] = self._missing.get(ovh_id, 0) + 1
        if self._missing[ovh_id] < MISSING_ROUNDS_BEFORE_GET:
            return None
        try:
            job = self.client.get(ovh_id)
        except ApiError as e:
            if e.status == 404:
                return _vanished(ovh_id)
            return None
        self._missing.pop(ovh_id, None)
        return job

    def _forget(self, ovh_id: str) -> None:
        self._missing.pop(ovh_id, None)
        self.quota.release(ovh_id)
        if not self.executor_settings.keep_jobs:
            try:
                self.client.delete(ovh_id, retries=1)
            except ApiError as e:
                self.logger.debug(f"could not delete finished job {ovh_id}: {self._redact(str(e))}")

    def _log_file(self, job_info: SubmittedJobInfo) -> Path:
        ovh_id = str(job_info.external_jobid)
        return Path((job_info.aux or {}).get("log") or self._log_path(job_info.job, ovh_id))

    # -- cancellation ---------------------------------------------------------------------------

    def cancel_jobs(self, active_jobs: list[SubmittedJobInfo]) -> None:
        self._stopping = True
        with self._jobs_lock:
            # a SIGTERM handler may have killed (or failed to kill) them already
            done = {i for i, s in self._jobs.items() if s in ("INTERRUPTED", KILL_FAILED)}
        self._kill([str(j.external_jobid) for j in active_jobs if j.external_jobid not in done])

    def _kill(self, ids: list[str]) -> None:
        """Kill jobs in parallel (each retried): at shutdown, time is short and jobs many."""
        if ids:
            with ThreadPoolExecutor(max_workers=min(16, len(ids))) as pool:
                list(pool.map(self._kill_one, ids))

    def _kill_one(self, ovh_id: str) -> None:
        try:
            self.client.kill(ovh_id, retries=KILL_RETRIES)
        except ApiError as e:
            state = KILL_FAILED
            # the user must be able to act on it: the id, the consequence and the command
            self.logger.error(
                f"Could not kill OVHcloud AI Training job {ovh_id}: {self._redact(str(e))}. "
                f"It may still be running and billed: stop it by hand with "
                f"'ovhai job stop {ovh_id}'"
            )
        else:
            state = "INTERRUPTED"
            self.logger.info(f"Killed OVHcloud AI Training job {ovh_id}")
        with self._jobs_lock:
            self._jobs[ovh_id] = state

    def _kill_unfinished(self) -> None:
        if self._closed:
            return
        with self._jobs_lock:
            # a failed kill was already retried and reported: do not stall the exit again
            ids = [i for i, s in self._jobs.items() if s not in TERMINAL_STATES | {KILL_FAILED}]
        self._kill(ids)

    def _install_signal_handlers(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        for sig in KILL_SIGNALS:
            current = signal.getsignal(sig)
            if current not in (self._on_signal, signal.SIG_IGN):
                self._previous_handlers[sig] = current
                signal.signal(sig, self._on_signal)

    def _on_signal(self, signum: int, frame: Any) -> None:
        self._stopping = True
        self._kill_unfinished()
        previous = self._previous_handlers.get(signum)
        if signum == signal.SIGHUP and not callable(previous):
            # end a hangup as Snakemake ends SIGTERM (stop scheduling, exit once the killed jobs
            # are reported), not by an exception raised wherever the main thread happens to be
            previous = self._previous_handlers.get(signal.SIGTERM)
        if callable(previous):
            # Snakemake's own: SIGTERM exits after running jobs end, SIGINT raises
            # KeyboardInterrupt
            previous(signum, frame)
        else:
            raise SystemExit(128 + signum)

    def shutdown(self) -> None:
        super().shutdown()
        self._kill_unfinished()
        self._settle_remaining_logs()
        self._closed = True
        if threading.current_thread() is threading.main_thread():
            for sig, previous in self._previous_handlers.items():
                with contextlib.suppress(ValueError, TypeError):
                    signal.signal(sig, previous)
        self.client.close()
