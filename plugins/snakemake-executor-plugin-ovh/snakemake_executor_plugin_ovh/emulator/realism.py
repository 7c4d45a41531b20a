"""Behaviours of the real service that the emulator reproduces, each switchable for tests.

Set at start (``--realism JSON``) or at run time (``POST /emulator/faults`` with
``{"realism": {...}}``); a faults reset restores the start values. Sources: the notes in
ovh-real-api-notes.md (per-region tokens, 4-GPU quota counting queued jobs, ~100-job pages,
late ``[ovh]``/``[job]`` log lines, RESTARTING missing from older state enums).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field, fields
from typing import Any

# Query parameters of the documented endpoints; anything else is refused when strict.
LIST_PARAMS = frozenset(
    {"page", "size", "order", "sort", "updatedAfter", "updatedBefore", "statusState",
     "userName", "labelSelector"}
)  # fmt: skip
LOG_PARAMS = frozenset({"page", "size", "follow", "tail"})
DELETE_PARAMS = frozenset({"force"})
STATES = frozenset(
    {"QUEUED", "INITIALIZING", "PENDING", "RUNNING", "INTERRUPTING", "FINALIZING", "DONE",
     "TIMEOUT", "INTERRUPTED", "FAILED", "ERROR", "SYNC_FAILED", "RESTARTING"}
)  # fmt: skip
# older API versions' enum has no RESTARTING, and rejects it as a filter value
LEGACY_STATES = STATES - {"RESTARTING"}
SELECTOR_MODES = ("and", "or", "ignore")


@dataclass
class Realism:
    """The switchable real behaviours (defaults: what the real service is believed to do)."""

    region: str = "gra"
    # other tokens the emulator knows, with the region each was created in; a token of another
    # region is refused (401), as a GRA token is by the BHS API
    tokens: dict[str, str] = field(default_factory=dict)
    # GPUs of jobs not yet finished (QUEUED included) per project; a submission beyond is
    # refused with 403 and a message naming the quota (0: no quota)
    gpu_quota: int = 4
    page_max: int = 100  # larger page sizes are clamped
    strict_params: bool = True  # unknown query parameters or state values: 400
    legacy_states: bool = False  # RESTARTING unknown: a statusState=RESTARTING filter is a 400
    # how labelSelector "a=1,b=2" is applied: and (believed), or, ignore (a server that drops it)
    selector: str = "and"
    list_status: int | None = None  # every list call answers this status (e.g. 400)
    log_lag: float = 0.0  # seconds before a written log line is served

    def update(self, body: dict[str, Any]) -> None:
        known = {f.name for f in fields(self)}
        unknown = sorted(set(body) - known)
        if unknown:
            raise ValueError(f"unknown realism keys {unknown}; use {sorted(known)}")
        for key, value in body.items():
            setattr(self, key, value)
        if self.selector not in SELECTOR_MODES:
            raise ValueError(f"selector must be one of {SELECTOR_MODES}")

    def copy(self) -> Realism:
        return copy.deepcopy(self)

    def token_region(self, token: str, main_token: str) -> str | None:
        """The region a token belongs to (None: unknown token)."""
        if token == main_token:
            return self.region
        return self.tokens.get(token)

    def states(self) -> frozenset[str]:
        return LEGACY_STATES if self.legacy_states else STATES

    def selects(self, labels: dict[str, str], selector: dict[str, str]) -> bool:
        hits = [labels.get(k) == v for k, v in selector.items()]
        if self.selector == "ignore" or not hits:
            return True
        return any(hits) if self.selector == "or" else all(hits)
