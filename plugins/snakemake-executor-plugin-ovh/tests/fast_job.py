"""Stand-in for a remote job's inner snakemake in the load test (the emulator runs it instead
of the job's command, given in $EMULATOR_JOB_COMMAND): it writes what rule ``sweep`` of
workflows/load would, straight to S3, in a fraction of the time of two snakemake start-ups.

Only what Snakemake sees from outside changes: the job's state and its output object.
"""

from __future__ import annotations

import os
import re
import sys
import urllib.request


def arg(command: str, name: str) -> str:
    match = re.search(rf"--{name} '([^']*)'", command) or re.search(rf"--{name} (\S+)", command)
    if not match:
        sys.exit(f"fast_job: no --{name} in the job command")
    return match.group(1)


def main() -> None:
    command = os.environ["EMULATOR_JOB_COMMAND"]
    target = arg(command, "target-jobs")  # sweep:i=17
    rule, _, wildcards = target.partition(":")
    assert rule == "sweep", target
    i = dict(w.split("=", 1) for w in wildcards.split(","))["i"]
    prefix = arg(command, "default-storage-prefix").removeprefix("s3://")
    endpoint = os.environ.get("SNAKEMAKE_STORAGE_S3_ENDPOINT_URL") or arg(
        command, "storage-s3-endpoint-url"
    )
    # moto does not check signatures: a plain PUT is a valid upload there
    # (urllib's default form content type would make moto's werkzeug swallow the body)
    request = urllib.request.Request(
        f"{endpoint.rstrip('/')}/{prefix}/sweep/{i}.txt",
        data=f"{i}\n".encode(),
        method="PUT",
        headers={"Content-Type": "application/octet-stream"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 200, response.status
    print(f"fast_job: wrote sweep/{i}.txt")


if __name__ == "__main__":
    main()
