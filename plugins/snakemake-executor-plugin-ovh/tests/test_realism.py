"""The emulator's real-service behaviours (emulator/realism.py), each on and switched off."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from .conftest import Emulator
from .test_emulator import submit, wait_terminal


@pytest.fixture
def api(emulator: Emulator) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=emulator.url, headers={"Authorization": f"Bearer {emulator.token}"}, timeout=30
    ) as client:
        yield client


def test_a_token_works_only_in_its_own_region(emulator: Emulator) -> None:
    emulator.faults(realism={"tokens": {"tok-gra-2": "gra", "tok-bhs": "bhs"}})
    for token, status in (("tok-gra-2", 200), ("tok-bhs", 401), (emulator.token, 200)):
        r = httpx.get(f"{emulator.url}/v1/me", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == status, token
    emulator.faults(realism={"region": "bhs"})  # the same emulator as the BHS API
    r = httpx.get(f"{emulator.url}/v1/me", headers={"Authorization": "Bearer tok-bhs"})
    assert r.status_code == 200


def test_gpu_quota_counts_queued_jobs_and_refuses_beyond(
    emulator: Emulator, api: httpx.Client
) -> None:
    emulator.faults(job_faults=[{"match": {"q": "1"}, "outcome": "STUCK_QUEUED"}])
    gpu = {"flavor": "ai1-1-gpu", "gpu": 2}
    held = [submit(api, "true", labels={"q": "1"}, resources=gpu) for _ in range(2)]
    assert all(j["status"]["state"] == "QUEUED" for j in held)
    refused = api.post("/v1/job", json={"image": "x", "resources": {"gpu": 1}})
    assert refused.status_code == 403 and "quota" in refused.json()["message"].lower()
    # CPU jobs do not count
    assert api.post("/v1/job", json={"image": "x", "resources": {"cpu": 1}}).status_code == 200
    api.put(f"/v1/job/{held[0]['id']}/kill")
    wait_terminal(emulator, api, held[0]["id"])
    assert api.post("/v1/job", json={"image": "x", "resources": {"gpu": 1}}).status_code == 200
    api.put(f"/v1/job/{held[1]['id']}/kill")
    emulator.faults(realism={"gpu_quota": 0})
    assert api.post("/v1/job", json={"image": "x", "resources": {"gpu": 4}}).status_code == 200


def test_pages_are_capped_at_100(emulator: Emulator, api: httpx.Client) -> None:
    emulator.faults(commands=[{"match": {"p": "1"}, "argv": ["/bin/true"]}])
    for _ in range(101):
        submit(api, "true", labels={"p": "1"}, resources={"cpu": 1})
    r = api.get("/v1/job", params={"labelSelector": "p=1", "size": 500}).json()
    assert len(r["items"]) == 100 and r["metadata"]["pageCount"] == 2
    assert r["metadata"]["total"] == 101


def test_unknown_list_parameters_and_states_are_refused_unless_lenient(
    emulator: Emulator, api: httpx.Client
) -> None:
    assert api.get("/v1/job", params={"state": "RUNNING"}).status_code == 400
    assert api.get("/v1/job", params={"statusState": "STOPPED"}).status_code == 400
    assert api.get("/v1/job", params={"statusState": "RESTARTING"}).status_code == 200
    emulator.faults(realism={"legacy_states": True})
    assert api.get("/v1/job", params={"statusState": "RESTARTING"}).status_code == 400
    emulator.faults(realism={"strict_params": False})
    assert api.get("/v1/job", params={"state": "RUNNING"}).status_code == 200
    emulator.faults(realism={"list_status": 400})
    assert api.get("/v1/job").status_code == 400


@pytest.mark.parametrize(("mode", "expected"), [("and", 1), ("or", 3), ("ignore", 4)])
def test_selector_modes(emulator: Emulator, api: httpx.Client, mode: str, expected: int) -> None:
    tag = f"sel-{mode}"
    for labels in ({"a": "1", "b": "1"}, {"a": "1", "b": "2"}, {"a": "2", "b": "1"}, {}):
        submit(api, "true", labels={**labels, "t": tag}, resources={"cpu": 1})
    emulator.faults(realism={"selector": mode})
    items, page, pages = [], 1, 1
    while page <= pages:
        params = {"labelSelector": "a=1,b=1", "page": page, "size": 100}
        body = api.get("/v1/job", params=params).json()
        items += body["items"]
        page, pages = page + 1, body["metadata"]["pageCount"]
    assert len([j for j in items if j["spec"]["labels"].get("t") == tag]) == expected


def test_log_lines_arrive_late_with_their_prefixes(emulator: Emulator, api: httpx.Client) -> None:
    emulator.faults(realism={"log_lag": 1.5})
    job = wait_terminal(emulator, api, submit(api, "echo one; echo two")["id"])
    early = api.get(f"/v1/job/{job['id']}/log").text
    time.sleep(1.6)
    late: Any = api.get(f"/v1/job/{job['id']}/log").text
    assert "[job] two" not in early  # written before DONE, not served yet
    lines = late.splitlines()
    assert lines[lines.index("[job] one") + 1] == "[job] two"
    assert lines[-1] == "[ovh] Job is done" and lines[0].startswith("[ovh] ")
