"""HTTP front of the emulator: the ``/v1`` subset the plugin uses, bearer auth, fault control.

Routes (JSON unless noted):
  POST   /v1/job                  JobSpec -> Job (200)
  GET    /v1/job                  ?labelSelector=k=v[,k=v]&statusState=S&page=&size=
                                  -> {items, metadata}
  GET    /v1/job/{id}             Job
  PUT    /v1/job/{id}/kill        204
  DELETE /v1/job/{id}[?force=true] 204
  GET    /v1/job/{id}/log         text/plain (?tail=N)
  GET    /v1/me, /v1/capabilities/flavor
  POST   /emulator/faults         fault injection (see jobs.Faults) and, under "realism", the
                                  switchable real behaviours (realism.Realism), emulator-only
  GET    /emulator/stats          calls per endpoint, list calls, every job created (jobs.Stats)
"""

from __future__ import annotations

import hmac
import json
import re
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from .jobs import FLAVORS, GIB, JobStore, QuotaError, SpecError
from .realism import DELETE_PARAMS, LIST_PARAMS, LOG_PARAMS

_JOB = re.compile(r"^/v1/job/([0-9a-fA-F-]{36})(/kill|/log)?$")


def parse_selector(text: str) -> dict[str, str]:
    selector: dict[str, str] = {}
    for part in text.split(","):
        key, sep, value = part.strip().partition("=")
        if not sep or not key:
            raise SpecError(f"invalid labelSelector {text!r}")
        selector[key.strip()] = value.strip()
    return selector


class EmulatorServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(
        self, address: tuple[str, int], token: str, store: JobStore, verbose: bool
    ) -> None:
        super().__init__(address, Handler)
        self.token = token
        self.store = store
        self.verbose = verbose

    def handle_error(self, request: Any, client_address: Any) -> None:
        # a client that gave up on a slow answer (injected timeouts) is no emulator error
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"


class Handler(BaseHTTPRequestHandler):
    server: EmulatorServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        # the request line only: no headers, so the token never reaches a log
        if self.server.verbose:
            sys.stderr.write(f"[emulator] {self.address_string()} {format % args}\n")

    # -- plumbing -----------------------------------------------------------------------------

    def _send(self, status: int, body: Any = None, content_type: str = "application/json") -> None:
        if body is None:
            data = b""
        elif content_type == "application/json":
            data = json.dumps(body).encode()
        else:
            data = str(body).encode()
        self.send_response(status)
        if data or status != 204:
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if data:
            self.wfile.write(data)

    def _error(self, status: int, message: str) -> None:
        self._send(status, {"message": message})

    def _body(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if not raw:
            return {}
        return json.loads(raw)

    def _authorised(self) -> bool:
        header = self.headers.get("Authorization", "")
        scheme, _, given = header.partition(" ")
        given = given.strip()
        realism = self.server.store.realism
        if scheme.lower() == "bearer" and hmac.compare_digest(
            given.encode(), self.server.token.encode()
        ):
            return True
        # a token of another region is unknown to this region's API
        region = realism.tokens.get(given) if scheme.lower() == "bearer" else None
        if region is not None and region == realism.region:
            return True
        self._error(401, "Unauthorized")
        return False

    def _check_params(self, allowed: frozenset[str], query: dict[str, list[str]]) -> None:
        unknown = sorted(set(query) - allowed)
        if unknown and self.server.store.realism.strict_params:
            raise SpecError(f"unknown query parameter(s): {', '.join(unknown)}")

    def _handle(self, method: str) -> None:
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        store = self.server.store
        path = url.path.rstrip("/") or "/"
        if store.faults.delay:
            time.sleep(store.faults.delay)
        if not self._authorised():
            return
        endpoint = endpoint_of(method, path)
        if endpoint:
            store.stats.count(endpoint, ",".join(query.get("labelSelector", [])))
            status, seconds = store.faults.take(endpoint)
            if seconds:
                time.sleep(seconds)
            if status is not None:
                # read the request body so the kept-alive connection stays in sync
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                self._error(status, f"emulated HTTP {status}")
                return
        try:
            self._route(method, path, query)
        except QuotaError as e:
            self._error(403, str(e))
        except SpecError as e:
            self._error(400, str(e))
        except json.JSONDecodeError:
            self._error(400, "invalid JSON body")

    def _route(self, method: str, path: str, query: dict[str, list[str]]) -> None:
        store = self.server.store
        if path == "/v1/job" and method == "POST":
            job = store.submit(self._body())
            self._send(200, job.to_json())
        elif path == "/v1/job" and method == "GET":
            realism = store.realism
            if realism.list_status:
                self._error(int(realism.list_status), "emulated: list request rejected")
                return
            self._check_params(LIST_PARAMS, query)
            selector = {}
            for text in query.get("labelSelector", []):
                selector.update(parse_selector(text))
            states = set(query.get("statusState", []))
            bad = sorted(states - realism.states())
            if bad and realism.strict_params:
                raise SpecError(f"invalid statusState value(s): {', '.join(bad)}")
            jobs = store.list(selector, states)
            jobs.sort(key=lambda j: j.created_at)
            size = max(1, int((query.get("size") or ["100"])[0]))
            size = min(size, int(realism.page_max or size))
            page = max(1, int((query.get("page") or ["1"])[0]))
            page_count = max(1, -(-len(jobs) // size))
            items = [j.to_json() for j in jobs[(page - 1) * size : page * size]]
            links = {"next": f"/v1/job?page={page + 1}&size={size}"} if page < page_count else {}
            self._send(
                200,
                {
                    "items": items,
                    "metadata": {
                        "currentPage": page,
                        "pageCount": page_count,
                        "total": len(jobs),
                        "links": links,
                    },
                },
            )
        elif path == "/v1/me" and method == "GET":
            self._send(
                200,
                {
                    "name": "emulator",
                    "tenant": "emulator",
                    "role": "ai_training_operator",
                    "tokenKind": "app",
                    "quotas": {"resources": {"GPU": 4, "CPU": 12}},
                },
            )
        elif path == "/v1/capabilities/flavor" and method == "GET":
            self._send(200, [_flavor_json(f) for f in FLAVORS])
        elif path == "/emulator/faults" and method == "POST":
            body = self._body()
            store.faults.update(body)
            if body.get("reset"):
                store.reset_stats()
                store.realism = store.realism_at_start.copy()
            try:
                store.realism.update(body.get("realism") or {})
            except ValueError as e:
                raise SpecError(str(e)) from e
            self._send(204)
        elif path == "/emulator/stats" and method == "GET":
            self._send(200, store.stats.to_json())
        elif match := _JOB.match(path):
            self._job_route(method, match.group(1), match.group(2) or "", query)
        else:
            self._error(404, f"no route {method} {path}")

    def _job_route(self, method: str, job_id: str, tail: str, query: dict[str, list[str]]) -> None:
        store = self.server.store
        job = store.get(job_id)
        if job is None:
            self._error(404, f"job {job_id} not found")
            return
        if method == "GET" and tail == "":
            self._send(200, job.to_json())
        elif method == "PUT" and tail == "/kill":
            store.kill(job)
            self._send(204)
        elif method == "DELETE" and tail == "":
            self._check_params(DELETE_PARAMS, query)
            force = (query.get("force") or ["false"])[0].lower() == "true"
            if store.delete(job, force):
                self._send(204)
            else:
                self._error(400, "job is still running (use force=true)")
        elif method == "GET" and tail == "/log":
            self._check_params(LOG_PARAMS, query)
            lines = query.get("tail")
            self._send(
                200, store.log(job, int(lines[0]) if lines else None), "text/plain; charset=utf-8"
            )
        else:
            self._error(405, f"{method} not allowed here")

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_PUT(self) -> None:
        self._handle("PUT")

    def do_DELETE(self) -> None:
        self._handle("DELETE")


def endpoint_of(method: str, path: str) -> str | None:
    """The name faults and stats use for an API request (None: not a job endpoint)."""
    if path == "/v1/job":
        return {"POST": "submit", "GET": "list"}.get(method)
    if match := _JOB.match(path):
        tail = match.group(2) or ""
        return {("GET", ""): "get", ("PUT", "/kill"): "kill", ("DELETE", ""): "delete",
                ("GET", "/log"): "log"}.get((method, tail))  # fmt: skip
    return None


def _flavor_json(flavor_id: str) -> dict[str, Any]:
    kind, model, cpu, mem, max_units = FLAVORS[flavor_id]
    out: dict[str, Any] = {
        "id": flavor_id,
        "type": kind,
        "description": model or "Intel CPU vCores",
        "default": flavor_id in ("ai1-1-gpu", "ai1-1-cpu"),
        "max": max_units,
        "resourcesPerUnit": {"cpu": cpu, "memory": mem * GIB},
    }
    if model:
        out["gpuInformation"] = {"gpuBrand": "NVIDIA", "gpuModel": model}
    return out
