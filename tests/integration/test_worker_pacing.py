"""A paced kind whose write budget is spent makes the worker sleep until it frees up, not spin."""

from __future__ import annotations

from datetime import timedelta

import anyio

from shiplane import clock
from shiplane.jobs import queue
from shiplane.jobs.pacing import SharedPacer
from shiplane.jobs.worker import Worker
from shiplane.settings import Settings


def test_it_sleeps_until_the_budget_frees_up_when_paced_jobs_are_due(db, db_url):
    delivered = []

    async def handler(payload):
        delivered.append(payload)

    pacer = SharedPacer("claim:fake", per_minute=1)
    worker = Worker(Settings(database_url=db_url), db, handlers={"status:fake": handler}, pacers={"status:fake": pacer})
    now = clock.now()
    with db.write() as conn:
        queue.enqueue_many(conn, [queue.Job("status:fake", {"n": n}) for n in range(3)], now - timedelta(seconds=1))

    first = anyio.run(worker.tick)  # delivers the one write the minute allows
    assert len(delivered) == 1 and first == 0.0
    pause = anyio.run(worker.tick)  # two jobs due, no budget: nothing to do for about a minute
    assert len(delivered) == 1
    assert pause > 0.5, "the worker would spin while the budget is spent"
    with db.read() as conn:
        assert pacer.next_free(conn, clock.now()) is not None
    # Another worker process on the same database shares the budget: it claims nothing either.
    other = Worker(Settings(database_url=db_url), db, handlers={"status:fake": handler}, pacers={"status:fake": SharedPacer("claim:fake", per_minute=1)})
    assert anyio.run(other.tick) > 0.5 and len(delivered) == 1


def test_it_wakes_at_once_when_unpaced_jobs_are_due(db, db_url):
    async def handler(payload):
        pass

    worker = Worker(Settings(database_url=db_url), db, handlers={"notify": handler})
    with db.write() as conn:
        queue.enqueue_many(conn, [queue.Job("notify", {}, run_at=clock.now() + timedelta(milliseconds=200))], clock.now())
    pause = anyio.run(worker.tick)
    assert 0.0 <= pause <= 0.25


def test_a_first_kind_finishes_before_the_ticks_other_jobs_start(db, db_url):
    # merge_freeze = "both": the branch freeze (one write) goes out before the statuses.
    seen: list[str] = []

    async def freeze(payload):
        seen.append("freeze started")
        await anyio.sleep(0.2)  # a slow forge: the statuses must still wait for it
        seen.append("freeze written")

    async def status(payload):
        seen.append("status")

    handlers = {"freeze:fake": freeze, "status:fake": status}
    worker = Worker(Settings(database_url=db_url), db, handlers=handlers, first=frozenset({"freeze:fake"}))
    now = clock.now() - timedelta(seconds=1)
    with db.write() as conn:
        queue.enqueue_many(conn, [queue.Job("status:fake", {"n": n}) for n in range(3)] + [queue.Job("freeze:fake", {})], now)
    anyio.run(worker.tick)
    assert seen == ["freeze started", "freeze written", "status", "status", "status"]
    # Without it, the statuses run beside the freeze and the first of them goes out first.
    seen.clear()
    with db.write() as conn:
        queue.enqueue_many(conn, [queue.Job("status:fake", {"n": 9}), queue.Job("freeze:fake", {"again": 1})], now)
    anyio.run(Worker(Settings(database_url=db_url), db, handlers=handlers).tick)
    assert seen.index("status") < seen.index("freeze written")
