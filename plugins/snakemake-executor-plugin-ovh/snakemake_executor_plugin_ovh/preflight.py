"""Checks at start, before any job: the token works in this region, and what it offers."""

from __future__ import annotations

from typing import Any

from snakemake_interface_common.exceptions import WorkflowError

from .api import ApiError, OvhAiClient


def check_token(client: OvhAiClient, region: str | None) -> dict[str, Any]:
    """``GET /v1/me``; a refused token is one clear error now instead of a failed job later.

    An app token belongs to the region it was created in: the other region's API refuses it
    (the likeliest cause of a 401/403 here)."""
    where = f"region {region}" if region else client.base_url
    try:
        return client.me(retries=2)
    except ApiError as e:
        if e.status in (401, 403):
            raise WorkflowError(
                f"OVHcloud AI Training ({where}) refused the token (HTTP {e.status}): an app "
                f"token works only in the region it was created in; create one there (ovhai "
                f"token create NAME --role operator, after ovhai config set "
                f"{(region or 'GRA').upper()}) or set --ovh-region to the token's region"
            ) from None
        if e.status == 404:  # an API version without /v1/me: the first job call will tell
            return {}
        raise WorkflowError(
            f"OVHcloud AI Training ({where}) did not answer GET /v1/me: {e}; check "
            "--ovh-region / --ovh-api-url and the network"
        ) from None


def read_flavors(client: OvhAiClient) -> list[dict[str, Any]] | None:
    """The region's flavors (None: the list could not be read; the built-in table is used)."""
    try:
        flavors = client.flavors(retries=2)
    except (ApiError, ValueError):
        return None
    return [f for f in flavors if isinstance(f, dict) and f.get("id")] or None
