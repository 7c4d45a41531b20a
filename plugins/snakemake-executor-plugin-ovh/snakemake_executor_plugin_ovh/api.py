"""Typed REST client for the regional OVHcloud AI Training API (``/v1/job...``).

Transient failures (network errors, HTTP 429 and 5xx) are retried with exponential back-off
and jitter, honouring ``Retry-After``. The token lives only in the session headers: it is
never part of a URL, a log record, an exception message or ``repr()``.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypedDict

import httpx

log = logging.getLogger(__name__)

Job = dict[str, Any]

SUCCESS_STATES = frozenset({"DONE"})
FAILURE_STATES = frozenset({"FAILED", "ERROR", "INTERRUPTED", "SYNC_FAILED"})
TERMINAL_STATES = SUCCESS_STATES | FAILURE_STATES


class EnvVar(TypedDict):
    name: str
    value: str


class ApiError(Exception):
    """A definitive (non-retryable, or retries exhausted) API failure."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class TransientApiError(ApiError):
    """Retries exhausted on 429/5xx/network errors: the API may come back later."""


def _is_transient_status(status: int) -> bool:
    return status == 429 or 500 <= status <= 599


def _error_message(response: httpx.Response) -> str:
    try:
        body = response.json()
        if isinstance(body, dict) and body.get("message"):
            return str(body["message"])
    except ValueError:
        pass
    return response.text[:300].strip() or response.reason_phrase


class OvhAiClient:
    """Minimal client for the job endpoints the executor needs."""

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        timeout: float = 60.0,
        retries: int = 8,
        backoff: float = 1.0,
        max_backoff: float = 60.0,
        sleep: Callable[[float], None] = time.sleep,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.retries = retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self._sleep = sleep
        self._http = httpx.Client(
            base_url=self.base_url,
            headers={
                "Authorization": f"Bearer {token}",
                "Accept": "application/json",
                "User-Agent": "snakemake-executor-plugin-ovh",
            },
            timeout=timeout,
            transport=transport,
        )

    def __repr__(self) -> str:
        return f"OvhAiClient({self.base_url!r})"

    def close(self) -> None:
        self._http.close()

    # -- transport ---------------------------------------------------------------------------

    def _delay(self, attempt: int, response: httpx.Response | None) -> float:
        if response is not None:
            retry_after = response.headers.get("Retry-After")
            if retry_after:
                try:
                    return min(float(retry_after), self.max_backoff)
                except ValueError:
                    pass
        base = min(self.backoff * 2**attempt, self.max_backoff)
        return base * (0.5 + random.random() / 2)

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | list[tuple[str, Any]] | None = None,
        json: Any = None,
        retries: int | None = None,
        ok: Iterable[int] = (200, 201, 204),
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """Send one request, retrying transient failures; raise ApiError otherwise."""
        retries = self.retries if retries is None else retries
        ok = set(ok)
        last: str = ""
        for attempt in range(retries + 1):
            response: httpx.Response | None = None
            try:
                response = self._http.request(
                    method, path, params=params, json=json, headers=headers
                )
            except httpx.TransportError as e:
                last = f"{method} {path}: network error: {type(e).__name__}"
            else:
                if response.status_code in ok:
                    return response
                message = (
                    f"{method} {path}: HTTP {response.status_code}: {_error_message(response)}"
                )
                if not _is_transient_status(response.status_code):
                    raise ApiError(message, response.status_code)
                last = message
            if attempt < retries:
                delay = self._delay(attempt, response)
                log.warning("%s; retry %d/%d in %.1f s", last, attempt + 1, retries, delay)
                self._sleep(delay)
        raise TransientApiError(f"{last} (gave up after {retries} retries)")

    # -- endpoints ---------------------------------------------------------------------------

    def submit(self, spec: Mapping[str, Any], *, retries: int | None = None) -> Job:
        return self.request("POST", "/v1/job", json=dict(spec), retries=retries).json()

    def get(self, job_id: str, *, retries: int | None = None) -> Job:
        return self.request("GET", f"/v1/job/{job_id}", retries=retries).json()

    def me(self, *, retries: int | None = None) -> dict[str, Any]:
        """Who the token is (``tokenKind``, ``role``...): the cheapest check of token + region."""
        return self.request("GET", "/v1/me", retries=retries).json()

    def flavors(self, *, retries: int | None = None) -> list[dict[str, Any]]:
        """``GET /v1/capabilities/flavor``: the flavors this region offers."""
        body = self.request("GET", "/v1/capabilities/flavor", retries=retries).json()
        return list(body.get("items") or []) if isinstance(body, dict) else list(body)

    def list(
        self,
        *,
        label_selector: str | None = None,
        states: Iterable[str] = (),
        page_size: int = 100,
        retries: int | None = None,
    ) -> list[Job]:
        """All jobs matching the selector, following pages (tolerates a bare JSON array)."""
        jobs: list[Job] = []
        page = 1
        while True:
            params: list[tuple[str, Any]] = [("page", page), ("size", page_size)]
            if label_selector:
                params.append(("labelSelector", label_selector))
            params.extend(("statusState", s) for s in states)
            body = self.request("GET", "/v1/job", params=params, retries=retries).json()
            if isinstance(body, list):
                return jobs + body
            items = body.get("items") or []
            jobs.extend(items)
            meta = body.get("metadata") or {}
            page_count = int(meta.get("pageCount") or 1)
            if page >= page_count or not items:
                return jobs
            page += 1

    def kill(self, job_id: str, *, retries: int | None = None) -> None:
        # 400/404: already finished or gone, which is what we want.
        self.request("PUT", f"/v1/job/{job_id}/kill", retries=retries, ok=(200, 204, 400, 404))

    def delete(self, job_id: str, *, force: bool = False, retries: int | None = None) -> None:
        params = {"force": "true"} if force else None
        self.request(
            "DELETE", f"/v1/job/{job_id}", params=params, retries=retries, ok=(200, 204, 404)
        )

    def log(self, job_id: str, *, tail: int | None = None, retries: int | None = None) -> str:
        # the log is plain text (no response schema); asking for JSON may be refused
        params = {"tail": tail} if tail else None
        return self.request(
            "GET",
            f"/v1/job/{job_id}/log",
            params=params,
            retries=retries,
            headers={"Accept": "text/plain, */*"},
        ).text


def job_state(job: Job) -> str:
    return str((job.get("status") or {}).get("state") or "UNKNOWN")


def job_labels_of(job: Job) -> dict[str, str]:
    return (job.get("spec") or {}).get("labels") or {}


def job_timed_out(job: Job) -> bool:
    status = job.get("status") or {}
    history = status.get("history") or []
    return (status.get("info") or {}).get("code") == "JOB_TIMEOUT" or any(
        h.get("state") == "TIMEOUT" for h in history if isinstance(h, dict)
    )


def job_info_message(job: Job) -> str:
    status = job.get("status") or {}
    info = status.get("info")
    if isinstance(info, dict) and info.get("message"):
        return str(info["message"])
    if status.get("infos"):  # legacy field name
        return str(status["infos"])
    return ""
