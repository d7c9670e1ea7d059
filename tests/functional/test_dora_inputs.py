"""Issue 19, "Why": one named regression test per input DORA was fed wrong (SPEC §8.9), on both databases.

Each test registers deploys through the API as a user would, then reads GET /api/v1/dora
(or the deploy objects) and checks the figure the issue said was wrong.
"""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from shiplane.dora import refresh
from shiplane.tables.deploys import deploys
from shiplane.tables.health import incidents
from tests.conftest import sha

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)  # a Monday
H = 3600.0
RANGE = {"since": "2026-11-02", "until": "2026-11-09"}


def deploy(api, n, at, *, service="web", commits=None, status="succeeded", expect=201, **extra):
    body = {"service": service, "environment": "production", "sha": sha(n), "status": status, **extra}
    if status == "started":
        body["started_at"] = at.isoformat()
    else:
        body["finished_at"] = at.isoformat()
    if commits is not None:
        body["commits"] = commits
    r = api.post("/api/v1/deploys", json=body)
    assert r.status_code == expect, r.text
    return r.json()


def commit(name, at=None):
    return {"revision": sha(f"commit-{name}"), "message": name, **({"date": at.isoformat()} if at else {})}


def healthy(db, *ids, state="healthy"):
    with db.write() as conn:
        conn.execute(update(deploys).where(deploys.c.id.in_(ids)).values(health_state=state))


def dora(api, **params):
    r = api.get("/api/v1/dora", params=RANGE | params)
    assert r.status_code == 200, r.text
    return r.json()


# --- Why 1: duplicate commits count once per environment and service -------------------------


def test_why1_a_commit_shipped_twice_counts_once_for_its_first_shipper(bob):
    c = commit("a", T0 - timedelta(hours=2))
    deploy(bob, 1, T0, commits=[c])
    deploy(bob, 2, T0 + timedelta(hours=10), commits=[c, commit("b", T0 + timedelta(hours=9))])
    d = dora(bob)
    # 2 h for the first shipper, 1 h for b; the repeat of a (12 h) does not count.
    assert d["lead_time"]["median_seconds"] == pytest.approx(1.5 * H)
    assert d["lead_time"]["p90_seconds"] == pytest.approx(1.9 * H)


def test_why1_a_backdated_first_shipper_takes_the_commit_and_the_rollups_follow_at_once(bob, db):
    c = commit("a", T0 - timedelta(hours=5))
    deploy(bob, 1, T0 + timedelta(days=2), commits=[c])  # 53 h
    with db.write() as conn:
        refresh.rebuild(conn, tz="UTC")
    assert dora(bob)["lead_time"]["median_seconds"] == pytest.approx(53 * H)
    deploy(bob, 2, T0, commits=[c])  # backdated: it shipped the commit first, 5 h
    d = dora(bob)
    assert d["lead_time"]["median_seconds"] == pytest.approx(5 * H)
    assert d["series"][2]["median_lead_time_seconds"] is None  # the later deploy's day lost it
    # ...and after the roll-ups folded the marks in, still.
    with db.write() as conn:
        refresh.refresh(conn, tz="UTC", failure_states=("incident", "unhealthy"))
    assert dora(bob)["lead_time"]["median_seconds"] == pytest.approx(5 * H)


def test_a_commit_listed_twice_in_one_deploy_is_stored_once_as_first_listed(bob):
    """Found by the reference model on PostgreSQL: which date counted depended on row order."""
    first, again = commit("a", T0 - timedelta(hours=2)), commit("a", T0 - timedelta(hours=30))
    d = deploy(bob, 1, T0, commits=[first, commit("b", T0 - timedelta(hours=1)), again])
    changes = bob.get(f"/api/v1/deploys/{d['id']}").json()["changes"]
    assert [c["sha"] for c in changes["commits"]] == [first["revision"], sha("commit-b")]
    assert changes["commit_count"] == 2  # the batch size counts it once too
    assert dora(bob)["lead_time"]["median_seconds"] == pytest.approx(1.5 * H)


def test_why1_each_environment_counts_the_commit_once(bob):
    c = commit("a", T0 - timedelta(hours=1))
    deploy(bob, 1, T0, commits=[c], environment="staging")
    deploy(bob, 1, T0 + timedelta(hours=3), commits=[c])
    assert dora(bob)["lead_time"]["median_seconds"] == pytest.approx(4 * H)
    assert dora(bob, environment="staging")["lead_time"]["median_seconds"] == pytest.approx(1 * H)


def test_why5_a_commit_without_a_date_is_counted_as_unknown(bob):
    deploy(bob, 1, T0, commits=[commit("dated", T0 - timedelta(hours=1)), commit("undated")])
    deploy(bob, 2, T0 + timedelta(hours=1), commits=[commit("undated")])  # the same commit again: still one
    lead = dora(bob)["lead_time"]
    assert lead["median_seconds"] == pytest.approx(H)
    assert lead["unknown_commits"] == 1


# --- Why 2: idempotency compares times ----------------------------------------------------


def test_why2_a_newest_first_backfill_keeps_every_deploy(bob, db):
    third = deploy(bob, 1, T0 + timedelta(hours=2))
    second = deploy(bob, 2, T0 + timedelta(hours=1))
    first = deploy(bob, 1, T0)  # same sha as the latest, other time: another deploy
    assert len({third["id"], second["id"], first["id"]}) == 3
    healthy(db, third["id"], first["id"])
    healthy(db, second["id"], state="unhealthy")
    cfr = dora(bob)["change_failure_rate"]
    assert (cfr["failed"], cfr["total"]) == (1, 3)


def test_why2_the_same_times_are_still_an_idempotent_repeat(bob):
    once = deploy(bob, 1, T0)
    r = bob.post("/api/v1/deploys", json={"service": "web", "environment": "production", "sha": sha(1), "finished_at": T0.isoformat()})
    assert r.status_code == 200 and r.json()["id"] == once["id"]
    r = bob.post("/api/v1/deploys", json={"service": "web", "environment": "production", "sha": sha(1)})
    assert r.status_code == 200 and r.json()["id"] == once["id"]  # no times sent: a repeat


def test_why2_a_status_change_of_the_latest_is_the_same_deploy_whatever_the_times(bob):
    started = deploy(bob, 1, T0, status="started")
    done = deploy(bob, 1, T0 + timedelta(minutes=5), expect=200)
    assert done["id"] == started["id"] and done["status"] == "succeeded"


# --- Why 3 and 5: rollbacks ---------------------------------------------------------------


def test_why3_rollback_of_never_points_at_a_later_deploy(bob):
    deploy(bob, 1, T0 + timedelta(hours=5))  # a later deploy of sha 1
    deploy(bob, 2, T0 + timedelta(hours=1))
    backdated = deploy(bob, 1, T0 + timedelta(hours=2))  # sha 1 before its later deploy
    assert backdated["rollback_of"] is None and "rollback" not in backdated["tags"]
    early = deploy(bob, 1, T0)
    again = deploy(bob, 1, T0 + timedelta(hours=3))  # after deploy of sha 1 at +2 h, sha 1 again
    assert early["rollback_of"] is None and again["rollback_of"] is None


def test_why3_rollback_of_points_at_the_latest_earlier_deploy_of_the_sha(bob):
    a = deploy(bob, 1, T0)
    deploy(bob, 2, T0 + timedelta(hours=1))
    rollback = deploy(bob, 1, T0 + timedelta(hours=2))
    assert rollback["rollback_of"] == a["id"] and "rollback" in rollback["tags"]


def test_why5_rolling_forward_to_a_rolled_back_sha_is_not_a_rollback(bob, db):
    deploy(bob, 1, T0)
    b = deploy(bob, 2, T0 + timedelta(hours=1))
    r = deploy(bob, 1, T0 + timedelta(hours=1, minutes=10))  # roll back b after 10 min
    forward = deploy(bob, 2, T0 + timedelta(hours=8))  # the fix is b's sha again
    assert r["rollback_of"] is not None
    assert forward["rollback_of"] is None and "rollback" not in forward["tags"]
    healthy(db, r["id"], forward["id"])
    d = dora(bob)
    assert d["change_failure_rate"]["failed"] == 1  # b only; the rollback r did not fail
    assert d["recovery_time"]["median_seconds"] == pytest.approx(600)  # 10 min, not 7 h
    assert bob.get(f"/api/v1/deploys/{b['id']}").json()["status"] == "rolled_back"


def test_why5_a_rollback_across_several_deploys_counts_one_failure(bob, db):
    deploy(bob, 1, T0)
    b = deploy(bob, 2, T0 + timedelta(hours=1))
    c = deploy(bob, 3, T0 + timedelta(hours=2))
    d_ = deploy(bob, 4, T0 + timedelta(hours=3))
    r = deploy(bob, 1, T0 + timedelta(hours=4))
    healthy(db, b["id"], c["id"], d_["id"], r["id"])
    got = {i: bob.get(f"/api/v1/deploys/{i}").json() for i in (b["id"], c["id"], d_["id"])}
    assert {x["status"] for x in got.values()} == {"rolled_back"}
    assert got[d_["id"]]["dora_failure"] == f"rolled back by #{r['id']}"
    assert got[b["id"]]["dora_failure"] is None and got[c["id"]]["dora_failure"] is None
    cfr = dora(bob)["change_failure_rate"]
    assert (cfr["failed"], cfr["total"]) == (1, 5)
    # ...unless a deploy's own health says so.
    healthy(db, b["id"], state="unhealthy")
    assert dora(bob)["change_failure_rate"]["failed"] == 2


def test_a_rollback_by_hand_fails_the_deploy(bob, alice):
    a = deploy(bob, 1, T0)
    r = alice.request("PATCH", f"/api/v1/deploys/{a['id']}", json={"status": "rolled_back"})
    assert r.status_code == 200, r.text
    assert r.json()["dora_failure"] == "rolled back by token:alice"
    assert dora(bob)["change_failure_rate"]["failed"] == 1


# --- Why 5: incidents ------------------------------------------------------------------------


def incident(api, key, state, at, service="web", expect=None):
    r = api.post("/api/v1/incidents", json={"environment": "production", "service": service, "key": key, "state": state, "at": at.isoformat()})
    if expect is not None:
        assert r.status_code == expect, r.text
    return r


def test_why5_an_incident_after_a_failed_deploy_attaches_to_the_live_deploy(bob, db):
    live = deploy(bob, 1, T0)
    failed = deploy(bob, 2, T0 + timedelta(hours=1), status="failed")
    healthy(db, live["id"])
    r = incident(bob, "INC-1", "triggered", T0 + timedelta(hours=2), expect=201)
    assert r.json()["deploy_id"] == live["id"] != failed["id"]
    cfr = dora(bob)["change_failure_rate"]
    assert (cfr["failed"], cfr["total"]) == (1, 1)
    gate = bob.get("/api/v1/gate", params={"environment": "production", "service": "web"}).json()
    assert [b["kind"] for b in gate["blockers"]] == ["unhealthy"] and gate["blockers"][0]["deploy_id"] == live["id"]


def test_the_gate_ignores_an_unhealthy_deploy_that_never_went_live(bob, db):
    live = deploy(bob, 1, T0)
    failed = deploy(bob, 2, T0 + timedelta(hours=1), status="failed")
    healthy(db, live["id"])
    healthy(db, failed["id"], state="unhealthy")
    gate = bob.get("/api/v1/gate", params={"environment": "production", "service": "web"}).json()
    assert gate["allowed"], gate


def test_why5_a_resolution_before_its_trigger_is_422(bob, db):
    deploy(bob, 1, T0)
    incident(bob, "INC-1", "triggered", T0 + timedelta(hours=2), expect=201)
    r = incident(bob, "INC-1", "resolved", T0 + timedelta(hours=1), expect=422)
    assert "at" in r.json()["fields"]
    with db.read() as conn:
        assert conn.execute(select(incidents.c.resolved_at)).scalar() is None


# --- Why 5: open failures, the window; Why 4: ranges ----------------------------------------


def test_why5_open_failures_are_reported_beside_the_recovery_median(bob, db):
    a = deploy(bob, 1, T0)
    b = deploy(bob, 2, T0 + timedelta(hours=1))
    c = deploy(bob, 3, T0 + timedelta(hours=3))
    healthy(db, a["id"], state="unhealthy")
    healthy(db, b["id"])
    healthy(db, c["id"], state="unhealthy")  # nothing after it: still open
    rec = dora(bob)["recovery_time"]
    assert rec["median_seconds"] == pytest.approx(H) and rec["open"] == 1


@pytest.mark.parametrize("days,status", [(1096, 200), (1097, 422)])
def test_why4_a_range_may_span_at_most_1096_days(bob, days, status):
    deploy(bob, 1, T0)
    since = datetime(2024, 1, 1, tzinfo=UTC)
    r = bob.get("/api/v1/dora", params={"since": since.date().isoformat(), "until": (since + timedelta(days=days)).date().isoformat()})
    assert r.status_code == status, r.text
    if status == 422:
        assert "since" in r.json()["fields"]


def test_why7_a_long_range_starts_where_tracking_began(bob):
    deploy(bob, 1, T0 + timedelta(days=3, hours=5))  # Thu 14:00 UTC; the first deploy here
    deploy(bob, 2, T0 + timedelta(days=4))
    d = bob.get("/api/v1/dora", params={"since": "2026-08-01", "until": "2026-11-09"}).json()
    assert d["since"] == "2026-11-05T00:00:00Z" and d["clipped"] is True
    assert d["deploy_frequency"]["per_day"] == pytest.approx(2 / 4)
    assert d["series"][0]["start"] == "2026-11-05T00:00:00Z"
    # A range that starts after tracking began is left alone.
    later = bob.get("/api/v1/dora", params={"since": "2026-11-06", "until": "2026-11-09"}).json()
    assert later["since"] == "2026-11-06T00:00:00Z" and later["clipped"] is False
