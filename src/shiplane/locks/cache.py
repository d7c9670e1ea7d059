"""In-memory gate answers, so that the hot ``GET /api/v1/gate`` costs no query.

An entry lives until the earliest of: the gate's own ``next_change_at``, a
change made through this process (locks, deploys, the worker clears it), or
``TTL`` seconds, which bounds how stale an answer can be when another process
(a second server, a separate worker) changed something.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from shiplane.locks.gate import Gate

TTL = timedelta(seconds=1)


class GateCache:
    def __init__(self, ttl: timedelta = TTL) -> None:
        self.ttl = ttl
        self._entries: dict[tuple[str, str | None], tuple[Gate, datetime]] = {}

    def get(self, environment: str, service: str | None, now: datetime) -> Gate | None:
        entry = self._entries.get((environment, service))
        if entry is None or entry[1] <= now:
            return None
        return entry[0]

    def put(self, gate: Gate, now: datetime) -> None:
        valid_until = now + self.ttl
        if gate.next_change_at is not None and gate.next_change_at < valid_until:
            valid_until = gate.next_change_at
        if len(self._entries) > 50_000:
            self._entries.clear()
        self._entries[(gate.environment, gate.service)] = (gate, valid_until)

    def clear(self) -> None:
        self._entries.clear()
