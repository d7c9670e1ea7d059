"""Deliveries that gave up: listed, counted on /metrics, queued again by `shiplane jobs retry`; delivered
jobs pruned after a week. On both databases, through the real command and the real worker loop."""

from __future__ import annotations

from datetime import timedelta

import anyio
from sqlalchemy import select, update

from shiplane import clock
from shiplane.events import service as events
from shiplane.http import PermanentError, TransientError
from shiplane.jobs import queue
from shiplane.jobs.worker import DonePruner
from shiplane.tables.jobs import jobs
from tests.conftest import wipe
from tests.integration.test_cli import run


def _give_up(db, kind: str, error: Exception, now) -> int:
    """Queue a job and fail its first attempt with `error`."""
    with db.write() as conn:
        queue.enqueue(conn, kind, {"text": "hello"}, now, dedupe_key=f"{kind}:1")
    with db.write() as conn:
        (job,) = queue.claim(conn, now, "test", kinds=(kind,))
        queue.fail(conn, job, now, error)
    return job.id


def _state(db, job_id: int):
    with db.read() as conn:
        return conn.execute(select(jobs.c.state, jobs.c.attempts, jobs.c.run_at).where(jobs.c.id == job_id)).one()


def test_a_permanent_failure_is_dead_listed_and_retried_from_scratch(db, db_url):
    wipe(db)
    now = clock.now()
    dead_id = _give_up(db, "notify", PermanentError("slack: HTTP 404: no_service"), now)
    retrying_id = _give_up(db, "rollback_webhook", TransientError("timed out"), now)
    assert _state(db, dead_id).state == "dead"
    assert _state(db, retrying_id).state == "pending"  # transient: retried later, not dead

    env = {"SHIPLANE_DATABASE_URL": db_url}
    r = run("jobs", "dead", env=env)
    assert r.returncode == 0, r.stderr
    (line,) = r.stdout.strip().splitlines()
    assert line.startswith(f"#{dead_id} ") and "notify" in line and "1 attempts" in line
    assert "PermanentError: slack: HTTP 404: no_service" in line
    assert run("jobs", "dead", "--kind", "rollback_webhook", env=env).stdout.strip() == "no dead jobs"
    _give_up(db, "status:github", PermanentError("HTTP 422"), now)
    assert "dead jobs shown" not in run("jobs", "dead", "--kind", "notify", env=env).stdout  # counted per kind

    r = run("jobs", "retry", str(dead_id), str(retrying_id), str(dead_id), env=env)  # an id twice is one retry
    assert r.returncode == 2  # the pending one is not dead...
    assert f"#{dead_id} notify queued again" in r.stdout and f"not a dead job: #{retrying_id}" in r.stderr
    state = _state(db, dead_id)  # ...the dead one is queued again all the same
    assert (state.state, state.attempts) == ("pending", 0)
    with db.read() as conn:
        (event,) = events.list_events(conn, since=None, kind="job_retried", limit=10)
        assert event["data"]["job_id"] == dead_id and event["actor"].startswith("cli")
        (job,) = queue.claim(conn, clock.now(), "test", kinds=("notify",))  # due now
    assert job.id == dead_id and job.payload == {"text": "hello"}
    assert run("jobs", "dead", "--kind", "notify", env=env).stdout.strip() == "no dead jobs"


def test_the_metrics_count_dead_jobs(db, anon):
    wipe(db)
    _give_up(db, "notify", PermanentError("HTTP 410"), clock.now())
    text = anon.get("/metrics").text
    assert "shiplane_jobs_dead 1.0" in text


def test_delivered_jobs_older_than_a_week_are_pruned_by_the_worker(db):
    wipe(db)
    now = clock.now()
    ids = {}
    with db.write() as conn:
        for name, age, state in (("old", 8, "done"), ("recent", 6, "done"), ("old_dead", 30, "dead"), ("pending", 30, "pending")):
            queue.enqueue(conn, "notify", {"n": name}, now - timedelta(days=age))
            job_id = conn.execute(select(jobs.c.id).order_by(jobs.c.id.desc()).limit(1)).scalar_one()
            if state != "pending":
                conn.execute(update(jobs).where(jobs.c.id == job_id).values(state=state, finished_at=now - timedelta(days=age)))
            ids[name] = job_id

    anyio.run(DonePruner(db).tick)
    with db.read() as conn:
        left = set(conn.execute(select(jobs.c.id)).scalars())
    assert left == {ids["recent"], ids["old_dead"], ids["pending"]}

    with db.write() as conn:  # a batch at most per call
        queue.enqueue_many(conn, [queue.Job("notify", {"n": i}) for i in range(7)], now - timedelta(days=9))
        conn.execute(update(jobs).where(jobs.c.created_at == now - timedelta(days=9))
                     .values(state="done", finished_at=now - timedelta(days=9)))
        assert queue.prune(conn, now, batch=5) == 5
        assert queue.prune(conn, now, batch=5) == 2
