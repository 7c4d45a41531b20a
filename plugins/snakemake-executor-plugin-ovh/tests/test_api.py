"""The REST client: retries with back-off on 429/5xx/network errors, paging, no token leaks."""

from __future__ import annotations

import httpx
import pytest
from snakemake_executor_plugin_ovh.api import ApiError, OvhAiClient, TransientApiError

TOKEN = "tok-SECRET-123"


def client_with(handler, retries: int = 4) -> tuple[OvhAiClient, list[float]]:
    sleeps: list[float] = []
    client = OvhAiClient(
        "http://api.test",
        TOKEN,
        retries=retries,
        backoff=0.5,
        sleep=sleeps.append,
        transport=httpx.MockTransport(handler),
    )
    return client, sleeps


def test_retries_429_5xx_and_network_errors_then_succeeds() -> None:
    answers = iter([429, 500, "network", 503, 200])
    seen_auth = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen_auth.append(request.headers["Authorization"])
        answer = next(answers)
        if answer == "network":
            raise httpx.ConnectError("boom", request=request)
        if answer == 200:
            return httpx.Response(200, json={"id": "j1", "status": {"state": "QUEUED"}})
        return httpx.Response(answer, json={"message": "busy"})

    client, sleeps = client_with(handler)
    assert client.submit({"image": "x"})["id"] == "j1"
    assert len(sleeps) == 4
    # exponential back-off with jitter in [base/2, base]
    for i, delay in enumerate(sleeps):
        assert 0.5 * 2**i / 2 <= delay <= 0.5 * 2**i
    assert set(seen_auth) == {f"Bearer {TOKEN}"}


def test_retry_after_header_is_honoured() -> None:
    answers = iter([httpx.Response(429, headers={"Retry-After": "7"}), httpx.Response(204)])
    client, sleeps = client_with(lambda request: next(answers))
    client.kill("j1")
    assert sleeps == [7.0]


def test_client_errors_are_not_retried_and_never_show_the_token() -> None:
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(402, json={"message": "payment required"})

    client, sleeps = client_with(handler)
    with pytest.raises(ApiError) as info:
        client.submit({"image": "x"})
    assert info.value.status == 402 and "payment required" in str(info.value)
    assert len(calls) == 1 and sleeps == []
    assert TOKEN not in str(info.value) and TOKEN not in repr(client)


def test_gives_up_after_retries_with_a_transient_error() -> None:
    client, sleeps = client_with(lambda request: httpx.Response(502, text="bad gateway"), retries=2)
    with pytest.raises(TransientApiError) as info:
        client.get("j1")
    assert "502" in str(info.value) and len(sleeps) == 2
    assert TOKEN not in str(info.value)


def test_list_follows_pages_and_sends_the_selector() -> None:
    queries = []

    def handler(request: httpx.Request) -> httpx.Response:
        queries.append(dict(request.url.params))
        page = int(request.url.params["page"])
        items = [{"id": f"j{page}"}]
        return httpx.Response(200, json={"items": items, "metadata": {"pageCount": 3}})

    client, _ = client_with(handler)
    jobs = client.list(label_selector="snakemake-run=r1")
    assert [j["id"] for j in jobs] == ["j1", "j2", "j3"]
    assert all(q["labelSelector"] == "snakemake-run=r1" for q in queries)


def test_list_accepts_a_bare_array() -> None:
    client, _ = client_with(lambda request: httpx.Response(200, json=[{"id": "a"}]))
    assert client.list() == [{"id": "a"}]


def test_kill_and_delete_accept_already_finished_jobs() -> None:
    statuses = iter([404, 400, 404])
    client, _ = client_with(lambda request: httpx.Response(next(statuses)))
    client.kill("gone")
    client.kill("finished")
    client.delete("gone")
