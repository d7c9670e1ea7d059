"""Sliding-window write pacing (GitHub.com: at most 80 content-creating requests a minute, 500 an hour).

Tokens are taken when a job is claimed, before its request is sent, so the
writes sent in any 60-second (or 3600-second) window never exceed the limit.

``Pacer`` is the pure arithmetic over a list of stamps. ``SharedPacer`` keeps
the stamps in the database (``budget_spends``), so one budget holds for every
worker process against the same database: a take locks the budget (a
transaction-scoped advisory lock on PostgreSQL; SQLite's ``BEGIN IMMEDIATE``
already serialises writers), counts the stamps still inside the windows and
adds its own, in one transaction.
"""

from __future__ import annotations

import hashlib
from collections import deque
from datetime import datetime, timedelta

from sqlalchemy import delete, insert, select, text
from sqlalchemy.engine import Connection

from shiplane import clock
from shiplane.tables.jobs import budget_spends

UNLIMITED = 1_000_000


class Pacer:
    def __init__(self, per_minute: int = 0, per_hour: int = 0, *, margin: timedelta = timedelta(0)) -> None:
        # ``margin`` widens each window a little: a write stamped when sent still travels before the
        # forge counts it, and the time it takes varies.
        self.windows = [(limit, timedelta(seconds=span) + margin) for limit, span in ((per_minute, 60), (per_hour, 3600)) if limit]
        self.taken: deque[datetime] = deque()

    @property
    def horizon(self) -> timedelta:
        return max((span for _, span in self.windows), default=timedelta(0))

    def _trim(self, now: datetime) -> None:
        horizon = now - self.horizon
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


def _lock_key(name: str) -> int:
    return int.from_bytes(hashlib.sha256(f"shiplane-budget:{name}".encode()).digest()[:8], "big", signed=True)


class SharedPacer:
    """One write budget for every process on the database: the stamps live in ``budget_spends``.

    Names come from the configuration (``claim:github``, ``sent:github``, ``freeze:github``), never
    from a request; rows older than the longest window are deleted on every take, so the table holds
    at most an hour of writes.
    """

    def __init__(self, name: str, per_minute: int = 0, per_hour: int = 0, *, margin: timedelta = timedelta(0)) -> None:
        self.name = name
        self.limits = (per_minute, per_hour, margin)

    @property
    def paced(self) -> bool:
        return bool(self.limits[0] or self.limits[1])

    def _lock(self, conn: Connection) -> None:
        """Hold the budget until the transaction ends (other processes' takes wait)."""
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _lock_key(self.name)})

    def _load(self, conn: Connection, now: datetime) -> Pacer:
        pacer = Pacer(self.limits[0], self.limits[1], margin=self.limits[2])
        rows = conn.execute(
            select(budget_spends.c.at, budget_spends.c.count)
            .where(budget_spends.c.budget == self.name, budget_spends.c.at > now - pacer.horizon)
            .order_by(budget_spends.c.at)
        ).all()
        for row in rows:
            pacer.take(row.count, row.at)
        return pacer

    def available(self, conn: Connection, now: datetime) -> int:
        """Writes free now. In a write transaction this locks the budget until it ends: take then."""
        if not self.paced:
            return UNLIMITED
        if conn.get_execution_options().get("shiplane_write"):
            self._lock(conn)
        return self._load(conn, now).available(now)

    def take(self, conn: Connection, count: int, now: datetime) -> None:
        if not self.paced or count <= 0:
            return
        conn.execute(insert(budget_spends).values(budget=self.name, at=now, count=count))
        # An hour and a little: the longest window any budget counts.
        conn.execute(delete(budget_spends).where(budget_spends.c.at < now - timedelta(hours=1, minutes=5)))

    def next_free(self, conn: Connection, now: datetime) -> datetime | None:
        if not self.paced:
            return None
        return self._load(conn, now).next_free(now)

    def acquire(self, conn: Connection) -> datetime | None:
        """Take one write stamped now, read after the lock is held (None), or say when one frees up."""
        if not self.paced:
            return None
        self._lock(conn)
        now = clock.now()
        pacer = self._load(conn, now)
        if pacer.available(now) < 1:
            return pacer.next_free(now) or now + timedelta(milliseconds=50)
        self.take(conn, 1, now)
        return None
