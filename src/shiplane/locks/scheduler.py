"""The gate's timed work for the worker: start scheduled locks, end expired ones, look at due scopes, record what changed.

The worker knows nothing of gates: it runs this as one of its timed steps
(``run`` when due, ``next_due`` to know how long it may sleep).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from shiplane.db import Database
from shiplane.locks import inputs as gate_inputs
from shiplane.locks import service as locks_service
from shiplane.locks import watch
from shiplane.locks.calendar import Schedule


class GateScheduler:
    def __init__(
        self,
        db: Database,
        schedule: Schedule,
        *,
        reactions: tuple[watch.Reaction, ...] = (),
        on_change: Callable[[], None] | None = None,
    ) -> None:
        self.db = db
        self.schedule = schedule
        self.reactions = reactions  # what follows a gate change, in its transaction (statuses, freezes)
        self.on_change = on_change  # after commit, e.g. drop cached gate answers

    def _load(self, conn: Any, environment_id: int, service_id: int | None):
        return gate_inputs.load_by_ids(conn, self.schedule, environment_id, service_id)

    def process_one(self, conn: Any, watch_id: int, now: datetime) -> watch.GateChange | None:
        return watch.process(conn, watch_id, self.schedule, now, self._load, self.reactions)

    async def run(self, now: datetime) -> int:
        """Do what is due at ``now``; return how many gates changed."""
        changes = 0
        await self.db.run_write(locks_service.start_due, now)
        await self.db.run_write(locks_service.expire_due, now)
        for watch_id in await self.db.run_read(watch.due, now):
            try:
                change = await self.db.run_write(self.process_one, watch_id, now)
            except watch.Lost:
                continue
            if change is not None:
                changes += 1
        if changes and self.on_change:
            self.on_change()
        return changes

    def next_due(self, conn: Any) -> datetime | None:
        candidates = [watch.next_check(conn), locks_service.next_lock_edge(conn)]
        return min((c for c in candidates if c is not None), default=None)
