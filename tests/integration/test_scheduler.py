"""The worker notices every gate change exactly once: locks, expiry, windows, restarts, races."""

import time
from datetime import UTC, datetime, timedelta

import anyio
import httpx
import pytest
from sqlalchemy import select

from shiplane.events import service as events
from shiplane.locks import service as locks
from shiplane.locks import watch
from shiplane.locks.calendar import compile_schedule
from shiplane.locks.scheduler import GateScheduler
from shiplane.settings import Config, Settings
from shiplane.tables.locks import gate_watch
from tests.conftest import BOB
from tests.integration.live import BIN, LiveServer

Z = UTC
T0 = datetime(2026, 11, 25, 18, 0, tzinfo=Z)  # Wednesday 10:00 in Los Angeles


def kinds(db, *wanted):
    with db.read() as conn:
        return [(e["kind"], e["environment"], e["service"]) for e in events.list_events(conn, limit=1000) if e["kind"] in wanted]


def make_worker(db, db_url, config=None):
    return GateScheduler(db, compile_schedule(Settings(config=config or Config(), database_url=db_url).config))


def run(scheduler, now):
    return anyio.run(scheduler.run, now)


def watch_production(db):
    from shiplane.catalog import service as catalog

    with db.write() as conn:
        env = catalog.environment(conn, "production", auto_create=True, now=T0)
        watch.ensure(conn, env.id, None, T0)


def take_lock(db, now, **kw):
    with db.write() as conn:
        return locks.create(conn, environment="production", service=None, reason="freeze", actor="bob", now=now, **kw)


def test_it_records_a_lock_and_its_end_once(db, db_url):
    w = make_worker(db, db_url)
    lk = take_lock(db, T0)
    assert run(w, T0) == 1  # first sight of a closed scope is a change
    assert run(w, T0) == 0
    with db.write() as conn:
        locks.end(conn, lk["id"], actor="bob", note=None, now=T0 + timedelta(minutes=1))
    assert run(w, T0 + timedelta(minutes=1)) == 1
    assert run(w, T0 + timedelta(minutes=2)) == 0
    with db.read() as conn:
        changes = [e["data"]["allowed"] for e in events.list_events(conn, kind="gate_changed")]
    assert changes == [False, True]


def test_it_expires_locks_at_their_time_and_opens_the_gate(db, db_url):
    w = make_worker(db, db_url)
    take_lock(db, T0, expires_at=T0 + timedelta(minutes=30))
    run(w, T0)
    with db.read() as conn:
        assert watch.next_check(conn) == T0 + timedelta(minutes=30)
    run(w, T0 + timedelta(minutes=29))
    assert [k for k, *_ in kinds(db, "lock_ended", "gate_changed")] == ["gate_changed"]
    run(w, T0 + timedelta(minutes=30))
    assert [k for k, *_ in kinds(db, "lock_ended", "gate_changed")] == ["gate_changed", "lock_ended", "gate_changed"]
    with db.read() as conn:
        (ended,) = locks.list_locks(conn, now=T0 + timedelta(hours=1), active=False)
    assert (ended["ended_by"], ended["end_note"], ended["ended_at"]) == ("system", "expired", "2026-11-25T18:30:00Z")


WINDOW = Config.model_validate({"windows": [{"environments": ["production"], "start": "09:00", "end": "15:30", "timezone": "America/Los_Angeles"}]})


def test_it_wakes_at_window_boundaries_and_says_so(db, db_url):
    w = make_worker(db, db_url, WINDOW)
    watch_production(db)
    run(w, T0)
    close = datetime(2026, 11, 25, 23, 30, tzinfo=Z)
    with db.read() as conn:
        assert watch.next_check(conn) == close
    run(w, close - timedelta(seconds=1))
    assert kinds(db, "window_closed", "window_opened") == []
    run(w, close)
    assert kinds(db, "window_closed", "window_opened") == [("window_closed", "production", None)]
    run(w, datetime(2026, 11, 26, 17, 0, tzinfo=Z))
    assert [k for k, *_ in kinds(db, "window_closed", "window_opened")] == ["window_closed", "window_opened"]


def test_after_a_restart_it_catches_up_on_what_it_missed(db, db_url):
    first = make_worker(db, db_url, WINDOW)
    watch_production(db)
    run(first, T0)
    # The process is down from 10:00 to 16:00; a new one starts.
    second = make_worker(db, db_url, WINDOW)
    run(second, datetime(2026, 11, 26, 0, 0, tzinfo=Z))
    assert [k for k, *_ in kinds(db, "gate_changed", "window_closed")] == ["gate_changed", "window_closed"]


def test_a_crash_in_the_middle_of_a_transition_loses_nothing_and_repeats_nothing(db, db_url):
    boom = RuntimeError("worker died here")

    def crash(conn, change, now):
        raise boom

    w = make_worker(db, db_url)
    watch_production(db)
    run(w, T0)
    take_lock(db, T0)
    w.reactions = (crash,)
    with pytest.raises(RuntimeError):
        with db.write() as conn:
            (watch_id,) = watch.due(conn, T0)
            w.process_one(conn, watch_id, T0)
    assert kinds(db, "gate_changed") == []  # rolled back with the crash
    w.reactions = ()
    assert run(w, T0) == 1
    assert run(w, T0) == 0
    assert len(kinds(db, "gate_changed")) == 1


def test_a_worker_that_loses_the_race_records_nothing(db, db_url):
    w = make_worker(db, db_url)
    watch_production(db)
    run(w, T0)
    take_lock(db, T0)
    with db.write() as conn:
        (watch_id,) = watch.due(conn, T0)
        row = conn.execute(select(gate_watch).where(gate_watch.c.id == watch_id)).first()
    assert run(w, T0) == 1  # the other worker wins
    with db.write() as conn:
        # our stale read of the row: the version moved on, so our update hits nothing
        conn.execute(gate_watch.update().where(gate_watch.c.id == watch_id).values(next_check_at=T0))
        conn.execute(gate_watch.update().where(gate_watch.c.id == watch_id).values(version=row.version + 7))
    assert len(kinds(db, "gate_changed")) == 1


@pytest.mark.slow
def test_two_worker_processes_emit_each_change_exactly_once(db, db_url, tmp_path):
    import subprocess

    env_base = {"SHIPLANE_DATABASE_URL": db_url, "PATH": "/usr/bin:/bin"}
    with LiveServer(db_url, args=["--no-worker"]) as server:
        api = httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {BOB}"})
        loaded = len(api.get("/api/v1/events?kind=config_loaded").json()["items"])
        workers = [subprocess.Popen([str(BIN / "shiplane"), "worker"], env=env_base, stderr=subprocess.DEVNULL) for _ in range(2)]
        try:
            # Wait until both workers are up (each records config_loaded), so they see the locks taken.
            deadline = time.monotonic() + 30
            while len(api.get("/api/v1/events?kind=config_loaded").json()["items"]) < loaded + 2:
                assert time.monotonic() < deadline, "workers did not start"
                time.sleep(0.1)
            expires = datetime.now(Z) + timedelta(seconds=4)
            for env in ("production", "staging", "qa"):
                r = api.post("/api/v1/locks", json={"environment": env, "reason": "r", "expires_at": expires.isoformat()})
                assert r.status_code == 201
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                ended = api.get("/api/v1/events?kind=lock_ended").json()["items"]
                changed = api.get("/api/v1/events?kind=gate_changed").json()["items"]
                if len(ended) >= 3 and len(changed) >= 6:
                    break
                time.sleep(0.2)
            time.sleep(1.5)  # give a duplicate the chance to appear
            ended = api.get("/api/v1/events?kind=lock_ended").json()["items"]
            changed = api.get("/api/v1/events?kind=gate_changed").json()["items"]
        finally:
            for p in workers:
                p.terminate()
                p.wait(10)
    assert sorted(e["environment"] for e in ended) == ["production", "qa", "staging"]
    for env in ("production", "qa", "staging"):
        # locked when first seen, open when the lock expired: each exactly once
        assert [e["data"]["allowed"] for e in changed if e["environment"] == env] == [False, True]
