"""Rollbacks pass health blockers; the cooldown blocker (§8.1), on both databases."""

from datetime import UTC, datetime, timedelta

import pytest

from shiplane import clock
from shiplane.enforcement import statuses
from shiplane.locks import service as locks
from shiplane.settings import Config
from tests.conftest import sha


@pytest.fixture
def config(request) -> Config:
    return Config.model_validate(getattr(request, "param", {}))


def with_config(data):
    return pytest.mark.parametrize("config", [data], indirect=True, ids=["config"])


def deploy(api, n, **kw):
    return api.post("/api/v1/deploys", json={"service": "web", "environment": "production", "sha": sha(n)} | kw)


def events_of(api, kind):
    return api.get("/api/v1/events", params={"kind": kind}).json()["items"]


def bad_deploy_with_auto_lock(bob, db):
    """sha 1 went out fine, sha 2 turned unhealthy and the judge locked production."""
    deploy(bob, 1)
    bad = deploy(bob, 2).json()
    assert bob.post(f"/api/v1/deploys/{bad['id']}/health", json={"state": "unhealthy", "note": "5xx up"}).status_code == 200
    with db.write() as conn:
        locks.create_auto(conn, environment="production", service=None, reason=f"web #{bad['id']} unhealthy", deploy_id=bad["id"], now=clock.now())
    return bad


def test_a_rollback_goes_through_an_auto_lock_and_an_unhealthy_deploy(bob, db):
    bad_deploy_with_auto_lock(bob, db)
    blocked = deploy(bob, 3, status="started")
    assert blocked.status_code == 423  # not a rollback: it needs an override
    assert sorted(b["kind"] for b in blocked.json()["blockers"]) == ["lock", "unhealthy"]
    assert [b.get("lock_kind") for b in blocked.json()["blockers"] if b["kind"] == "lock"] == ["auto"]

    r = deploy(bob, 1, status="started")  # sha 1 was deployed here before: a rollback
    assert r.status_code == 201, r.json()
    rollback = r.json()
    assert rollback["override"] is None and rollback["during_lock"] is False
    (allowed,) = events_of(bob, "rollback_allowed")
    assert allowed["deploy_id"] == rollback["id"] and allowed["actor"] == "token:bob"
    assert allowed["data"]["passed"] == ["auto", "unhealthy"]
    assert sorted(b["kind"] for b in allowed["data"]["blockers"]) == ["lock", "unhealthy"]
    assert events_of(bob, "override") == []


def test_a_body_that_says_rollback_counts_as_one(bob, db):
    bad_deploy_with_auto_lock(bob, db)
    r = deploy(bob, 9, status="started", rollback=True)  # e.g. a revert commit: a new sha
    assert r.status_code == 201 and events_of(bob, "rollback_allowed")[0]["deploy_id"] == r.json()["id"]


def test_a_manual_lock_still_refuses_a_rollback(bob, db):
    bad_deploy_with_auto_lock(bob, db)
    assert bob.post("/api/v1/locks", json={"environment": "production", "service": "web", "reason": "Investigating"}).status_code == 201
    r = deploy(bob, 1, status="started")
    assert r.status_code == 423 and "lock" in {b["kind"] for b in r.json()["blockers"]}
    assert events_of(bob, "rollback_allowed") == []
    ok = deploy(bob, 1, status="started", override_reason="roll back the bad deploy")
    assert ok.status_code == 201 and ok.json()["override"]["reason"] == "roll back the bad deploy"


@with_config({"gate": {"rollback_passes": []}})
def test_rollback_passes_empty_turns_it_off(bob, db):
    bad_deploy_with_auto_lock(bob, db)
    assert deploy(bob, 1, status="started").status_code == 423


@with_config({"gate": {"rollback_passes": ["unhealthy"]}})
def test_rollback_passes_lists_what_may_be_passed(bob, db):
    bad_deploy_with_auto_lock(bob, db)
    r = deploy(bob, 1, status="started")
    assert r.status_code == 423  # the auto lock is not in the list
    assert sorted(b["kind"] for b in r.json()["blockers"]) == ["lock", "unhealthy"]


# ---------------------------------------------------------------- cooldown

COOL = {"environments": [{"slug": "production", "cooldown": "15m"}]}


@with_config(COOL)
def test_a_cooldown_follows_each_finished_deploy_of_the_service(bob):
    finished = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    d = deploy(bob, 1, started_at=(finished - timedelta(minutes=2)).isoformat(), finished_at=finished.isoformat()).json()
    g = bob.get("/api/v1/gate", params={"environment": "production", "service": "web"}).json()
    (b,) = g["blockers"]
    assert (b["kind"], b["deploy_id"]) == ("cooldown", d["id"])
    assert b["since"] == finished.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert b["until"] == (finished + timedelta(minutes=15)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert g["next_change_at"] == b["until"]
    # other services and the environment-wide gate do not wait
    assert bob.get("/api/v1/gate", params={"environment": "production", "service": "api"}).json()["allowed"] is True
    assert bob.get("/api/v1/gate", params={"environment": "production"}).json()["allowed"] is True
    # the what-if sees it end
    later = bob.get("/api/v1/gate", params={"environment": "production", "service": "web", "at": b["until"]}).json()
    assert later["allowed"] is True

    r = deploy(bob, 2, status="started")
    assert r.status_code == 423 and [x["kind"] for x in r.json()["blockers"]] == ["cooldown"]
    assert deploy(bob, 2, status="started", rollback=True).status_code == 201  # a rollback passes it


@with_config(COOL)
def test_a_deploy_registered_as_finished_closes_a_cached_open_gate_at_once(bob):
    """The gate's answer is cached for up to a second; a finished deploy must not wait for that."""
    gate = {"environment": "production", "service": "web"}
    assert bob.get("/api/v1/gate", params=gate).json()["allowed"] is True  # now cached as open
    d = deploy(bob, 1, finished_at=datetime.now(UTC).isoformat()).json()
    g = bob.get("/api/v1/gate", params=gate).json()
    assert g["allowed"] is False and [(b["kind"], b["deploy_id"]) for b in g["blockers"]] == [("cooldown", d["id"])]


@with_config(COOL)
def test_an_old_deploy_leaves_no_cooldown(bob):
    finished = datetime.now(UTC) - timedelta(minutes=16)
    deploy(bob, 1, finished_at=finished.isoformat(), started_at=(finished - timedelta(minutes=1)).isoformat())
    assert bob.get("/api/v1/gate", params={"environment": "production", "service": "web"}).json()["allowed"] is True


def test_a_cooldown_is_not_mirrored_to_pull_requests():
    cooling = [{"kind": "cooldown", "reason": "cooldown after deploy #3 (15 min)", "by": "token:ci"}]
    assert statuses.desired(blockers=cooling, environment="Production", context="shiplane", target_url="").state == "success"


@pytest.mark.parametrize("value", ["soon", "0s", "-5m"])
def test_a_cooldown_must_be_a_positive_duration(value):
    with pytest.raises(ValueError, match="cooldown"):
        Config.model_validate({"environments": [{"slug": "production", "cooldown": value}]})
