"""A failed job comes back after its backoff, or dies (jobs/queue.fail), on both databases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from shiplane.jobs import queue
from shiplane.tables.jobs import jobs

NOW = datetime(2026, 11, 24, 18, 0, tzinfo=UTC)


def claim_one(db, now=NOW, max_attempts=20, dedupe_key="post:1") -> queue.Claimed:
    with db.write() as conn:
        queue.enqueue(conn, "post", {"n": 1}, now, dedupe_key=dedupe_key, max_attempts=max_attempts)
        (job,) = queue.claim(conn, now, "w1")
    return job


def fail(db, job, now, error) -> str:
    with db.write() as conn:
        return queue.fail(conn, job, now, error)


def row(db, job):
    with db.read() as conn:
        return conn.execute(select(jobs).where(jobs.c.id == job.id)).one()


def claim(db, now) -> list[queue.Claimed]:
    with db.write() as conn:
        return queue.claim(conn, now, "w2")


def test_it_retries_a_transient_failure_after_the_backoff(db):
    job = claim_one(db)
    assert fail(db, job, NOW, queue.TransientError("502 Bad Gateway")) == "retry"
    r = row(db, job)
    assert r.state == "pending" and r.claimed_until is None
    assert r.last_error == "TransientError: 502 Bad Gateway"
    assert timedelta(seconds=1.5) <= r.run_at - NOW <= timedelta(seconds=2.5)  # 2 s ± 25% after attempt 1
    assert claim(db, NOW + timedelta(seconds=1.4)) == []
    (again,) = claim(db, r.run_at)
    assert (again.id, again.attempts) == (job.id, 2)


def test_the_wait_grows_with_the_attempts(db):
    job = claim_one(db)
    for attempt in range(1, 6):
        fail(db, job, NOW, queue.TransientError("timeout"))
        wait = (row(db, job).run_at - NOW).total_seconds()
        assert 0.75 * 2**attempt <= wait <= 1.25 * 2**attempt
        (job,) = claim(db, NOW + timedelta(hours=1))
        assert job.attempts == attempt + 1


@pytest.mark.parametrize("retry_after,least", [(600, 600), (0.5, 1.5)])
def test_it_waits_at_least_as_long_as_the_server_asked(db, retry_after, least):
    job = claim_one(db)
    fail(db, job, NOW, queue.TransientError("429 Too Many Requests", retry_after=retry_after))
    wait = (row(db, job).run_at - NOW).total_seconds()
    assert least <= wait <= max(retry_after, 2.5)


def test_it_gives_up_at_once_on_a_permanent_failure_and_frees_the_key(db):
    job = claim_one(db, dedupe_key="post:repo-gone")
    assert fail(db, job, NOW, queue.PermanentError("404 Not Found")) == "dead"
    r = row(db, job)
    assert (r.state, r.finished_at, r.dedupe_key, r.last_error) == ("dead", NOW, None, "PermanentError: 404 Not Found")
    assert claim(db, NOW + timedelta(days=1)) == []
    # The same delivery may be wanted again later (the repo comes back).
    again = claim_one(db, NOW + timedelta(days=1), dedupe_key="post:repo-gone")
    assert again.id != job.id


def test_it_gives_up_after_the_last_attempt(db):
    job = claim_one(db, max_attempts=2)
    assert fail(db, job, NOW, queue.TransientError("503")) == "retry"
    (job,) = claim(db, NOW + timedelta(minutes=1))
    assert fail(db, job, NOW + timedelta(minutes=1), queue.TransientError("503")) == "dead"
    assert row(db, job).state == "dead"


def test_any_other_exception_is_retried_like_a_transient_one(db):
    job = claim_one(db)
    assert fail(db, job, NOW, KeyError("status")) == "retry"
    assert row(db, job).last_error == "KeyError: 'status'"


def test_it_keeps_the_error_within_bounds(db):
    job = claim_one(db)
    fail(db, job, NOW, queue.TransientError("x" * 10_000))
    assert len(row(db, job).last_error) == 2000
