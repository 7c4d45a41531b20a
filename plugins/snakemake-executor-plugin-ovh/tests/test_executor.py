"""The status round of the executor on a fake client (no Snakemake run): one list call per
round, state mapping, tolerance of API failures and of jobs missing from the list."""

from __future__ import annotations

import asyncio
import os
import threading
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from snakemake_executor_plugin_ovh.api import ApiError, TransientApiError
from snakemake_executor_plugin_ovh.executor import MISSING_ROUNDS_BEFORE_GET, Executor
from snakemake_executor_plugin_ovh.joblogs import LogCollector
from snakemake_executor_plugin_ovh.quota import GpuQuota
from snakemake_interface_executor_plugins.executors.base import SubmittedJobInfo

TOKEN = "tok-XYZ-secret"


class NullLimiter:
    async def __aenter__(self) -> None:
        return None

    async def __aexit__(self, *args: object) -> None:
        return None


class FakeClient:
    def __init__(self) -> None:
        self.jobs: dict[str, dict[str, Any]] = {}
        self.list_calls: list[str | None] = []
        self.fail_list: ApiError | None = None
        self.deleted: list[str] = []
        self.killed: list[str] = []
        self.fail_kill: ApiError | None = None
        self.retries = 0
        self.backoff = 0.01
        self.get_calls: list[str] = []
        self.logs: dict[str, list[str]] = {}  # successive answers of the log endpoint

    def list(self, *, label_selector: str | None = None, **_: Any) -> list[dict[str, Any]]:
        self.list_calls.append(label_selector)
        if self.fail_list:
            raise self.fail_list
        return [j for i, j in self.jobs.items() if not i.startswith("hidden")]

    def get(self, job_id: str, **_: Any) -> dict[str, Any]:
        self.get_calls.append(job_id)
        if job_id not in self.jobs:
            raise ApiError("not found", 404)
        return self.jobs[job_id]

    def log(self, job_id: str, **_: Any) -> str:
        answers = self.logs.get(job_id)
        if answers:
            return answers.pop(0) if len(answers) > 1 else answers[0]
        return f"log of {job_id} with {TOKEN}\n"

    def delete(self, job_id: str, **_: Any) -> None:
        self.deleted.append(job_id)

    def kill(self, job_id: str, **_: Any) -> None:
        if self.fail_kill:
            raise self.fail_kill
        self.killed.append(job_id)


class Recorder:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def info(self, msg: str) -> None:
        self.lines.append(msg)

    warning = debug = error = info


def make_executor(
    tmp_path: Path, settle: float = 0.0
) -> tuple[Executor, FakeClient, list[tuple[str, Any]]]:
    ex = Executor.__new__(Executor)  # bypass RemoteExecutor.__init__ (no workflow needed)
    client = FakeClient()
    reports: list[tuple[str, Any]] = []
    ex.client = client  # type: ignore[assignment]
    ex._token = TOKEN
    ex.run_id = "run1"
    ex.log_dir = tmp_path / "ovh-logs"
    ex._jobs = {}
    ex._keys = {}
    ex.max_queued_seconds = 3600
    ex._missing = {}
    ex._jobs_lock = threading.Lock()
    ex._closed = False
    ex.logger = Recorder()  # type: ignore[assignment]
    ex.logs = LogCollector(client, settle, ex._redact, ex.logger.warning)  # type: ignore[arg-type]
    ex._settling = {}
    ex.quota = GpuQuota(4)
    ex.status_timeout = 3600
    ex._status_ok = time.monotonic()
    ex._per_job_status = False
    ex._last_status_error = ""
    ex.executor_settings = SimpleNamespace(keep_jobs=False, region="gra")
    ex.origin = {"snakemake-workflow": "wf1", "snakemake-host": "here", "snakemake-pid": "1"}
    ex.status_rate_limiter = NullLimiter()  # type: ignore[assignment]
    ex.report_job_success = lambda info: reports.append(("ok", info))  # type: ignore[method-assign]
    ex.report_job_error = lambda info, msg=None, **kw: reports.append(("err", (info, msg, kw)))  # type: ignore[method-assign]
    return ex, client, reports


def job_info(tmp_path: Path, ovh_id: str, submitted: float | None = None) -> SubmittedJobInfo:
    job = SimpleNamespace(name="r", jobid=1, attempt=1)
    aux: dict[str, Any] = {"log": str(tmp_path / f"{ovh_id}.log")}
    if submitted is not None:
        aux["submitted"] = submitted
    return SubmittedJobInfo(job, external_jobid=ovh_id, aux=aux)  # type: ignore[arg-type]


def ovh_job(ovh_id: str, state: str, run: str = "run1", **status: Any) -> dict[str, Any]:
    return {
        "id": ovh_id,
        "status": {"state": state, **status},
        "spec": {"labels": {"snakemake-run": run}},
    }


def round_(ex: Executor, infos: list[SubmittedJobInfo]) -> list[SubmittedJobInfo]:
    async def collect() -> list[SubmittedJobInfo]:
        return [j async for j in ex.check_active_jobs(infos)]

    return asyncio.run(collect())


def test_one_list_call_per_round_and_state_mapping(tmp_path: Path) -> None:
    ex, client, reports = make_executor(tmp_path)
    client.jobs = {
        "a": ovh_job("a", "DONE", exitCode=0),
        "b": ovh_job("b", "FAILED", exitCode=1, info={"message": "Job failed with code 1"}),
        "c": ovh_job("c", "RUNNING"),
        "d": ovh_job("d", "SOME_FUTURE_STATE"),
        "e": ovh_job("e", "SYNC_FAILED", info={"message": f"sync broke {TOKEN}"}),
    }
    infos = [job_info(tmp_path, i) for i in "abcde"]
    still = round_(ex, infos)
    assert client.list_calls == ["snakemake-run=run1"]
    assert [j.external_jobid for j in still] == ["c", "d"]
    kinds = {r[1].external_jobid if r[0] == "ok" else r[1][0].external_jobid: r for r in reports}
    assert kinds["a"][0] == "ok"
    _, msg, kw = kinds["b"][1]
    assert "ended FAILED (exit code 1): Job failed with code 1" in msg
    assert kw["aux_logs"] == [str(tmp_path / "b.log")]
    saved = (tmp_path / "b.log").read_text()
    assert "log of b" in saved and TOKEN not in saved  # logs are saved redacted
    assert TOKEN not in kinds["e"][1][1]
    assert sorted(client.deleted) == ["b", "e"]  # failed: deleted once their log settled
    round_(ex, [infos[2]])  # a success's log settles in a later round, then its job is deleted
    assert sorted(client.deleted) == ["a", "b", "e"]


def test_failed_status_query_keeps_every_job_active(tmp_path: Path) -> None:
    ex, client, reports = make_executor(tmp_path)
    client.fail_list = TransientApiError("GET /v1/job: HTTP 503")
    infos = [job_info(tmp_path, "a"), job_info(tmp_path, "b")]
    assert round_(ex, infos) == infos
    assert reports == []


def test_job_missing_from_the_list_is_looked_up_then_failed_if_gone(tmp_path: Path) -> None:
    ex, client, reports = make_executor(tmp_path)
    client.jobs = {"hidden-done": ovh_job("hidden-done", "DONE")}
    infos = [job_info(tmp_path, "hidden-done"), job_info(tmp_path, "gone")]
    for _ in range(MISSING_ROUNDS_BEFORE_GET - 1):
        assert len(round_(ex, infos)) == 2
    assert round_(ex, infos) == []
    outcomes = sorted((r[0], (r[1] if r[0] == "ok" else r[1][0]).external_jobid) for r in reports)
    assert outcomes == [("err", "gone"), ("ok", "hidden-done")]


def test_exit_handler_kills_only_unfinished_jobs(tmp_path: Path) -> None:
    ex, client, _ = make_executor(tmp_path)
    ex._jobs = {"a": "RUNNING", "b": "DONE", "c": "QUEUED"}
    ex._kill_unfinished()
    assert sorted(client.killed) == ["a", "c"]
    ex._kill_unfinished()  # idempotent: killed jobs are marked INTERRUPTED
    assert sorted(client.killed) == ["a", "c"]


def test_a_kill_that_keeps_failing_names_the_job_and_the_command(tmp_path: Path) -> None:
    ex, client, _ = make_executor(tmp_path)
    ex._jobs = {"a": "RUNNING", "b": "QUEUED"}
    client.fail_kill = TransientApiError(f"PUT /v1/job/a/kill: HTTP 503 {TOKEN} (gave up)")
    ex._kill_unfinished()
    errors = [line for line in ex.logger.lines if line.startswith("Could not kill")]  # type: ignore[attr-defined]
    assert len(errors) == 2 and all(TOKEN not in line for line in errors)
    assert any("job a:" in line and "'ovhai job stop a'" in line for line in errors)
    assert "billed" in errors[0]
    ex._kill_unfinished()  # at exit: reported once, not retried for another minute
    assert len([x for x in ex.logger.lines if x.startswith("Could not kill")]) == 2  # type: ignore[attr-defined]


def test_job_queued_beyond_the_limit_is_killed_and_failed_with_advice(tmp_path: Path) -> None:
    ex, client, reports = make_executor(tmp_path)
    ex.max_queued_seconds = 60
    queued = ovh_job("q", "QUEUED")
    queued["spec"]["resources"] = {"flavor": "h100-1-gpu"}
    client.jobs = {"q": queued, "fresh": ovh_job("fresh", "QUEUED")}
    old = time.monotonic() - 61
    infos = [job_info(tmp_path, "q", submitted=old), job_info(tmp_path, "fresh", time.monotonic())]
    assert [j.external_jobid for j in round_(ex, infos)] == ["fresh"]
    assert client.killed == ["q"]
    ((kind, (info, msg, _)),) = reports
    assert kind == "err" and info.external_jobid == "q"
    assert "still QUEUED after 61 s" in msg and "no h100-1-gpu capacity free in gra" in msg
    assert "--ovh-region" in msg and "quota" in msg
    ex.max_queued_seconds = 0  # 0: no limit
    assert round_(ex, [job_info(tmp_path, "q", submitted=old - 1e6)]) != []


def test_duplicate_of_a_tracked_job_is_killed(tmp_path: Path) -> None:
    ex, client, _ = make_executor(tmp_path)
    labels = {"snakemake-run": "run1", "snakemake-jobid": "7", "snakemake-attempt": "1"}
    for i, state in (("mine", "RUNNING"), ("dup", "RUNNING"), ("old", "DONE")):
        client.jobs[i] = {**ovh_job(i, state), "spec": {"labels": dict(labels)}}
    client.jobs["other"] = {
        **ovh_job("other", "RUNNING"),
        "spec": {
            "labels": {"snakemake-run": "run1", "snakemake-jobid": "8", "snakemake-attempt": "1"}
        },
    }
    ex._jobs = {"mine": "RUNNING"}
    ex._keys = {"mine": ("7", "1")}
    round_(ex, [job_info(tmp_path, "mine")])
    # not a job we track, not terminal, same jobid and attempt as one we track
    assert client.killed == ["dup"]


def test_jobs_left_by_a_dead_run_are_killed_others_only_reported(tmp_path: Path) -> None:
    ex, client, _ = make_executor(tmp_path)
    dead_pid = str(2**22 + 12345)  # above pid_max on most systems: no such process

    def left(i: str, run: str, host: str, pid: str) -> dict[str, Any]:
        labels = {
            "snakemake-run": run,
            "snakemake-host": host,
            "snakemake-pid": pid,
            "snakemake-rule": "train",
            "snakemake-workflow": "wf1",
        }
        return {**ovh_job(i, "RUNNING"), "spec": {"labels": labels}}

    client.jobs = {
        "dead": left("dead", "old", "here", dead_pid),
        "alive": left("alive", "old2", "here", str(os.getpid())),
        "remote": left("remote", "old3", "elsewhere", dead_pid),
        "ours": left("ours", "run1", "here", dead_pid),
    }
    ex._stop_leftovers()
    assert client.killed == ["dead"]
    text = "\n".join(ex.logger.lines)  # type: ignore[attr-defined]
    assert "job dead (train, RUNNING) was left by run old" in text
    assert "ovhai job stop alive" in text and "ovhai job stop remote" in text
    assert "ours" not in text


def test_a_refused_list_call_falls_back_to_one_get_per_job(tmp_path: Path) -> None:
    ex, client, reports = make_executor(tmp_path)
    client.jobs = {"a": ovh_job("a", "DONE"), "b": ovh_job("b", "RUNNING")}
    client.fail_list = ApiError("GET /v1/job: HTTP 400: unknown parameter", 400)
    infos = [job_info(tmp_path, "a"), job_info(tmp_path, "b")]
    assert [j.external_jobid for j in round_(ex, infos)] == ["b"]
    assert [r[0] for r in reports] == ["ok"] and client.get_calls == ["a", "b"]
    assert len(client.list_calls) == 1
    round_(ex, [infos[1]])  # the list is not asked again
    assert len(client.list_calls) == 1 and client.get_calls[-1] == "b"


def test_status_rounds_failing_past_the_limit_end_the_run(tmp_path: Path) -> None:
    import pytest
    from snakemake_interface_common.exceptions import WorkflowError

    ex, client, _ = make_executor(tmp_path)
    client.fail_list = TransientApiError(f"GET /v1/job: HTTP 503 {TOKEN} (gave up)")
    infos = [job_info(tmp_path, "a")]
    assert round_(ex, infos) == infos  # within the limit: kept active
    ex.status_timeout = 5
    ex._status_ok = time.monotonic() - 6
    with pytest.raises(WorkflowError, match=r"no job status .* for \d+ s") as caught:
        round_(ex, infos)
    assert TOKEN not in str(caught.value) and "\n" not in str(caught.value)


def test_a_failed_jobs_error_waits_for_its_log_to_settle(tmp_path: Path) -> None:
    ex, client, reports = make_executor(tmp_path, settle=0.3)
    client.jobs = {"f": ovh_job("f", "FAILED", exitCode=1)}
    client.logs = {"f": ["[job] start\n", "[job] start\n[job] Traceback\n"]}
    infos = [job_info(tmp_path, "f")]
    assert round_(ex, infos) == infos and reports == []
    assert round_(ex, infos) == infos  # the log grew: wait again
    time.sleep(0.35)
    assert round_(ex, infos) == []
    ((kind, (_, _, kw)),) = reports
    assert kind == "err" and "Traceback" in Path(kw["aux_logs"][0]).read_text()
    assert client.deleted == ["f"]


def test_foreign_jobs_matching_some_labels_are_never_killed_or_adopted(tmp_path: Path) -> None:
    """A server that applies only part of a selector (or none) returns other runs' jobs."""
    ex, client, _ = make_executor(tmp_path)
    dead_pid = str(2**22 + 12345)

    def job(i: str, **labels: str) -> dict[str, Any]:
        base = {"snakemake-host": "here", "snakemake-pid": dead_pid, "snakemake-run": "old"}
        return {**ovh_job(i, "RUNNING"), "spec": {"labels": {**base, **labels}}}

    client.jobs = {
        "mine-left": job("mine-left", **{"snakemake-workflow": "wf1"}),
        "other-wf": job("other-wf", **{"snakemake-workflow": "wf2"}),
        "no-wf": job("no-wf"),
        # same jobid and attempt as one this run tracks, but another run's
        "other-run": job("other-run", **{"snakemake-jobid": "7", "snakemake-attempt": "1"}),
    }
    ex._stop_leftovers()
    assert client.killed == ["mine-left"]
    ex._jobs, ex._keys = {"ours": "RUNNING"}, {"ours": ("7", "1")}
    client.jobs["ours"] = {
        **ovh_job("ours", "RUNNING"),
        "spec": {"labels": {"snakemake-run": "run1", "snakemake-jobid": "7"}},
    }
    round_(ex, [job_info(tmp_path, "ours")])
    assert client.killed == ["mine-left"]  # other-run is no duplicate of ours


def test_the_job_image_is_the_rules_container_else_the_default(tmp_path: Path) -> None:
    import pytest
    from snakemake_executor_plugin_ovh.spec import SpecOptions
    from snakemake_interface_common.exceptions import WorkflowError

    ex, _, _ = make_executor(tmp_path)
    ex.options = SpecOptions(image="default/image:1")

    def job(url: str | None, **resources: str) -> Any:
        return SimpleNamespace(name="r", container_img_url=url, resources=resources)

    assert ex._image(job("docker://registry.example/na:23.04")) == "registry.example/na:23.04"
    assert ex._image(job(None)) == "default/image:1"
    with pytest.raises(WorkflowError, match="container: directive"):
        ex._image(job(None, ovh_image="old/way:1"))
