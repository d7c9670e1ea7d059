"""The background worker loop (embedded in ``serve`` or run alone by ``shiplane worker``).

Each tick reads the clock once, then runs its timed steps (the gate
scheduler, given by whoever builds the worker), delivers due jobs with the
handlers that the owning packages register, and runs the periodic tasks. It
sleeps until the next thing is due (at most ``POLL`` seconds, so that changes
made by other processes are noticed), or until poked by this process.
"""

from __future__ import annotations

import logging
import os
import socket
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, Protocol

import anyio

from shiplane import clock
from shiplane.db import Database
from shiplane.jobs import queue
from shiplane.jobs.pacing import SharedPacer
from shiplane.settings import Settings

log = logging.getLogger("shiplane.worker")

POLL = 1.0
BATCH = 500  # jobs claimed per kind per tick
IN_FLIGHT = 50  # outbound requests at once, across all kinds

# kind -> async handler(payload) that raises http.TransientError / PermanentError
Handler = Callable[[dict[str, Any]], Awaitable[None]]


class Timed(Protocol):
    """Work that falls due at known instants (e.g. the gate scheduler)."""

    async def run(self, now: datetime) -> int: ...

    def next_due(self, conn: Any) -> datetime | None: ...


class Worker:
    def __init__(
        self,
        settings: Settings,
        db: Database,
        *,
        timed: tuple[Timed, ...] = (),
        handlers: dict[str, Handler] | None = None,
        pacers: dict[str, SharedPacer] | None = None,
        periodic: tuple[Callable[[], Awaitable[int]], ...] = (),
        first: frozenset[str] = frozenset(),
    ) -> None:
        self.settings = settings
        self.db = db
        self.timed = timed
        self.handlers = handlers or {}
        self.pacers = pacers or {}
        self.periodic = periodic  # other due work (e.g. change tracking); each returns how much it did
        # Kinds whose jobs of a tick finish before the tick's other jobs start (a branch freeze:
        # one write that closes the merge button goes out before the statuses that explain it).
        self.first = first
        self.limiter = anyio.CapacityLimiter(IN_FLIGHT)
        self.name = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.wakeup = anyio.Event()

    def poke(self) -> None:
        """Wake the loop now (this process changed something)."""
        self.wakeup.set()

    async def scheduled(self, now: datetime) -> int:
        """Run every timed step due at ``now``; return how much they did."""
        done = 0
        for step in self.timed:
            done += await step.run(now)
        return done

    async def _run(self, job: queue.Claimed) -> None:
        async with self.limiter:
            try:
                await self.handlers[job.kind](job.payload)
            except Exception as exc:  # noqa: BLE001 - every failure is settled on the job row
                outcome = await self.db.run_write(queue.fail, job, clock.now(), exc)
                log.warning("job %s (%s) failed, %s: %s", job.id, job.kind, outcome, exc)
            else:
                await self.db.run_write(queue.complete, job, clock.now())

    async def deliver(self, now: datetime) -> int:
        """Claim due jobs kind by kind (within each kind's pacing) and run them concurrently."""
        claimed: list[queue.Claimed] = []
        for kind in self.handlers:
            claimed.extend(await self.db.run_write(self._claim, now, kind))
        for phase in ([j for j in claimed if j.kind in self.first], [j for j in claimed if j.kind not in self.first]):
            if phase:
                async with anyio.create_task_group() as tg:
                    for job in phase:
                        tg.start_soon(self._run, job)
        return len(claimed)

    def _claim(self, conn: Any, now: datetime, kind: str) -> list[queue.Claimed]:
        """Claim due jobs of one kind, within its write budget: the budget is locked, counted and
        spent in the claiming transaction, so workers in other processes never claim the same share."""
        pacer = self.pacers.get(kind)
        if pacer is None:
            return queue.claim(conn, now, self.name, BATCH, (kind,))
        limit = min(BATCH, pacer.available(conn, now))
        if limit == 0:
            return []
        jobs = queue.claim(conn, now, self.name, limit, (kind,))
        pacer.take(conn, len(jobs), now)
        return jobs

    def _next_due(self, conn: Any, now: datetime) -> datetime | None:
        candidates = [step.next_due(conn) for step in self.timed]
        # A kind whose write budget is spent is due when the budget frees up, not when its
        # jobs are: otherwise the loop would wake at once, claim nothing, and spin.
        waiting = {kind: pacer.next_free(conn, now) for kind, pacer in self.pacers.items() if kind in self.handlers}
        waiting = {kind: free for kind, free in waiting.items() if free is not None}
        ready = tuple(kind for kind in self.handlers if kind not in waiting)
        if ready:
            candidates.append(queue.next_due(conn, ready))
        for kind, free in waiting.items():
            due = queue.next_due(conn, (kind,))
            if due is not None:
                candidates.append(max(due, free))
        return min((c for c in candidates if c is not None), default=None)

    async def tick(self) -> float:
        """Do what is due; return how many seconds to sleep at most."""
        now = clock.now()
        await self.scheduled(now)
        delivered = await self.deliver(now)
        for task in self.periodic:
            delivered += await task()
        if delivered:
            return 0.0
        nxt = await self.db.run_read(self._next_due, now)
        if nxt is None:
            return POLL
        return max(0.0, min(POLL, (nxt - clock.now()).total_seconds()))

    async def run_forever(self) -> None:
        while True:
            try:
                pause = await self.tick()
            except Exception:  # noqa: BLE001 - the loop must survive any one bad tick
                log.exception("worker tick failed")
                pause = POLL
            if pause > 0:
                with anyio.move_on_after(pause):
                    await self.wakeup.wait()
            self.wakeup = anyio.Event()


class DonePruner:
    """A periodic task: delete delivered jobs older than `queue.KEEP_DONE`, a batch at most every `every` seconds.

    Without it the outbox grows by every status and message ever sent. Dead jobs stay
    (``shiplane jobs dead`` lists them, ``shiplane jobs retry`` queues them again).
    """

    def __init__(self, db: Database, every: float = 600.0) -> None:
        self.db = db
        self.every = every
        self._last = -every

    BACKLOG = 10.0  # seconds between batches while a backlog remains (after an upgrade)

    async def tick(self) -> int:
        if time.monotonic() - self._last < self.every:
            return 0
        self._last = time.monotonic()
        try:
            deleted = await self.db.run_write(queue.prune, clock.now())
        except Exception:  # noqa: BLE001 - housekeeping must not stop the worker's other periodic tasks
            log.warning("pruning delivered jobs failed; trying again later", exc_info=True)
            return 0
        if deleted:
            log.info("pruned %d delivered jobs older than %s", deleted, queue.KEEP_DONE)
        if deleted >= queue.PRUNE_BATCH:  # more are due: the next batch in BACKLOG seconds, not `every`
            self._last = time.monotonic() - self.every + self.BACKLOG
        return 0
