"""Enqueue, claim and settle durable jobs. Works the same on SQLite and PostgreSQL."""

from __future__ import annotations

import functools
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, func, or_, select, update
from sqlalchemy.engine import Connection

from shiplane.db import conflict_insert
from shiplane.http import PermanentError, TransientError
from shiplane.tables.jobs import jobs

LEASE = timedelta(minutes=2)


def backoff(attempts: int, *, base: float = 2.0, cap: float = 3600.0, jitter: float = 0.25) -> timedelta:
    """Exponential backoff with jitter: 2 s, 4 s, 8 s ... capped at an hour (pure)."""
    seconds = min(cap, base * (2 ** max(attempts - 1, 0)))
    seconds *= 1 + random.uniform(-jitter, jitter)
    return timedelta(seconds=seconds)


@dataclass(frozen=True)
class Job:
    kind: str
    payload: dict[str, Any]
    run_at: datetime | None = None
    dedupe_key: str | None = None
    max_attempts: int = 20


@functools.lru_cache(maxsize=4)
def _insert_statement(dialect: str) -> Any:
    ins = conflict_insert(dialect, jobs)
    return ins.on_conflict_do_nothing(index_elements=["dedupe_key"])


def enqueue_many(conn: Connection, batch: list[Job], now: datetime) -> None:
    """Queue jobs in the caller's transaction; a job whose dedupe key is already pending is skipped."""
    if not batch:
        return
    rows = [
        dict(
            kind=j.kind,
            payload=j.payload,
            state="pending",
            attempts=0,
            max_attempts=j.max_attempts,
            run_at=j.run_at or now,
            created_at=now,
            dedupe_key=j.dedupe_key,
        )
        for j in batch
    ]
    conn.execute(_insert_statement(conn.dialect.name), rows)


def enqueue(
    conn: Connection,
    kind: str,
    payload: dict[str, Any],
    now: datetime,
    *,
    run_at: datetime | None = None,
    dedupe_key: str | None = None,
    max_attempts: int = 20,
) -> None:
    enqueue_many(conn, [Job(kind, payload, run_at, dedupe_key, max_attempts)], now)


@dataclass(frozen=True)
class Claimed:
    id: int
    kind: str
    payload: dict[str, Any]
    attempts: int
    max_attempts: int


def _claimable(now: datetime):
    return and_(
        jobs.c.state == "pending",
        jobs.c.run_at <= now,
        or_(jobs.c.claimed_until.is_(None), jobs.c.claimed_until < now),
    )


def claim(conn: Connection, now: datetime, worker: str, limit: int = 20, kinds: tuple[str, ...] = ()) -> list[Claimed]:
    """Claim up to ``limit`` due jobs. A conditional update per row: whoever updates it owns it."""
    query = select(jobs.c.id).where(_claimable(now)).order_by(jobs.c.run_at, jobs.c.id).limit(limit)
    if kinds:
        query = query.where(jobs.c.kind.in_(kinds))
    claimed = []
    for job_id in conn.execute(query).scalars().all():
        result = conn.execute(
            update(jobs)
            .where(jobs.c.id == job_id, _claimable(now))
            .values(claimed_until=now + LEASE, claimed_by=worker, attempts=jobs.c.attempts + 1)
            .returning(jobs.c.id, jobs.c.kind, jobs.c.payload, jobs.c.attempts, jobs.c.max_attempts)
        ).first()
        if result is not None:  # nobody else got there first
            claimed.append(Claimed(result.id, result.kind, result.payload, result.attempts, result.max_attempts))
    return claimed


def complete(conn: Connection, job: Claimed, now: datetime) -> None:
    conn.execute(
        update(jobs)
        .where(jobs.c.id == job.id)
        # The key is released once settled: it de-duplicates work still to do,
        # and the same delivery may legitimately be wanted again later (A → B → A).
        .values(state="done", finished_at=now, claimed_until=None, last_error=None, dedupe_key=None)
    )


def fail(conn: Connection, job: Claimed, now: datetime, error: Exception) -> str:
    """Settle a failed attempt: retry later, or give up (``dead``) when permanent or out of attempts."""
    message = f"{type(error).__name__}: {error}"[:2000]
    if isinstance(error, PermanentError) or job.attempts >= job.max_attempts:
        conn.execute(
            update(jobs)
            .where(jobs.c.id == job.id)
            .values(state="dead", finished_at=now, claimed_until=None, last_error=message, dedupe_key=None)
        )
        return "dead"
    delay = backoff(job.attempts)
    if isinstance(error, TransientError) and error.retry_after is not None:
        delay = max(delay, timedelta(seconds=error.retry_after))
    conn.execute(
        update(jobs)
        .where(jobs.c.id == job.id)
        .values(run_at=now + delay, claimed_until=None, last_error=message)
    )
    return "retry"


def next_due(conn: Connection, kinds: tuple[str, ...] = ()) -> datetime | None:
    query = select(func.min(jobs.c.run_at)).where(jobs.c.state == "pending")
    if kinds:
        query = query.where(jobs.c.kind.in_(kinds))
    return conn.execute(query).scalar()


def depth(conn: Connection) -> int:
    return conn.execute(select(func.count()).select_from(jobs).where(jobs.c.state == "pending")).scalar_one()


def dead_count(conn: Connection, kind: str | None = None) -> int:
    query = select(func.count()).select_from(jobs).where(jobs.c.state == "dead")
    if kind:
        query = query.where(jobs.c.kind == kind)
    return conn.execute(query).scalar_one()


def dead(conn: Connection, *, kind: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
    """Jobs that gave up, newest first: what, how often tried, and the last error (not the payload)."""
    query = (
        select(jobs.c.id, jobs.c.kind, jobs.c.attempts, jobs.c.created_at, jobs.c.finished_at, jobs.c.last_error)
        .where(jobs.c.state == "dead")
        .order_by(jobs.c.id.desc())
        .limit(limit)
    )
    if kind:
        query = query.where(jobs.c.kind == kind)
    return [dict(r._mapping) for r in conn.execute(query)]


def retry(conn: Connection, job_id: int, now: datetime) -> dict[str, Any] | None:
    """Queue a dead job again from scratch (attempts 0, due now); None unless it is dead.

    Its dedupe key was released when it died, so the delivery may have been queued again
    since: the handlers are idempotent, and a second delivery of the same state is harmless.
    """
    row = conn.execute(
        update(jobs)
        .where(jobs.c.id == job_id, jobs.c.state == "dead")
        .values(state="pending", attempts=0, run_at=now, finished_at=None, claimed_until=None, claimed_by=None)
        .returning(jobs.c.id, jobs.c.kind, jobs.c.last_error)
    ).first()
    return dict(row._mapping) if row else None


# Delivered jobs are kept this long (to look into a delivery), then deleted in batches.
KEEP_DONE = timedelta(days=7)
PRUNE_BATCH = 5000


def prune(conn: Connection, now: datetime, keep: timedelta = KEEP_DONE, batch: int = PRUNE_BATCH) -> int:
    """Delete up to `batch` jobs delivered before ``now - keep``; dead ones stay until retried."""
    ids = select(jobs.c.id).where(jobs.c.state == "done", jobs.c.finished_at < now - keep).limit(batch)
    return conn.execute(delete(jobs).where(jobs.c.id.in_(ids.scalar_subquery()))).rowcount or 0
