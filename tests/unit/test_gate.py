"""The gate as a pure function: plain data in, answer out, no clock."""

from datetime import UTC, datetime, timedelta

from shiplane.locks.calendar import compile_schedule
from shiplane.locks.gate import DeployInfo, GateInputs, LockInfo, evaluate
from shiplane.settings import Config

Z = UTC
NOW = datetime(2026, 11, 25, 18, 0, tzinfo=Z)  # Wednesday 10:00 in Los Angeles


def scoped(**sections):
    return compile_schedule(Config.model_validate(sections)).for_scope("production", "web")


WINDOW = {"windows": [{"start": "09:00", "end": "15:30", "timezone": "America/Los_Angeles"}]}


def lock(i=1, expires=None, service=None):
    return LockInfo(i, "manual", "DB migration", "alice", NOW - timedelta(hours=1), expires, service)


def test_an_empty_gate_is_open_forever():
    g = evaluate(GateInputs("production", "web", scoped()), NOW)
    assert (g.allowed, g.blockers, g.next_change_at) == (True, (), None)


def test_it_is_open_inside_the_window_until_it_closes():
    g = evaluate(GateInputs("production", "web", scoped(**WINDOW)), NOW)
    assert g.allowed and g.next_change_at == datetime(2026, 11, 25, 23, 30, tzinfo=Z)


def test_a_lock_blocks_with_reason_by_and_since():
    g = evaluate(GateInputs("production", "web", scoped(), (lock(),)), NOW)
    assert not g.allowed
    (b,) = g.to_dict()["blockers"]
    assert b == {
        "kind": "lock",
        "reason": "DB migration",
        "since": "2026-11-25T17:00:00Z",
        "until": None,
        "by": "alice",
        "lock_id": 1,
        "deploy_id": None,
        "lock_kind": "manual",
    }
    assert g.next_change_at is None  # nothing but a human can open it


def test_an_expiring_lock_opens_the_gate_when_it_expires():
    g = evaluate(GateInputs("production", "web", scoped(), (lock(expires=NOW + timedelta(minutes=30)),)), NOW)
    assert not g.allowed and g.next_change_at == NOW + timedelta(minutes=30)


def test_a_lock_expiring_outside_the_window_opens_at_the_next_window():
    g = evaluate(GateInputs("production", "web", scoped(**WINDOW), (lock(expires=NOW + timedelta(hours=8)),)), NOW)
    assert g.next_change_at == datetime(2026, 11, 26, 17, 0, tzinfo=Z)  # Thursday 09:00 PST


def test_an_expired_lock_no_longer_blocks():
    g = evaluate(GateInputs("production", "web", scoped(), (lock(expires=NOW),)), NOW)
    assert g.allowed


def test_deploys_in_progress_and_unhealthy_deploys_block_until_someone_acts():
    running = DeployInfo(7, "abcdef1234567890", NOW - timedelta(minutes=3), "token:ci")
    sick = DeployInfo(6, "1234567abcdef", NOW - timedelta(hours=1), None, "web #6 unhealthy: 5xx rate +340%")
    g = evaluate(GateInputs("production", "web", scoped(**WINDOW), (), running, sick), NOW)
    kinds = [(b.kind, b.deploy_id) for b in g.blockers]
    assert kinds == [("in_progress", 7), ("unhealthy", 6)]
    assert g.blockers[1].reason == "web #6 unhealthy: 5xx rate +340%"
    assert g.next_change_at is None


def test_what_if_evaluates_schedules_and_locks_at_another_instant_and_deploys_as_of_now():
    # §8.1: a lock that has expired by `at` is gone; one without expiry stays; a deploy in progress is as of now.
    running = DeployInfo(7, "a" * 40, NOW, "bob")
    inputs = GateInputs(
        "production", "web", scoped(**WINDOW), (lock(1, expires=NOW + timedelta(hours=1)), lock(2)), in_progress=running
    )
    later = NOW + timedelta(hours=10)  # Wednesday 20:00 PST: outside the window
    g = evaluate(inputs, NOW, at=later)
    assert sorted((b.kind, b.lock_id) for b in g.blockers) == [("in_progress", None), ("lock", 2), ("window", None)]
    assert g.at == later
