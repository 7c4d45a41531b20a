"""The smoke test's checks: each states what the plugin assumes and records what it sees.

A check function takes the recording API, its Check and a context shared by the checks
(``label``: this smoke run's label, ``jobs``: every job created, killed and deleted at the end).
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable
from typing import Any

from .api import FAILURE_STATES, TERMINAL_STATES, ApiError, job_timed_out
from .flavors import BUILTIN_GPU_FLAVORS, region_gpu_flavors
from .quota import is_quota_refusal
from .smoke import Api, Check

Context = dict[str, Any]


def _labels(ctx: Context, kind: str) -> dict[str, str]:
    return {**ctx["label"], "smoke-check": kind}


def _submit(api: Api, check: Check, ctx: Context, kind: str, command: str, **spec: Any) -> str:
    r = api.submit(command, _labels(ctx, kind), **spec)
    check.expect(r.status_code == 200, f"POST /v1/job answered {r.status_code}, not 200")
    r.raise_for_status()
    job = r.json()
    ctx["jobs"].append(str(job["id"]))
    check.observed["first_state"] = (job.get("status") or {}).get("state")
    return str(job["id"])


def _state(job: dict[str, Any]) -> str:
    return str((job.get("status") or {}).get("state"))


def _history(job: dict[str, Any]) -> list[str]:
    return [h.get("state") for h in (job.get("status") or {}).get("history") or []]


def _running_or_over(state: str) -> bool:
    return state == "RUNNING" or state in TERMINAL_STATES


def token_and_region(api: Api, check: Check, ctx: Context) -> None:
    r = api.call("GET", "/v1/me")
    check.expect(r.status_code == 200, f"GET /v1/me answered {r.status_code}")
    if r.status_code == 200:
        body = r.json()
        check.observed["me"] = {k: body.get(k) for k in ("tokenKind", "role") if k in body}
    other_url = api.options.other_region_url
    if not other_url:
        check.notes.append("no --other-region-url: the refusal elsewhere was not tried")
        return
    other = Api(api.options, other_url)
    other.check = check
    try:
        r2 = other.call("GET", "/v1/me")
    finally:
        other.close()
    check.observed["other_region_status"] = r2.status_code
    check.expect(
        r2.status_code in (401, 403),
        f"the other region answered {r2.status_code}: tokens may not be per region",
    )


def flavors(api: Api, check: Check, ctx: Context) -> None:
    r = api.call("GET", "/v1/capabilities/flavor")
    if not check.expect(r.status_code == 200, f"GET /v1/capabilities/flavor: {r.status_code}"):
        return
    body = r.json()
    items = body.get("items", []) if isinstance(body, dict) else body
    check.observed["shape"] = "array" if isinstance(body, list) else "object"  # both read
    ids = {str(f.get("id")): f.get("max") for f in items if isinstance(f, dict)}
    check.observed["flavors"] = ids
    table = region_gpu_flavors(items)
    check.observed["gpu_models"] = table
    check.observed["builtin_table_differences"] = {
        model: {"builtin": flavor, "region": table.get(model)}
        for model, flavor in BUILTIN_GPU_FLAVORS.items()
        if table.get(model) != flavor
    }
    for flavor in (api.options.cpu_flavor, api.options.gpu_flavor):
        check.expect(flavor in ids, f"flavor {flavor} is not offered")


def job_done_with_log(api: Api, check: Check, ctx: Context) -> None:
    command = (
        'id; echo "HOME=$HOME"; pwd; touch "$HOME/smoke" && echo HOME-WRITABLE; '
        'echo "ENV=$SMOKE_ENV"; echo L1; echo L2'
    )
    job_id = _submit(api, check, ctx, "done", command,
                     envVars=[{"name": "SMOKE_ENV", "value": "yes"}])  # fmt: skip
    ctx["done_id"] = job_id
    job = api.wait(job_id)
    labels = (job.get("spec") or {}).get("labels") or {}
    check.observed.update(
        history=_history(job), exit_code=(job.get("status") or {}).get("exitCode"),
        info=(job.get("status") or {}).get("info"), returned_labels=labels,
    )  # fmt: skip
    check.expect(_state(job) == "DONE", f"ended {_state(job)}, not DONE")
    check.expect(
        all(labels.get(k) == v for k, v in _labels(ctx, "done").items()),
        "the job does not carry the labels it was given",
    )
    text = api.call("GET", f"/v1/job/{job_id}/log", params={"tail": 20000}, accept="text/plain")
    check.expect(text.status_code == 200, f"GET log as text: {text.status_code}")
    check.expect("L1" in text.text and "L2" in text.text, "the log lacks the job's output")
    check.observed["log_as_json_status"] = api.call(
        "GET", f"/v1/job/{job_id}/log", params={"tail": 20000}
    ).status_code
    time.sleep(api.options.log_wait)
    later = api.call("GET", f"/v1/job/{job_id}/log", params={"tail": 20000}, accept="text/plain")
    check.observed["log_grew_after_wait"] = later.text != text.text
    check.observed["home_writable"] = "HOME-WRITABLE" in later.text


def failing_job(api: Api, check: Check, ctx: Context) -> None:
    job = api.wait(_submit(api, check, ctx, "fail", "echo before-fail; exit 3"))
    status = job.get("status") or {}
    check.observed.update(history=_history(job), exit_code=status.get("exitCode"),
                          info=status.get("info"))  # fmt: skip
    check.expect(_state(job) == "FAILED", f"ended {_state(job)}, not FAILED")
    check.expect(status.get("exitCode") == 3, f"exitCode {status.get('exitCode')}, not 3")
    check.expect(bool((status.get("info") or {}).get("message")), "no info.message")


def kill_running(api: Api, check: Check, ctx: Context) -> None:
    job_id = _submit(api, check, ctx, "kill-running", "echo up; sleep 600")
    seen = _state(api.wait(job_id, _running_or_over))
    check.expect(seen == "RUNNING", f"never RUNNING (saw {seen})")
    r = api.call("PUT", f"/v1/job/{job_id}/kill")
    check.expect(r.status_code in (200, 204), f"kill answered {r.status_code}")
    job = api.wait(job_id)
    check.observed["history"] = _history(job)
    check.expect(_state(job) == "INTERRUPTED", f"ended {_state(job)}, not INTERRUPTED")
    again = api.call("PUT", f"/v1/job/{job_id}/kill")
    check.observed["second_kill_status"] = again.status_code
    check.expect(again.status_code in (200, 204, 400, 404),
                 f"a second kill answered {again.status_code}")  # fmt: skip


def kill_queued(api: Api, check: Check, ctx: Context) -> None:
    job_id = _submit(api, check, ctx, "kill-queued", "sleep 600")
    r = api.call("PUT", f"/v1/job/{job_id}/kill")
    check.expect(r.status_code in (200, 204), f"kill answered {r.status_code}")
    job = api.wait(job_id)
    check.observed["history"] = _history(job)
    check.expect(_state(job) == "INTERRUPTED", f"ended {_state(job)}, not INTERRUPTED")


def timeout(api: Api, check: Check, ctx: Context) -> None:
    seconds = api.options.job_timeout
    job = api.wait(_submit(api, check, ctx, "timeout", "sleep 600", timeout=seconds))
    status = job.get("status") or {}
    check.observed.update(
        history=_history(job), info=status.get("info"),
        times={k: status.get(k) for k in ("queuedAt", "startedAt", "timeoutAt", "stoppedAt")},
    )  # fmt: skip
    check.expect(_state(job) in FAILURE_STATES, f"ended {_state(job)}")
    check.expect(job_timed_out(job), "neither info.code JOB_TIMEOUT nor a TIMEOUT state")


def delete(api: Api, check: Check, ctx: Context) -> None:
    job_id = _submit(api, check, ctx, "delete", "sleep 600")
    api.wait(job_id, _running_or_over)
    check.observed["delete_running_status"] = api.call("DELETE", f"/v1/job/{job_id}").status_code
    r = api.call("DELETE", f"/v1/job/{job_id}", params={"force": "true"})
    check.expect(r.status_code in (200, 204, 404), f"DELETE force=true: {r.status_code}")
    deadline = time.monotonic() + api.options.job_wait
    while (g := api.http.get(f"/v1/job/{job_id}")).status_code != 404:
        if time.monotonic() > deadline:
            break
        time.sleep(api.options.poll)
    check.expect(g.status_code == 404, f"GET after delete: {g.status_code}, not 404")
    listed = api.call("GET", "/v1/job", params={"labelSelector": _selector(ctx)}).json()
    ids = [j.get("id") for j in _items(listed)]
    check.expect(job_id not in ids, "a deleted job is still listed")


def _selector(ctx: Context) -> str:
    return ",".join(f"{k}={v}" for k, v in ctx["label"].items())


def _items(body: Any) -> list[dict[str, Any]]:
    return body.get("items") or [] if isinstance(body, dict) else list(body)


def list_paging_and_label_and(api: Api, check: Check, ctx: Context) -> None:
    sel = _selector(ctx)
    r = api.call("GET", "/v1/job", params={"labelSelector": sel, "page": 1, "size": 100})
    check.expect(r.status_code == 200, f"size=100 answered {r.status_code}")
    body = r.json()
    check.expect(isinstance(body, dict) and "items" in body and "metadata" in body,
                 "the list answer is not {items, metadata}")  # fmt: skip
    total = len(_items(body))
    check.observed["metadata"] = body.get("metadata") if isinstance(body, dict) else None
    pages = [
        api.call("GET", "/v1/job", params={"labelSelector": sel, "page": p, "size": 1}).json()
        for p in (0, 1, 2)
    ]
    ids = [[j.get("id") for j in _items(p)] for p in pages]
    check.observed["page_ids_0_1_2"] = ids
    if total >= 2:
        check.expect(ids[1] != ids[2] and ids[1] and ids[2], "pages 1 and 2 of size 1 are "
                     "not two different jobs: pages may count from 0")  # fmt: skip
    nomatch = f"{sel},smoke-nomatch={uuid.uuid4().hex[:8]}"
    anded = _items(api.call("GET", "/v1/job", params={"labelSelector": nomatch}).json())
    check.observed["and_selector_items"] = len(anded)
    check.expect(not anded, "a selector of two labels returned jobs matching one: not AND")
    states = api.call("GET", "/v1/job",
                      params=[("labelSelector", sel), ("statusState", "DONE"),
                              ("statusState", "FAILED")])  # fmt: skip
    check.expect(states.status_code == 200, f"repeated statusState: {states.status_code}")
    if states.status_code == 200:
        seen = {_state(j) for j in _items(states.json())}
        check.expect(seen <= {"DONE", "FAILED"}, f"statusState filter returned {sorted(seen)}")
    restarting = api.call(
        "GET", "/v1/job", params={"labelSelector": sel, "statusState": "RESTARTING"}
    )
    check.observed["restarting_filter_status"] = restarting.status_code  # guarded either way
    unknown = api.call("GET", "/v1/job", params={"labelSelector": sel, "smokeUnknown": "1"})
    check.observed["unknown_parameter_status"] = unknown.status_code


def errors(api: Api, check: Check, ctx: Context) -> None:
    for name, resources in (
        ("invalid_flavor", {"flavor": "no-such-flavor", "cpu": 1}),
        ("five_gpus", {"flavor": api.options.gpu_flavor, "gpu": 5}),
    ):
        r = api.submit("true", _labels(ctx, "error"), resources=resources)
        if r.status_code == 200:
            ctx["jobs"].append(str(r.json().get("id")))
        check.expect(400 <= r.status_code < 500, f"{name}: answered {r.status_code}, not 4xx")
        try:
            has_message = bool(r.json().get("message"))
        except ValueError:
            has_message = False
        check.expect(has_message, f"{name}: the error body has no message")


def request_rate(api: Api, check: Check, ctx: Context) -> None:
    target = f"/v1/job/{ctx.get('done_id')}" if ctx.get("done_id") else "/v1/me"
    statuses: dict[str, int] = {}
    retry_after = None
    for _ in range(30):
        r = api.http.get(target)
        statuses[str(r.status_code)] = statuses.get(str(r.status_code), 0) + 1
        retry_after = r.headers.get("retry-after") or retry_after
    check.observed.update(statuses=statuses, retry_after=retry_after)
    # 429 (with or without Retry-After) is retried by the plugin: any answer is fine


def quota(api: Api, check: Check, ctx: Context) -> None:
    if not api.options.quota:
        check.verdict = "skipped"
        check.notes.append("opt-in: --quota (five 1-GPU jobs of 30 s)")
        return
    answers = []
    started = []
    try:
        for _ in range(5):
            r = api.submit("sleep 30", _labels(ctx, "quota"),
                           resources={"flavor": api.options.gpu_flavor, "gpu": 1})  # fmt: skip
            answers.append(r.status_code)
            if r.status_code == 200:
                started.append(str(r.json()["id"]))
                ctx["jobs"].append(started[-1])
            else:
                refusal = ApiError(f"POST /v1/job: HTTP {r.status_code}: {r.text}", r.status_code)
                check.observed["refusal_recognised"] = is_quota_refusal(refusal)
                check.expect(is_quota_refusal(refusal), "a refusal the plugin does not take "
                             "for quota (4xx naming 'quota'): it would fail the job")  # fmt: skip
        check.observed["submit_statuses"] = answers
        if len(started) == 5:
            time.sleep(api.options.poll)
            check.observed["states"] = [_state(api.http.get(f"/v1/job/{i}").json())
                                        for i in started]  # fmt: skip
            check.notes.append("the fifth GPU job was accepted (queued?): see states")
    finally:
        for job_id in started:
            api.http.put(f"/v1/job/{job_id}/kill")


def s3_from_job(api: Api, check: Check, ctx: Context) -> None:
    o = api.options
    access = os.environ.get("SNAKEMAKE_STORAGE_S3_ACCESS_KEY")
    secret = os.environ.get("SNAKEMAKE_STORAGE_S3_SECRET_KEY")
    if not (o.s3_endpoint and o.s3_bucket and access and secret):
        check.verdict = "skipped"
        check.notes.append("needs --s3-endpoint, --s3-bucket and SNAKEMAKE_STORAGE_S3_* keys")
        return
    key = f"smoke/{ctx['label']['smoke']}/from-job.txt"
    script = (
        "import os, boto3\n"
        "s3 = boto3.client('s3', endpoint_url=os.environ['SMOKE_S3_ENDPOINT'], "
        "region_name=os.environ['SMOKE_S3_REGION'])\n"
        "b, k = os.environ['SMOKE_S3_BUCKET'], os.environ['SMOKE_S3_KEY']\n"
        "s3.put_object(Bucket=b, Key=k, Body=b'smoke')\n"
        "assert s3.get_object(Bucket=b, Key=k)['Body'].read() == b'smoke'\n"
        "print('S3-ROUNDTRIP-OK')\n"
    )
    command = (
        "id -u; python3 -c 'import boto3' 2>/dev/null || python3 -m pip install -q boto3; "
        'python3 -c "$SMOKE_SCRIPT"'
    )
    env = {
        "SMOKE_SCRIPT": script, "SMOKE_S3_ENDPOINT": o.s3_endpoint, "SMOKE_S3_REGION": o.s3_region,
        "SMOKE_S3_BUCKET": o.s3_bucket, "SMOKE_S3_KEY": key, "AWS_ACCESS_KEY_ID": access,
        "AWS_SECRET_ACCESS_KEY": secret, "AWS_REQUEST_CHECKSUM_CALCULATION": "when_required",
        "AWS_RESPONSE_CHECKSUM_VALIDATION": "when_required",
    }  # fmt: skip
    job_id = _submit(api, check, ctx, "s3", command,
                     envVars=[{"name": k, "value": v} for k, v in env.items()])  # fmt: skip
    job = api.wait(job_id)
    log = api.call("GET", f"/v1/job/{job_id}/log", params={"tail": 20000}, accept="text/plain")
    check.expect(_state(job) == "DONE", f"ended {_state(job)}, not DONE")
    check.expect("S3-ROUNDTRIP-OK" in log.text, "the job could not put and get its object")


CHECKS: list[tuple[str, str, Callable[[Api, Check, Context], None]]] = [
    ("token_and_region", "GET /v1/me answers 200 with the token; another region refuses it "
     "(401/403)", token_and_region),
    ("flavors", "GET /v1/capabilities/flavor lists {id, type, max, gpuInformation.gpuModel} "
     "(an array or {items}); the default flavors are offered", flavors),
    ("job_done_with_log", "a CPU job ends DONE with its labels; GET /log as text has its output",
     job_done_with_log),
    ("failing_job", "exit 3 ends FAILED with exitCode 3 and info.message", failing_job),
    ("kill_running", "PUT /kill answers 204, the job ends INTERRUPTED; a second kill answers "
     "2xx, 400 or 404", kill_running),
    ("kill_queued", "a job killed at once (QUEUED) ends INTERRUPTED", kill_queued),
    ("timeout", "a job past its timeout ends in a failure state with info.code JOB_TIMEOUT or a "
     "TIMEOUT state in its history", timeout),
    ("delete", "DELETE ?force=true answers 204; the job is then 404 and not listed", delete),
    ("list_paging_and_label_and", "GET /v1/job answers {items, metadata} for size=100; pages "
     "count from 1; labelSelector a=1,b=2 means AND; statusState may repeat",
     list_paging_and_label_and),
    ("errors", "an invalid spec is a 4xx with {message}", errors),
    ("request_rate", "30 quick GETs: any 429 is retried (observed only)", request_rate),
    ("quota", "beyond the GPU quota, POST /v1/job is a 4xx whose message names the quota",
     quota),
    ("s3_from_job", "a job can put and get an object in the region's S3 with the keys as "
     "envVars (checksums when_required)", s3_from_job),
]  # fmt: skip
