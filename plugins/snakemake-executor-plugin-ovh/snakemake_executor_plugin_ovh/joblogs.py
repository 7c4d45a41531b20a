"""A finished job's log, fetched until it stops changing: AI Training logs can lag the job's
end by tens of seconds, and a job deleted too early takes the rest of its log with it."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from .api import ApiError, OvhAiClient

LOG_TAIL_LINES = 20000


@dataclass
class _Watch:
    path: Path
    ended: float = field(default_factory=time.monotonic)  # first seen finished
    changed: float = field(default_factory=time.monotonic)  # last time the text grew
    text: str | None = None
    error: str = ""


class LogCollector:
    """Per finished job: fetch, save (redacted) on every change, settled once unchanged for
    ``settle`` seconds. A log that cannot be read at all settles after ``4 * settle``."""

    def __init__(
        self, client: OvhAiClient, settle: float, redact: Callable[[str], str], warn: Callable
    ) -> None:
        self.client = client
        self.settle = max(0.0, float(settle))
        self.redact = redact
        self.warn = warn
        self._watches: dict[str, _Watch] = {}

    def pending(self) -> list[str]:
        return list(self._watches)

    def poll(self, job_id: str, path: Path, final: bool = False) -> bool:
        """Fetch once and save; True when the log has settled (or ``final``): the watch ends."""
        watch = self._watches.setdefault(job_id, _Watch(path))
        try:
            text = self.client.log(job_id, tail=LOG_TAIL_LINES, retries=2)
        except ApiError as e:
            watch.error = str(e)
        else:
            if text != watch.text:
                watch.text, watch.changed = text, time.monotonic()
                self._save(job_id, watch)
        now = time.monotonic()
        settled = (
            now - watch.changed >= self.settle
            if watch.text is not None
            else now - watch.ended >= 4 * self.settle
        )
        if final or settled:
            if watch.text is None:
                watch.text = f"(log unavailable: {watch.error})\n"
                self._save(job_id, watch)
            del self._watches[job_id]
            return True
        return False

    def _save(self, job_id: str, watch: _Watch) -> None:
        try:
            watch.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = watch.path.with_name(watch.path.name + ".part")
            tmp.write_text(self.redact(watch.text or ""))
            tmp.replace(watch.path)
        except OSError as e:
            self.warn(f"could not save the log of OVHcloud AI Training job {job_id}: {e}")
