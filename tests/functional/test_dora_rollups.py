"""The DORA roll-ups equal the exact computation, whatever was written and however.

Random mixes of writes — deploys registered in and out of order, starts that
finish or not, rollbacks, health verdicts (through the service and by a raw
UPDATE), incidents triggered and resolved, commits recorded later by the change
tracker — with refreshes at random points in between. After each mix, on both
databases, every report equals `metrics.compute` over the whole history read
back naively, to the last bit; and after a refresh the stored rows equal a
rebuild from scratch.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from sqlalchemy import bindparam, delete, func, select, text, update

from shiplane.changes import service as changes_service
from shiplane.changes.commits import Commit
from shiplane.changes.service import Work
from shiplane.db import UTCDateTime
from shiplane.deploys import register as deploys_register
from shiplane.deploys import service as deploys_service
from shiplane.deploys.schemas import DeployIn
from shiplane.dora import metrics, refresh, rollups, rows
from shiplane.dora import service as dora
from shiplane.dora.days import to_row
from shiplane.errors import DomainError
from shiplane.health import service as health_service
from shiplane.tables.deploys import deploy_commits, deploys
from shiplane.tables.dora import dora_days, dora_marks
from shiplane.tables.health import incidents
from tests.conftest import sha, wipe

T0 = datetime(2026, 3, 23, 6, 0, tzinfo=UTC)  # Berlin springs forward on Sun 2026-03-29
SERVICES = ("web", "api", "jobs")
ENVIRONMENTS = ("production", "staging")
HEALTHS = ("pending", "healthy", "ailing", "unhealthy", "no_data", "incident")
ZONES = ("UTC", "Europe/Berlin", "Asia/Kolkata", "America/New_York")
FAILURE_STATES = (("incident", "unhealthy"), ("ailing", "incident", "unhealthy"), ("unhealthy",))


def at(half_hours: int) -> datetime:
    # Half-hour steps: deploys often share an instant, so ties by id get exercised.
    return T0 + timedelta(minutes=30 * half_hours)


TIME = st.integers(-24, 14 * 48)
# Half-hours before the deploy (negative: clock skew; None: a commit without a date).
LEADS = st.lists(st.one_of(st.integers(-4, 200), st.none()), max_size=3)
REGISTER = st.tuples(
    st.just("register"),
    st.sampled_from(SERVICES),
    st.sampled_from(ENVIRONMENTS),
    TIME,
    st.sampled_from(("succeeded", "succeeded", "succeeded", "failed", "started")),
    LEADS,
    st.integers(0, 40),  # sha: repeats make rollbacks and idempotent repeats
)
OTHER = st.one_of(
    st.tuples(st.just("finish"), st.integers(0, 40), st.sampled_from(("succeeded", "failed", "cancelled")), st.integers(0, 6)),
    st.tuples(st.just("health"), st.integers(0, 40), st.sampled_from(HEALTHS)),
    st.tuples(st.just("health"), st.integers(0, 40), st.sampled_from(("unhealthy", "pending"))),
    st.tuples(st.just("raw_health"), st.integers(0, 40), st.sampled_from(HEALTHS)),
    st.tuples(st.just("raw_move"), st.integers(0, 40), TIME),
    st.tuples(st.just("incident"), st.sampled_from(SERVICES), st.integers(0, 5), TIME),
    st.tuples(st.just("resolve"), st.integers(0, 5), TIME),
    st.tuples(st.just("late_commits"), st.integers(0, 40), LEADS),
    st.tuples(st.just("refresh")),
)
# Every registration followed by up to three other writes, and often by a refresh.
OPS = st.lists(st.tuples(REGISTER, st.lists(OTHER, max_size=3), st.booleans()), min_size=2, max_size=25).map(
    lambda steps: [op for register, others, fold in steps for op in (register, *others, *([("refresh",)] if fold else []))]
)
RANGES = st.lists(
    st.tuples(
        st.integers(-2 * 48, 12 * 48),  # since, in half-hours from T0 (often not a local midnight)
        st.integers(1, 16 * 48),  # length
        st.sampled_from(("day", "week", "month")),
        st.sampled_from((None, *SERVICES)),
        st.sampled_from(ENVIRONMENTS),
    ),
    min_size=1,
    max_size=4,
)


def apply_op(conn, op, ids, zone, failing):
    kind = op[0]
    now = at(15 * 48)

    def deploy_id(k):
        return ids[k % len(ids)] if ids else None

    if kind == "register":
        _, service, environment, t, status, leads, n = op
        body = {"service": service, "environment": environment, "sha": sha(n), "status": status}
        if status == "started":
            body["started_at"] = at(t)
        else:
            body["finished_at"] = at(t)
            body["commits"] = [
                {"revision": sha(f"{n}-{i}"), **({"date": at(t - lead).isoformat()} if lead is not None else {})}
                for i, lead in enumerate(leads)
            ]
        try:
            ids.append(deploys_register.register(conn, DeployIn(**body), actor="test", now=now).deploy["id"])
        except DomainError:
            pass  # another deploy in progress, or a closed gate: refused, nothing written
    elif kind == "finish" and ids:
        try:
            deploys_service.transition(conn, deploy_id(op[1]), op[2], actor="test", now=now, finished_at=at(op[3] * 7))
        except DomainError:
            pass
    elif kind == "health" and ids:
        health_service.set_health(conn, deploy_id(op[1]), op[2], reason="test", actor="test", now=now)
    elif kind == "raw_health" and ids:
        conn.execute(update(deploys).where(deploys.c.id == deploy_id(op[1])).values(health_state=op[2]))
    elif kind == "raw_move" and ids:
        conn.execute(update(deploys).where(deploys.c.id == deploy_id(op[1])).values(deployed_at=at(op[2])))
    elif kind == "incident":
        health_service.report_incident(
            conn, key=f"INC-{op[2]}", state="triggered", environment="production", service=op[1], at=at(op[3]),
            title=None, url=None, actor="test", now=now,
        )
    elif kind == "resolve":
        if conn.execute(select(incidents.c.id).where(incidents.c.key == f"INC-{op[1]}")).first():
            try:
                health_service.report_incident(
                    conn, key=f"INC-{op[1]}", state="resolved", environment="production", service=None, at=at(op[2]),
                    title=None, url=None, actor="test", now=now,
                )
            except DomainError:
                pass  # a resolution before the trigger: 422, nothing written
    elif kind == "late_commits" and ids:
        d = conn.execute(select(deploys.c.id, deploys.c.sha, deploys.c.deployed_at).where(deploys.c.id == deploy_id(op[1]))).one()
        commits = [Commit(sha=sha(f"late-{d.id}-{i}"), timestamp=d.deployed_at - timedelta(minutes=30 * lead)) for i, lead in enumerate(op[2]) if lead is not None]
        changes_service.record(conn, Work(d.id, "", "", d.sha, None), "mirror", commits, None, None, r"[A-Z]+-\d+")
    elif kind == "refresh":
        refresh.refresh(conn, tz=zone, failure_states=failing, now=now)


def reference(conn, *, environment, service, since, until, bucket, tz, failing):
    """metrics.compute over everything, read back naively."""
    env_id = conn.execute(text("SELECT id FROM environments WHERE slug = :s"), {"s": environment}).scalar()
    svc_id = conn.execute(text("SELECT id FROM services WHERE slug = :s"), {"s": service}).scalar() if service else None
    had = {r.deploy_id for r in conn.execute(select(incidents.c.deploy_id).where(incidents.c.deploy_id.is_not(None)))}
    found = [
        metrics.Deploy(
            r.id, str(r.service_id), "e", r.deployed_at, r.status, "incident" if r.id in had else r.health_state,
            r.rollback_of is not None, r.dora_failure,
        )
        for r in conn.execute(select(deploys).where(deploys.c.environment_id == env_id))
        if svc_id is None or r.service_id == svc_id
    ]
    changes = [
        metrics.Change(r.deploy_id, r.committed_at, r.sha)
        for r in conn.execute(select(deploy_commits.c.deploy_id, deploy_commits.c.committed_at, deploy_commits.c.sha))
    ]
    found_incidents = [
        metrics.Incident(r.deploy_id, r.started_at, r.resolved_at)
        for r in conn.execute(select(incidents).where(incidents.c.deploy_id.is_not(None)))
    ]
    return metrics.compute(found, changes, found_incidents, since=since, until=until, bucket=bucket, tz=tz, failure_states=failing)


def naive_clip(conn, environment, since, until, zone):
    """SPEC §8.9: a range starting before the local day of the environment's first deploy starts there."""
    env_id = conn.execute(text("SELECT id FROM environments WHERE slug = :s"), {"s": environment}).scalar()
    times = [r.deployed_at for r in conn.execute(select(deploys).where(deploys.c.environment_id == env_id)) if r.status in rows.COUNTED]
    if not times:
        return since
    local = min(times).astimezone(ZoneInfo(zone))
    start = datetime(local.year, local.month, local.day, tzinfo=ZoneInfo(zone)).astimezone(UTC)
    return start if since < start < until else since


def stored_rows(conn):
    return sorted(
        (r.environment_id, r.service_id, r.day, r.deploys, r.failed, r.rework, r.unknown_commits, bytes(r.leads), bytes(r.recoveries))
        for r in conn.execute(select(dora_days))
    )


def rebuilt_rows(conn, zone, failing):
    p = refresh.plan_rebuild(conn, tz=zone, failure_states=failing, generation=0, mark_ids=[])
    out = []
    for (eid, sid), days in p.days.items():
        out += [to_row(eid, sid, day, t) for day, t in days.items() if t.deploys]
    for eid, days in p.environment_days.items():
        out += [to_row(eid, 0, day, t) for day, t in days.items() if t.deploys]
    return sorted(
        (r["environment_id"], r["service_id"], r["day"], r["deploys"], r["failed"], r["rework"], r["unknown_commits"], r["leads"], r["recoveries"])
        for r in out
    )


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    ops=OPS,
    ranges=RANGES,
    zone=st.sampled_from(ZONES),
    failing=st.sampled_from(FAILURE_STATES),
    whole=st.integers(1, 4),
    by_id=st.sampled_from((0, 2000)),
)
def test_reports_from_the_rollups_equal_the_exact_computation(db, monkeypatch, ops, ranges, zone, failing, whole, by_id):
    # Stale days of `whole` services or more are recomputed environment-wide, the others service by
    # service; incidents are read by deploy id or by joining the range (both ways get exercised).
    monkeypatch.setattr(rollups, "WHOLE_ENVIRONMENT", whole)
    monkeypatch.setattr(rows, "BY_ID", by_id)
    wipe(db)
    with db.write() as conn:
        conn.execute(delete(dora_marks))
        refresh.rebuild(conn, tz=zone, failure_states=failing)
    ids: list[int] = []
    for op in ops:
        with db.write() as conn:
            apply_op(conn, op, ids, zone, failing)

    with db.read() as conn:
        assert rollups.read_state(conn).serves(zone, failing)
        counted = conn.execute(select(func.count()).select_from(deploys).where(deploys.c.status.in_(rows.COUNTED))).scalar()
        event(f"counted deploys: {'none' if not counted else 'under 10' if counted < 10 else '10 or more'}")
        event("marks outstanding" if rollups.read_marks(conn) else "no marks outstanding")
        for start, length, bucket, service, environment in ranges:
            if not conn.execute(text("SELECT 1 FROM environments WHERE slug = :s"), {"s": environment}).first():
                continue
            if service and not conn.execute(text("SELECT 1 FROM services WHERE slug = :s"), {"s": service}).first():
                continue
            since, until = at(start), at(start + length)
            since = naive_clip(conn, environment, since, until, zone)
            kw = dict(environment=environment, service=service, since=since, until=until, bucket=bucket, tz=zone)
            expected = reference(conn, failing=failing, **kw)
            got = dora.report(conn, failure_states=failing, **kw)
            assert {k: v for k, v in got.items() if k in expected} == expected
            # ...and the raw path, which the report takes when the roll-ups serve other settings
            env_id, svc_id = dora._ids(conn, environment, service)
            starts = metrics.bucket_starts(since, until, bucket, zone)
            raw = rows.facts(conn, environment_id=env_id, service_id=svc_id, lo=since, hi=until, failure_states=failing)
            assert metrics.summarize(metrics.tally(raw, starts), starts, since=since, until=until) == expected

    with db.write() as conn:
        refresh.refresh(conn, tz=zone, failure_states=failing)
    with db.read() as conn:
        assert conn.execute(select(func.count()).select_from(dora_marks)).scalar() == 0
        assert stored_rows(conn) == rebuilt_rows(conn, zone, failing)


def test_it_marks_every_write_that_dora_reads(db):
    """Each trigger, on its own; and writes DORA does not read leave no mark."""
    now = at(0)
    with db.write() as conn:
        conn.execute(delete(dora_marks))
        deploy_id = deploys_register.register(
            conn,
            DeployIn(service="web", environment="production", sha=sha(1), finished_at=at(1), commits=[{"revision": sha(2), "date": at(0).isoformat()}]),
            actor="test",
            now=now,
        ).deploy["id"]

    def marks():
        with db.write() as conn:
            found = [(m.service_id, m.at) for m in rollups.read_marks(conn)]
            conn.execute(delete(dora_marks))
        return found

    assert {t for _, t in marks()} == {at(1)}  # the deploy and its commit
    steps = [
        ("UPDATE deploys SET health_state = 'unhealthy' WHERE id = :id", [at(1)]),
        ("UPDATE deploys SET health_state = 'unhealthy' WHERE id = :id", []),  # no change
        ("UPDATE deploys SET health_score = 0.5, health_detail = NULL WHERE id = :id", []),  # not read by DORA
        ("UPDATE deploys SET deployed_at = :later WHERE id = :id", [at(1), at(3)]),  # old and new place
        ("UPDATE deploy_commits SET committed_at = :later WHERE deploy_id = :id", [at(3)]),
        ("UPDATE deploy_commits SET message = 'x' WHERE deploy_id = :id", []),
        ("INSERT INTO incidents (key, environment, started_at, deploy_id) VALUES ('K', 'production', :later, :id)", [at(3)]),
        ("UPDATE incidents SET resolved_at = :later WHERE key = 'K'", [at(3)]),
        ("UPDATE incidents SET title = 'x' WHERE key = 'K'", []),
        ("DELETE FROM incidents WHERE key = 'K'", [at(3)]),
        ("DELETE FROM deploy_commits WHERE deploy_id = :id", [at(3)]),
        ("UPDATE deploys SET status = 'rolled_back' WHERE id = :id", [at(3)]),
        ("DELETE FROM deploys WHERE id = :id", [at(3)]),
    ]
    for statement, expected in steps:
        with db.write() as conn:
            sql = text(statement)
            if ":later" in statement:
                sql = sql.bindparams(bindparam("later", type_=UTCDateTime()))
            conn.execute(sql, {"id": deploy_id, "later": at(3)})
        assert {t for _, t in marks()} == set(expected), statement


def test_a_started_deploy_leaves_no_mark_until_it_reaches_production(db):
    with db.write() as conn:
        conn.execute(delete(dora_marks))
        deploy_id = deploys_register.register(
            conn, DeployIn(service="web", environment="production", sha=sha(1), status="started", started_at=at(0)), actor="t", now=at(0)
        ).deploy["id"]
        assert rollups.read_marks(conn) == []
        deploys_service.transition(conn, deploy_id, "succeeded", actor="t", now=at(1), finished_at=at(1))
        assert [m.at for m in rollups.read_marks(conn)] == [at(1)]


def test_a_report_reads_the_rollups_and_a_refresh_empties_the_marks(db):
    with db.write() as conn:
        for i in range(6):
            deploys_register.register(
                conn,
                DeployIn(service="web", environment="production", sha=sha(i), finished_at=at(10 * i), commits=[{"revision": sha(f"c{i}"), "date": at(10 * i - 3).isoformat()}]),
                actor="t",
                now=at(100),
            )
        refresh.rebuild(conn)
        assert rollups.read_marks(conn) == []
        # Tamper with a stored row: a report over whole days must now read it.
        conn.execute(update(dora_days).where(dora_days.c.service_id == 0).values(deploys=99))
    with db.read() as conn:
        tampered = dora.report(conn, since=datetime(2026, 3, 23, tzinfo=UTC), until=datetime(2026, 3, 26, tzinfo=UTC))
    assert tampered["deploy_frequency"]["count"] == 99 * len([b for b in tampered["series"] if b["deploys"]])


def test_the_triggers_exist_at_head(db):
    """SQLite drops a table's triggers with it: a later batch migration must recreate them."""
    with db.read() as conn:
        if db.is_sqlite:
            names = set(conn.execute(text("SELECT name FROM sqlite_master WHERE type = 'trigger'")).scalars())
        else:
            names = set(conn.execute(text("SELECT tgname FROM pg_trigger WHERE NOT tgisinternal")).scalars())
    for table in ("deploy", "commit", "incident"):
        for op in ("insert", "update", "delete"):
            assert f"dora_mark_{table}_{op}" in names


def test_the_migrations_create_what_the_models_describe(db):
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from shiplane.tables import metadata

    with db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), metadata)
    assert diff == []


@pytest.mark.parametrize("tz", ["UTC", "Europe/Berlin"])
def test_a_report_for_other_settings_reads_the_deploys(db, tz):
    with db.write() as conn:
        deploys_register.register(conn, DeployIn(service="web", environment="production", sha=sha(1), finished_at=at(2)), actor="t", now=at(3))
        refresh.rebuild(conn, tz="Asia/Tokyo")
    with db.read() as conn:
        kw = dict(since=at(-48), until=at(48), tz=tz)
        assert rollups.bucket_tallies(
            conn, environment_id=1, service_id=None, since=kw["since"], until=kw["until"],
            starts=metrics.bucket_starts(kw["since"], kw["until"], "day", tz), tz=tz, failure_states=("incident", "unhealthy"),
        ) is None
        assert dora.report(conn, **kw)["deploy_frequency"]["count"] == 1


def test_the_api_folds_the_marks_in_before_it_reports(bob, db):
    for n in range(3):
        body = {"service": "web", "environment": "production", "sha": sha(n), "finished_at": at(2 * n).isoformat()}
        assert bob.post("/api/v1/deploys", json=body).status_code == 201
    r = bob.get("/api/v1/dora", params={"since": "2026-03-20", "until": "2026-03-27"})
    assert r.json()["deploy_frequency"]["count"] == 3
    with db.read() as conn:
        assert rollups.read_state(conn).serves("UTC", ("incident", "unhealthy"))  # built by the first report
        assert rollups.read_marks(conn) == []
        assert conn.execute(select(func.sum(dora_days.c.deploys)).where(dora_days.c.service_id == 0)).scalar() == 3


def test_a_large_rebuild_runs_in_the_background(db, monkeypatch):
    monkeypatch.setattr(refresh, "BIG", 0)
    with db.write() as conn:
        conn.execute(delete(dora_marks))
        deploys_register.register(conn, DeployIn(service="web", environment="production", sha=sha(1), finished_at=at(2)), actor="t", now=at(3))
    refresher = refresh.Refresher(db, "Europe/Berlin", ("incident", "unhealthy"))

    async def go():
        await refresher.refresh()  # returns at once...
        assert refresher._rebuild is not None
        await refresher._rebuild  # ...and the rebuild finishes in the background

    asyncio.run(go())
    with db.read() as conn:
        assert rollups.read_state(conn).serves("Europe/Berlin", ("incident", "unhealthy"))
        assert conn.execute(select(func.count()).select_from(dora_days)).scalar() == 2  # the service and the environment
        assert rollups.read_marks(conn) == []


def test_a_recovery_after_the_range_by_a_deploy_with_an_incident_counts_as_the_definitions_say(db):
    # With failure_states = ["unhealthy"], a deploy with an incident counts with health "incident":
    # not failing, so it restores, whatever health it was left with.
    failing = ("unhealthy",)
    with db.write() as conn:
        a = deploys_register.register(conn, DeployIn(service="web", environment="production", sha=sha(1), finished_at=at(2)), actor="t", now=at(3)).deploy["id"]
        b = deploys_register.register(conn, DeployIn(service="web", environment="production", sha=sha(2), finished_at=at(100)), actor="t", now=at(101)).deploy["id"]
        conn.execute(update(deploys).where(deploys.c.id.in_([a, b])).values(health_state="unhealthy"))
        conn.execute(text("INSERT INTO incidents (key, environment, started_at, deploy_id) VALUES ('K', 'production', :t, :b)").bindparams(bindparam("t", type_=UTCDateTime())), {"t": at(100), "b": b})
    with db.read() as conn:
        kw = dict(environment="production", service=None, since=at(0), until=at(48), bucket="day", tz="UTC")
        expected = reference(conn, failing=failing, **kw)
        assert expected["recovery_time"]["median_seconds"] == 98 * 1800
        got = dora.report(conn, failure_states=failing, **kw)
        assert {k: v for k, v in got.items() if k in expected} == expected
