"""Sliding-window write pacing (GitHub.com: at most 80 content-creating requests a minute, 500 an hour).

Tokens are taken when a job is claimed, before its request is sent, so the
writes sent in any 60-second (or 3600-second) window never exceed the limit.
Pacing is per worker process: run one worker per forge account.
"""

from __future__ import annotations

from collections import deque
from datetime import datetime, timedelta

UNLIMITED = 1_000_000


class Pacer:
    def __init__(self, per_minute: int = 0, per_hour: int = 0) -> None:
        self.windows = [(limit, timedelta(seconds=span)) for limit, span in ((per_minute, 60), (per_hour, 3600)) if limit]
        self.taken: deque[datetime] = deque()

    def _trim(self, now: datetime) -> None:
        horizon = now - max((span for _, span in self.windows), default=timedelta(0))
        while self.taken and self.taken[0] <= horizon:
            self.taken.popleft()

    def available(self, now: datetime) -> int:
        if not self.windows:
            return UNLIMITED
        self._trim(now)
        free = UNLIMITED
        for limit, span in self.windows:
            used = sum(1 for t in self.taken if t > now - span)
            free = min(free, limit - used)
        return max(0, free)

    def take(self, count: int, now: datetime) -> None:
        if self.windows:
            self.taken.extend([now] * count)

    def next_free(self, now: datetime) -> datetime | None:
        """When at least one write frees up (None if one is free now or pacing is off)."""
        if not self.windows or self.available(now) > 0:
            return None
        times = []
        for limit, span in self.windows:
            recent = [t for t in self.taken if t > now - span]
            if len(recent) >= limit:
                times.append(recent[len(recent) - limit] + span)
        return max(times) if times else None

