"""The emulator on its own: auth, validation, Job JSON, state machine, selectors, logs, env."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from .conftest import Emulator


@pytest.fixture
def api(emulator: Emulator) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=emulator.url, headers={"Authorization": f"Bearer {emulator.token}"}, timeout=30
    ) as client:
        yield client


def submit(api: httpx.Client, command: str, **extra: Any) -> dict[str, Any]:
    spec = {"image": "stock:1", "command": ["/bin/sh", "-c", command], **extra}
    r = api.post("/v1/job", json=spec)
    assert r.status_code == 200, r.text
    return r.json()


def wait_terminal(emulator: Emulator, api: httpx.Client, job_id: str) -> dict[str, Any]:
    terminal = {"DONE", "FAILED", "ERROR", "INTERRUPTED", "SYNC_FAILED"}
    return emulator.wait_for(
        lambda: (j := api.get(f"/v1/job/{job_id}").json())["status"]["state"] in terminal and j,
        timeout=60,
    )


def job_output(api: httpx.Client, job_id: str) -> str:
    """The job's own lines of its log (``[job]`` prefix), without the platform's (``[ovh]``)."""
    text = api.get(f"/v1/job/{job_id}/log").text
    return "".join(line[6:] for line in text.splitlines(keepends=True) if line.startswith("[job] "))


def states(job: dict[str, Any]) -> list[str]:
    return [h["state"] for h in job["status"]["history"]]


def test_bearer_auth_is_required(emulator: Emulator) -> None:
    assert httpx.get(f"{emulator.url}/v1/job").status_code == 401
    bad = httpx.get(f"{emulator.url}/v1/job", headers={"Authorization": "Bearer nope"})
    assert bad.status_code == 401 and emulator.token not in bad.text


def test_invalid_specs_are_rejected(api: httpx.Client) -> None:
    assert api.post("/v1/job", json={"command": ["true"]}).status_code == 400
    assert (
        api.post("/v1/job", json={"image": "x", "resources": {"flavor": "nope"}}).status_code == 400
    )
    assert api.post("/v1/job", json={"image": "x", "resources": {"gpu": 9}}).status_code == 400
    vol = {"mountPath": "data", "permission": "RW", "dataStore": {"alias": "a", "container": "c"}}
    assert api.post("/v1/job", json={"image": "x", "volumes": [vol]}).status_code == 400


def test_done_job_json_and_history(emulator: Emulator, api: httpx.Client) -> None:
    job = submit(api, "echo hello", labels={"a": "1"}, resources={"flavor": "h100-1-gpu", "gpu": 2})
    assert job["status"]["state"] == "QUEUED"
    assert job["spec"]["labels"]["ovh/id"] == job["id"]
    assert job["spec"]["timeout"] == 604800 and job["spec"]["name"]
    assert job["spec"]["resources"]["cpu"] == 56 and job["spec"]["resources"]["gpuModel"] == "H100"
    done = wait_terminal(emulator, api, job["id"])
    assert states(done) == ["QUEUED", "INITIALIZING", "PENDING", "RUNNING", "FINALIZING", "DONE"]
    assert done["status"]["exitCode"] == 0 and done["status"]["finalizedAt"]
    assert job_output(api, job["id"]) == "hello\n"


def test_failed_job_has_exit_code_and_message(emulator: Emulator, api: httpx.Client) -> None:
    job = wait_terminal(emulator, api, submit(api, "echo out; echo err >&2; exit 4")["id"])
    assert job["status"]["state"] == "FAILED" and job["status"]["exitCode"] == 4
    assert job["status"]["info"]["message"] == "Job failed with code 4"
    assert job_output(api, job["id"]).splitlines() == ["out", "err"]
    last = api.get(f"/v1/job/{job['id']}/log", params={"tail": 1}).text
    assert last == "[ovh] Job failed with code 4\n"  # the platform's lines come last


def test_kill_interrupts_a_running_job(emulator: Emulator, api: httpx.Client) -> None:
    job = submit(api, "echo up; sleep 300")
    emulator.wait_for(
        lambda: api.get(f"/v1/job/{job['id']}").json()["status"]["state"] == "RUNNING"
    )
    assert api.put(f"/v1/job/{job['id']}/kill").status_code == 204
    done = wait_terminal(emulator, api, job["id"])
    assert states(done)[-3:] == ["INTERRUPTING", "FINALIZING", "INTERRUPTED"]


def test_timeout(emulator: Emulator, api: httpx.Client) -> None:
    job = wait_terminal(emulator, api, submit(api, "sleep 60", timeout=1)["id"])
    assert states(job)[-3:] == ["TIMEOUT", "FINALIZING", "INTERRUPTED"]


def test_job_sees_only_its_env_in_a_fresh_empty_dir(emulator: Emulator, api: httpx.Client) -> None:
    # the emulator process has SNAKEMAKE_OVH_TOKEN in its env: jobs must not inherit it
    job = submit(
        api,
        "ls -A; pwd; env | sort",
        envVars=[{"name": "ONLY_ME", "value": "1"}],
    )
    wait_terminal(emulator, api, job["id"])
    log = api.get(f"/v1/job/{job['id']}/log").text
    lines = job_output(api, job["id"]).splitlines()
    assert lines[0] == str(emulator.workdir / job["id"])  # `ls -A` printed nothing: empty
    assert "ONLY_ME=1" in lines
    assert emulator.token not in log and "SNAKEMAKE_OVH_TOKEN" not in log
    assert {line.split("=")[0] for line in lines[1:]} <= {
        "ONLY_ME", "PATH", "HOME", "LANG", "JOB_ID", "PWD", "SHLVL", "_",
    }  # fmt: skip
    assert os.environ.get("HOME") not in lines


def test_label_selector_state_filter_and_paging(emulator: Emulator, api: httpx.Client) -> None:
    ids = [submit(api, "true", labels={"sel": "x", "n": str(i)})["id"] for i in range(3)]
    submit(api, "true", labels={"sel": "y"})
    for i in ids:
        wait_terminal(emulator, api, i)
    r = api.get("/v1/job", params={"labelSelector": "sel=x", "size": 2, "page": 1}).json()
    assert r["metadata"]["total"] == 3 and r["metadata"]["pageCount"] == 2 and len(r["items"]) == 2
    r2 = api.get("/v1/job", params={"labelSelector": "sel=x,n=1"}).json()
    assert [j["id"] for j in r2["items"]] == [ids[1]]
    r3 = api.get("/v1/job", params={"labelSelector": "sel=x", "statusState": "RUNNING"}).json()
    assert r3["items"] == []
    assert api.delete(f"/v1/job/{ids[0]}").status_code == 204
    assert api.get(f"/v1/job/{ids[0]}").status_code == 404


def test_fault_injection(emulator: Emulator, api: httpx.Client) -> None:
    emulator.faults(
        errors={"submit": [500, 429]},
        job_faults=[{"match": {"f": "e"}, "outcome": "ERROR", "count": 1}],
    )
    assert api.post("/v1/job", json={"image": "x"}).status_code == 500
    assert api.post("/v1/job", json={"image": "x"}).status_code == 429
    errored = wait_terminal(emulator, api, submit(api, "true", labels={"f": "e"})["id"])
    assert errored["status"]["state"] == "ERROR"
    ok = wait_terminal(emulator, api, submit(api, "true", labels={"f": "e"})["id"])
    assert ok["status"]["state"] == "DONE"  # count exhausted
    emulator.faults(job_faults=[{"match": {"f": "q"}, "outcome": "STUCK_QUEUED"}])
    stuck = submit(api, "true", labels={"f": "q"})
    assert emulator.jobs(f="q")[0]["status"]["state"] == "QUEUED"
    api.put(f"/v1/job/{stuck['id']}/kill")
    assert wait_terminal(emulator, api, stuck["id"])["status"]["state"] == "INTERRUPTED"


def test_errors_and_slow_answers_on_every_endpoint(emulator: Emulator, api: httpx.Client) -> None:
    job = wait_terminal(emulator, api, submit(api, "echo hi")["id"])
    path = f"/v1/job/{job['id']}"
    emulator.faults(
        errors={"log": [500, 502], "kill": [503], "get": [429], "list": [500], "delete": [502]},
    )
    assert api.get(f"{path}/log").status_code == 500
    assert api.get(f"{path}/log").status_code == 502
    assert api.put(f"{path}/kill").status_code == 503
    assert api.get(path).status_code == 429
    assert api.get("/v1/job").status_code == 500
    assert api.delete(path).status_code == 502
    # each queue is consumed per request on its own: an entry in both is a slow error
    emulator.faults(slow={"log": [1.0]})
    with pytest.raises(httpx.ReadTimeout):  # slower than the client waits
        api.get(f"{path}/log", timeout=0.3)
    assert job_output(api, job["id"]) == "hi\n"  # queues consumed: normal answers again
    stats = emulator.stats()
    assert stats["calls"] == {"submit": 1, "get": 3, "log": 4, "kill": 1, "list": 1, "delete": 1}
    assert [s["id"] for s in stats["submitted"]] == [job["id"]]
    with pytest.raises(httpx.HTTPStatusError):
        emulator.faults(errors={"nope": [500]})


@pytest.mark.parametrize(
    ("outcome", "tail", "code", "message"),
    [
        ("INTERRUPTED", ["INTERRUPTING", "FINALIZING", "INTERRUPTED"],
         "JOB_INTERRUPTED_BY_PLATFORM", "Job was interrupted by the platform"),
        ("TIMEOUT", ["TIMEOUT", "FINALIZING", "INTERRUPTED"], "JOB_TIMEOUT", "Job timed out"),
    ],
)  # fmt: skip
def test_platform_interruption_and_timeout_outcomes(
    emulator: Emulator, api: httpx.Client, outcome: str, tail: list[str], code: str, message: str
) -> None:
    emulator.faults(job_faults=[{"match": {"f": outcome}, "outcome": outcome, "after": 0.3}])
    job = wait_terminal(
        emulator, api, submit(api, "echo up; sleep 60", labels={"f": outcome})["id"]
    )
    assert states(job)[-3:] == tail
    assert job["status"]["info"] == {"code": code, "message": message}
    assert job_output(api, job["id"]) == "up\n"  # it did run


def test_command_replacement_sees_the_original_command(
    emulator: Emulator, api: httpx.Client
) -> None:
    emulator.faults(
        commands=[
            {"match": {"f": "fast"}, "argv": ["/bin/sh", "-c", 'echo "$EMULATOR_JOB_COMMAND"']}
        ]
    )
    job = wait_terminal(emulator, api, submit(api, "echo slow", labels={"f": "fast"})["id"])
    assert job["status"]["state"] == "DONE"
    assert job_output(api, job["id"]) == "echo slow\n"
