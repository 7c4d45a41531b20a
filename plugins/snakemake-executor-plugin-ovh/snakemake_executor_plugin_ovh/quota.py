"""The project's GPU quota (default 4 at once, queued jobs count): submit no more than it
allows, and treat a refusal for quota as a reason to wait, not as a failed job."""

from __future__ import annotations

import threading
from collections.abc import Callable

from .api import ApiError


def is_quota_refusal(error: ApiError) -> bool:
    """A 4xx whose message names the quota (the exact code is undocumented; the smoke test's
    quota check records what the real service answers)."""
    return error.status is not None and 400 <= error.status < 500 and "quota" in str(error).lower()


class GpuQuota:
    """GPUs held by this run's unfinished jobs, and a wait for room under the quota."""

    def __init__(self, limit: int) -> None:
        self.limit = max(0, int(limit))
        self._held: dict[str, int] = {}
        self._changed = threading.Condition()

    def in_use(self) -> int:
        with self._changed:
            return sum(self._held.values())

    def wait_for_room(
        self, gpus: int, on_wait: Callable[[int], None], stop: Callable[[], bool]
    ) -> None:
        """Block until ``gpus`` more fit under the limit (``on_wait`` once, with the GPUs in
        use, when it has to wait); returns early when ``stop()`` says the run is ending."""
        if not self.limit or not gpus:
            return
        told = False
        with self._changed:
            while sum(self._held.values()) + gpus > self.limit and not stop():
                if not told:
                    on_wait(sum(self._held.values()))
                    told = True
                self._changed.wait(timeout=1.0)

    def hold(self, job_id: str, gpus: int) -> None:
        if gpus:
            with self._changed:
                self._held[job_id] = gpus

    def release(self, job_id: str) -> None:
        with self._changed:
            if self._held.pop(job_id, None) is not None:
                self._changed.notify_all()


def quota_pause(attempt: int, backoff: float) -> float:
    """Seconds before submitting again after a quota refusal (grows to half a minute)."""
    return min(max(backoff, 0.05) * 2 ** min(attempt, 10), 30.0)
