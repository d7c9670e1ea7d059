"""In-memory gate answers, so that the hot ``GET /api/v1/gate`` costs no query.

An entry lives until the earliest of: the gate's own ``next_change_at``, a
change made through this process (locks, deploys, the worker clears it), or
``TTL`` seconds, which bounds how stale an answer can be when another process
(a second server, a separate worker) changed something.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from shiplane.locks.gate import Gate

TTL = timedelta(seconds=1)
_AT = "\u0000at\u0000"


@dataclass(frozen=True)
class Answer:
    """A gate, serialised once. Only ``at`` differs between answers, so it is spliced in."""

    gate: Gate
    before_at: bytes
    after_at: bytes

    @classmethod
    def of(cls, gate: Gate) -> Answer:
        body = json.dumps(gate.to_dict() | {"at": _AT}, separators=(",", ":"))
        before, _, after = body.partition(json.dumps(_AT))
        return cls(gate, before.encode() + b'"', b'"' + after.encode())

    def body(self, at_iso: str) -> bytes:
        return self.before_at + at_iso.encode() + self.after_at


class GateCache:
    def __init__(self, ttl: timedelta = TTL) -> None:
        self.ttl = ttl
        self._entries: dict[tuple[str, str | None], tuple[Answer, datetime]] = {}

    def get(self, environment: str, service: str | None, now: datetime) -> Answer | None:
        entry = self._entries.get((environment, service))
        if entry is None or entry[1] <= now:
            return None
        return entry[0]

    def put(self, gate: Gate, now: datetime) -> Answer:
        # Jitter the lifetime: entries written in one burst must not all expire
        # in the same instant and send every scope to the database at once.
        valid_until = now + self.ttl * random.uniform(0.75, 1.25)
        if gate.next_change_at is not None and gate.next_change_at < valid_until:
            valid_until = gate.next_change_at
        if len(self._entries) > 50_000:
            self._entries.clear()
        answer = Answer.of(gate)
        self._entries[(gate.environment, gate.service)] = (answer, valid_until)
        return answer

    def clear(self) -> None:
        self._entries.clear()
