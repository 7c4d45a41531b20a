"""The in-segment save kept in S3, where a retried remote job finds it.

An OVHcloud AI Training job that is preempted (state INTERRUPTED) loses its disk, and with it a
partial save written beside the checkpoint; Snakemake's ``--retries`` then runs the segment in a
fresh job. ``train --partial-store s3://bucket/key`` keeps a copy of every partial save there.

Endpoint, region and keys come from the ``SNAKEMAKE_STORAGE_S3_*`` variables that Snakemake
gives every remote job (the settings of its S3 storage plugin), else from boto3's own chain. They
are never logged: boto3's loggers stay at WARNING even under ``video2mesh -v``, whose DEBUG
level would print signed request headers.

One PUT (or a completed multipart upload) replaces an S3 object whole: a reader never sees half
an upload, so no temporary key is needed; what is read is checked like any partial save anyway.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from video2mesh.atomic import atomic_path
from video2mesh.errors import UserError

log = logging.getLogger(__name__)
ENV = "SNAKEMAKE_STORAGE_S3_"
for _name in ("boto3", "botocore", "s3transfer", "urllib3"):
    logging.getLogger(_name).setLevel(logging.WARNING)


def _client() -> Any:
    # boto3 >= 1.36 checksums break non-AWS S3 (OVHcloud); Snakemake's S3 plugin sets the same
    os.environ.setdefault("AWS_REQUEST_CHECKSUM_CALCULATION", "when_required")
    os.environ.setdefault("AWS_RESPONSE_CHECKSUM_VALIDATION", "when_required")
    import boto3
    from botocore.config import Config

    env = {k: os.environ.get(ENV + k.upper()) or None for k in ("endpoint_url", "region")}
    return boto3.client(
        "s3",
        endpoint_url=env["endpoint_url"],
        region_name=env["region"],
        aws_access_key_id=os.environ.get(ENV + "ACCESS_KEY") or None,
        aws_secret_access_key=os.environ.get(ENV + "SECRET_KEY") or None,
        aws_session_token=os.environ.get(ENV + "TOKEN") or None,
        config=Config(retries={"max_attempts": 5, "mode": "standard"}),
    )


class S3PartialStore:
    """One object, ``s3://bucket/key``: fetched at the start, put after each save, then deleted.

    Failures are warnings: a lost copy costs recomputation, never a wrong result (a fetched
    save is checked like a local one before it is resumed from).
    """

    def __init__(self, url: str) -> None:
        scheme, _, rest = url.partition("://")
        bucket, _, key = rest.partition("/")
        if scheme != "s3" or not bucket or not key or key.endswith("/"):
            raise UserError(
                f"--partial-store {url} is not an s3://BUCKET/KEY url", "pass s3://bucket/key"
            )
        self.url, self.bucket, self.key = url, bucket, key
        self._s3: Any = None

    @property
    def s3(self) -> Any:
        if self._s3 is None:
            self._s3 = _client()
        return self._s3

    def fetch(self, dest: Path) -> bool:
        """Download the save to ``dest`` (atomically); False when there is none."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            with atomic_path(dest) as tmp:
                self.s3.download_file(self.bucket, self.key, str(tmp))
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code not in ("404", "NoSuchKey", "NotFound"):
                log.warning("could not fetch the partial save %s: %s", self.url, code or exc)
            return False
        except BotoCoreError as exc:
            log.warning("could not fetch the partial save %s: %s", self.url, exc)
            return False
        return True

    def put(self, src: Path) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self.s3.upload_file(str(src), self.bucket, self.key)
        except (BotoCoreError, ClientError) as exc:
            log.warning("could not upload the partial save to %s: %s", self.url, exc)

    def delete(self) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self.s3.delete_object(Bucket=self.bucket, Key=self.key)
        except (BotoCoreError, ClientError) as exc:
            log.warning("could not delete the partial save %s: %s", self.url, exc)
