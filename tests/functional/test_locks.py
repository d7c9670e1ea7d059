"""Locks, the gate and enforcement at intake, through the API, on both databases."""

import time
from datetime import UTC, datetime, timedelta

import pytest

from shiplane.settings import Config
from tests.conftest import sha


def lock(api, **kw):
    return api.post("/api/v1/locks", json={"environment": "production", "reason": "DB migration"} | kw)


def gate(api, **params):
    return api.get("/api/v1/gate", params={"environment": "production"} | params)


def start(api, n=1, **kw):
    return api.post(
        "/api/v1/deploys", json={"service": "web", "environment": "production", "sha": sha(n), "status": "started"} | kw
    )


def test_it_locks_and_unlocks_with_reasons(bob, alice):
    r = lock(bob)
    assert r.status_code == 201
    lk = r.json()
    assert (lk["environment"], lk["service"], lk["kind"], lk["reason"], lk["created_by"], lk["active"]) == (
        "production",
        None,
        "manual",
        "DB migration",
        "token:bob",
        True,
    )
    r = alice.delete(f"/api/v1/locks/{lk['id']}", params={"note": "migration done"})
    assert r.status_code == 200
    ended = r.json()
    assert (ended["ended_by"], ended["end_note"], ended["active"]) == ("token:alice", "migration done", False)
    assert ended["ended_at"]
    again = alice.delete(f"/api/v1/locks/{lk['id']}")
    assert again.status_code == 409 and again.json()["error"] == "lock_already_ended"
    kinds = [e["kind"] for e in alice.get("/api/v1/events").json()["items"] if e["kind"].startswith("lock")]
    assert kinds == ["lock_created", "lock_ended"]


def test_one_active_manual_lock_per_scope(bob):
    first = lock(bob).json()
    r = lock(bob, reason="again")
    assert r.status_code == 409
    assert r.json()["error"] == "already_locked" and r.json()["lock"]["id"] == first["id"]
    # a narrower scope is another scope
    assert lock(bob, service="web", reason="web only").status_code == 201
    assert lock(bob, environment="staging").status_code == 201


def test_it_lists_locks_with_filters(bob):
    a = lock(bob).json()
    b = lock(bob, service="web", reason="web only").json()
    bob.delete(f"/api/v1/locks/{a['id']}")
    active = bob.get("/api/v1/locks?active=true").json()["items"]
    past = bob.get("/api/v1/locks?active=false").json()["items"]
    assert [x["id"] for x in active] == [b["id"]] and [x["id"] for x in past] == [a["id"]]
    assert [x["id"] for x in bob.get("/api/v1/locks?service=web").json()["items"]] == [b["id"]]
    assert len(bob.get("/api/v1/locks?environment=production").json()["items"]) == 2


@pytest.mark.parametrize(
    "body,field",
    [
        ({"environment": "production", "reason": "   "}, "reason"),
        ({"environment": "production"}, "reason"),
        ({"environment": "production", "reason": "x" * 1001}, "reason"),
        ({"environment": "Prod!", "reason": "x"}, "environment"),
        ({"environment": "production", "reason": "x", "expires_at": "soon"}, "expires_at"),
    ],
)
def test_bad_locks_are_422_naming_the_field(bob, body, field):
    r = bob.post("/api/v1/locks", json=body)
    assert r.status_code == 422 and field in r.json()["fields"], r.json()
    assert bob.get("/api/v1/locks").json()["items"] == []


def test_a_lock_must_expire_in_the_future(bob):
    r = lock(bob, expires_at="2020-01-01T00:00:00Z")
    assert r.status_code == 422 and "expires_at" in r.json()["fields"]


def test_viewers_cannot_lock(charlie):
    assert lock(charlie).status_code == 403


def test_an_expired_lock_stops_blocking(bob):
    expires = datetime.now(UTC) + timedelta(seconds=1)
    lk = lock(bob, expires_at=expires.isoformat()).json()
    assert gate(bob).json()["next_change_at"] is not None
    time.sleep(1.2)
    assert gate(bob).json()["allowed"] is True
    assert bob.get("/api/v1/locks?active=true").json()["items"] == []
    assert bob.delete(f"/api/v1/locks/{lk['id']}").status_code == 409
    assert lock(bob, reason="new one").status_code == 201  # the expired one no longer holds the scope


# ---------------------------------------------------------------- the gate


def test_the_gate_shows_lock_blockers(bob, charlie):
    assert gate(charlie, service="web").json()["allowed"] is True
    lk = lock(bob).json()
    g = gate(charlie, service="web").json()
    assert g["allowed"] is False and g["service"] == "web" and g["environment"] == "production"
    (b,) = g["blockers"]
    assert (b["kind"], b["reason"], b["by"], b["lock_id"]) == ("lock", "DB migration", "token:bob", lk["id"])
    assert g["next_change_at"] is None


def test_a_service_lock_blocks_only_that_service(bob):
    lock(bob, service="web")
    assert gate(bob, service="web").json()["allowed"] is False
    assert gate(bob, service="api").json()["allowed"] is True
    assert gate(bob).json()["allowed"] is True  # the environment as a whole is open


def test_the_gate_shows_a_deploy_in_progress(bob):
    d = start(bob).json()
    (b,) = gate(bob, service="web").json()["blockers"]
    assert (b["kind"], b["deploy_id"]) == ("in_progress", d["id"])
    bob.patch(f"/api/v1/deploys/{d['id']}", json={"status": "succeeded"})
    assert gate(bob, service="web").json()["allowed"] is True


def test_the_gate_of_an_unknown_environment_is_its_schedule(bob):
    g = bob.get("/api/v1/gate?environment=nowhere&service=ghost").json()
    assert g["allowed"] is True and g["blockers"] == []


@pytest.mark.parametrize(
    "query,field",
    [("", "environment"), ("?environment=Bad Env", "environment"), ("?environment=p&at=tomorrow", "at"), ("?environment=p&service=A!", "service")],
)
def test_bad_gate_queries_are_422(bob, query, field):
    r = bob.get(f"/api/v1/gate{query}")
    assert r.status_code == 422 and field in r.json()["fields"]


def test_the_gate_needs_a_token(anon):
    assert gate(anon).status_code == 401
    assert gate(anon, headers=None).json()["error"] == "unauthorized"


class TestSchedules:
    @pytest.fixture
    def config(self):
        return Config.model_validate(
            {
                "windows": [{"environments": ["production"], "start": "09:00", "end": "15:30", "timezone": "America/Los_Angeles"}],
                "freezes": [{"environments": ["staging"], "start": "2000-01-01T00:00", "end": "2100-01-01T00:00", "reason": "Staging is retired"}],
                "holidays": [{"environments": ["production"], "country": "US", "eve": True, "timezone": "America/Los_Angeles"}],
            }
        )

    def test_what_if_shows_the_window(self, bob):
        g = gate(bob, at="2026-11-24T23:45:00Z").json()  # Tuesday 15:45 PST
        assert g["allowed"] is False and g["at"] == "2026-11-24T23:45:00Z"
        (b,) = g["blockers"]
        assert b["kind"] == "window" and b["until"] == "2026-11-25T17:00:00Z"
        # ... but Wednesday is the eve of Thanksgiving and Thursday is Thanksgiving: Friday 09:00 PST.
        assert g["next_change_at"] == "2026-11-27T17:00:00Z"
        g = gate(bob, at="2026-11-30T18:00:00Z").json()
        assert g["allowed"] is True and g["next_change_at"] == "2026-11-30T23:30:00Z"

    def test_holiday_blockers_name_the_holiday(self, bob):
        (b,) = gate(bob, at="2026-12-24T18:00:00Z").json()["blockers"]
        assert (b["kind"], b["reason"]) == ("holiday", "Eve of Christmas Day")
        assert (b["since"], b["until"]) == ("2026-12-24T08:00:00Z", "2026-12-25T08:00:00Z")

    def test_intake_enforces_schedules(self, bob):
        r = bob.post("/api/v1/deploys", json={"service": "web", "environment": "staging", "sha": sha(1), "status": "started"})
        assert r.status_code == 423
        assert [b["reason"] for b in r.json()["blockers"]] == ["Staging is retired"]


# ---------------------------------------------------------------- enforcement at intake


def test_a_start_through_a_closed_gate_is_423_with_blockers(bob):
    lock(bob)
    r = start(bob)
    assert r.status_code == 423
    body = r.json()
    assert body["error"] == "locked" and body["blockers"][0]["reason"] == "DB migration"
    assert bob.get("/api/v1/deploys").json()["items"] == []


def test_an_override_goes_through_and_is_audited(bob):
    lock(bob)
    r = start(bob, override_reason="hotfix for INC-42")
    assert r.status_code == 201
    d = r.json()
    assert d["override"] == {"reason": "hotfix for INC-42", "by": "token:bob"}
    (e,) = bob.get("/api/v1/events?kind=override").json()["items"]
    assert (e["deploy_id"], e["actor"], e["data"]["reason"]) == (d["id"], "token:bob", "hotfix for INC-42")
    assert e["data"]["blockers"][0]["kind"] == "lock"


def test_after_the_fact_records_are_kept_and_flagged(bob):
    lock(bob)
    r = bob.post("/api/v1/deploys", json={"service": "web", "environment": "production", "sha": sha(1), "status": "succeeded"})
    assert r.status_code == 201 and r.json()["during_lock"] is True
    r = bob.post("/api/v1/deploys", json={"service": "web", "environment": "production", "sha": sha(2), "status": "failed"})
    assert r.status_code == 201 and r.json()["during_lock"] is True


def test_in_progress_takes_precedence_over_locked(bob):
    start(bob)
    lock(bob)
    r = start(bob, n=2)
    assert r.status_code == 409 and r.json()["error"] == "deploy_in_progress"


def test_a_service_lock_does_not_block_other_services(bob):
    lock(bob, service="api")
    assert start(bob).status_code == 201
