"""Scheduled and editable locks through the API (§8.1), on both databases."""

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest

from shiplane.catalog import service as catalog
from shiplane.errors import AlreadyLocked
from shiplane.locks import service as locks


def iso(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def soon(**kw) -> datetime:
    return datetime.now(UTC) + timedelta(**kw)


def lock(api, **kw):
    body = {"environment": "production", "reason": "Launch freeze"} | {
        k: iso(v) if isinstance(v, datetime) else v for k, v in kw.items()
    }
    return api.post("/api/v1/locks", json=body)


def gate(api, **params):
    return api.get("/api/v1/gate", params={"environment": "production"} | params).json()


def lock_events(api):
    return [e for e in api.get("/api/v1/events").json()["items"] if e["kind"].startswith("lock")]


def test_a_scheduled_lock_waits_for_its_start_and_the_gate_knows_when(bob):
    start, end = soon(hours=2), soon(hours=4)
    r = lock(bob, starts_at=start, expires_at=end)
    assert r.status_code == 201, r.json()
    lk = r.json()
    assert (lk["state"], lk["active"], lk["starts_at"][:19]) == ("scheduled", False, iso(start)[:19])
    now = gate(bob)
    assert now["allowed"] is True and now["next_change_at"][:19] == iso(start)[:19]
    during = gate(bob, at=iso(start + timedelta(minutes=1)))
    (b,) = during["blockers"]
    assert (during["allowed"], b["kind"], b["lock_id"], b["since"][:19]) == (False, "lock", lk["id"], iso(start)[:19])
    assert during["next_change_at"][:19] == iso(end)[:19]
    assert gate(bob, at=iso(end))["allowed"] is True
    assert [x["id"] for x in bob.get("/api/v1/locks?state=scheduled").json()["items"]] == [lk["id"]]
    assert bob.get("/api/v1/locks?active=true").json()["items"] == []
    assert bob.get("/api/v1/locks?active=false").json()["items"] == []  # not past either
    assert bob.get("/api/v1/locks?state=active").json()["items"] == []
    (created,) = lock_events(bob)
    assert created["data"]["starts_at"][:19] == iso(start)[:19]


def test_a_lock_taken_now_is_active_and_says_so(bob):
    lk = lock(bob).json()
    assert lk["state"] == "active" and lk["starts_at"] == lk["created_at"]
    ended = bob.delete(f"/api/v1/locks/{lk['id']}").json()
    assert ended["state"] == "ended"


def test_a_scheduled_lock_can_be_cancelled_before_it_starts(bob):
    lk = lock(bob, starts_at=soon(hours=2)).json()
    r = bob.delete(f"/api/v1/locks/{lk['id']}", params={"note": "launch moved"})
    assert r.status_code == 200 and r.json()["state"] == "ended"
    ended = [e for e in lock_events(bob) if e["kind"] == "lock_ended"]
    assert [e["data"]["cancelled"] for e in ended] == [True]
    now_lock = lock(bob, service="web").json()
    bob.delete(f"/api/v1/locks/{now_lock['id']}")
    assert [e["data"]["cancelled"] for e in lock_events(bob) if e["kind"] == "lock_ended"] == [True, False]
    assert gate(bob, at=iso(soon(hours=3)))["allowed"] is True


@pytest.mark.parametrize(
    "kw,field",
    [
        ({"starts_at": "2020-01-01T00:00:00Z"}, "starts_at"),
        ({"starts_at": "tomorrow"}, "starts_at"),
        ({"starts_at": "2099-01-01T10:00:00Z", "expires_at": "2099-01-01T10:00:00Z"}, "expires_at"),
        ({"starts_at": "2099-01-01T10:00:00Z", "expires_at": "2099-01-01T09:00:00Z"}, "expires_at"),
    ],
)
def test_bad_periods_are_422_naming_the_field(bob, kw, field):
    r = lock(bob, **kw)
    assert r.status_code == 422 and field in r.json()["fields"], r.json()
    assert bob.get("/api/v1/locks").json()["items"] == []


# (existing lock's start, expiry; new lock's start, expiry) in hours from now; None = now / no expiry
OVERLAPS = [
    ((None, None), (2, 4), True),  # an active lock with no expiry covers every later period
    ((None, 2), (2, 4), False),  # back to back: [0, 2) and [2, 4) do not meet
    ((None, 2), (1, 4), True),
    ((2, 4), (None, None), True),  # now, for good, meets tonight's
    ((2, 4), (None, 1), False),  # an hour now, then tonight's
    ((2, 4), (4, 6), False),
    ((2, 4), (3, None), True),
    ((2, None), (5, 6), True),
    ((5, 6), (2, 5), False),
]


@pytest.mark.parametrize("held,new,clash", OVERLAPS)
def test_already_locked_is_about_overlapping_periods(bob, held, new, clash):
    base = soon(seconds=30)  # one instant for both locks, so "back to back" is exact

    def period(start, end):
        out = {}
        if start is not None:
            out["starts_at"] = base + timedelta(hours=start)
        if end is not None:
            out["expires_at"] = base + timedelta(hours=end)
        return out

    first = lock(bob, **period(*held))
    assert first.status_code == 201, first.json()
    r = lock(bob, reason="second", **period(*new))
    if clash:
        assert r.status_code == 409 and r.json()["error"] == "already_locked"
        assert r.json()["lock"]["id"] == first.json()["id"]
    else:
        assert r.status_code == 201, r.json()
    # another scope never clashes, and auto locks are not manual locks
    assert lock(bob, service="web", **period(*new)).status_code == 201


def test_exactly_one_of_concurrent_overlapping_schedules_wins(db):
    now = datetime.now(UTC)
    with db.write() as conn:
        catalog.environment(conn, "production", auto_create=True, now=now)

    def attempt(i):
        try:
            with db.write() as conn:
                locks.create(
                    conn, environment="production", service=None, reason=f"try {i}", actor="bob", now=now,
                    starts_at=now + timedelta(hours=1, minutes=i), expires_at=now + timedelta(hours=3),
                )
            return True
        except AlreadyLocked:
            return False

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(attempt, range(8)))
    assert results.count(True) == 1


# ---------------------------------------------------------------- PATCH


def test_edits_change_the_lock_and_are_recorded_with_old_and_new(bob, alice):
    start = soon(hours=2)
    lk = lock(bob, starts_at=start).json()
    later, until = soon(hours=3), soon(hours=5)
    r = alice.patch(f"/api/v1/locks/{lk['id']}", json={"reason": "Launch moved", "starts_at": iso(later), "expires_at": iso(until)})
    assert r.status_code == 200, r.json()
    edited = r.json()
    assert (edited["reason"], edited["starts_at"][:19], edited["expires_at"][:19], edited["state"]) == (
        "Launch moved", iso(later)[:19], iso(until)[:19], "scheduled"
    )
    assert gate(bob)["next_change_at"][:19] == iso(later)[:19]
    assert gate(bob, at=iso(start + timedelta(minutes=1)))["allowed"] is True  # the old start no longer closes it
    updated = lock_events(bob)[-1]
    assert (updated["kind"], updated["actor"], updated["lock_id"]) == ("lock_updated", "token:alice", lk["id"])
    changes = updated["data"]["changes"]
    assert changes["reason"] == {"old": "Launch freeze", "new": "Launch moved"}
    assert changes["starts_at"]["old"][:19] == iso(start)[:19] and changes["starts_at"]["new"][:19] == iso(later)[:19]
    assert changes["expires_at"]["old"] is None and changes["expires_at"]["new"][:19] == iso(until)[:19]


def test_an_active_lock_can_be_extended_shortened_and_made_open_ended(bob):
    lk = lock(bob, expires_at=soon(hours=1)).json()
    for until in (soon(hours=3), soon(minutes=30)):
        r = bob.patch(f"/api/v1/locks/{lk['id']}", json={"expires_at": iso(until)})
        assert r.status_code == 200 and r.json()["expires_at"][:19] == iso(until)[:19]
        assert gate(bob)["next_change_at"][:19] == iso(until)[:19]  # the gate follows at once
    r = bob.patch(f"/api/v1/locks/{lk['id']}", json={"expires_at": None})
    assert r.status_code == 200 and r.json()["expires_at"] is None
    assert gate(bob)["next_change_at"] is None
    assert [e["kind"] for e in lock_events(bob)] == ["lock_created", "lock_updated", "lock_updated", "lock_updated"]


def test_an_edit_that_changes_nothing_records_nothing(bob):
    lk = lock(bob).json()
    assert bob.patch(f"/api/v1/locks/{lk['id']}", json={"reason": "Launch freeze"}).status_code == 200
    assert [e["kind"] for e in lock_events(bob)] == ["lock_created"]


def test_an_ended_lock_cannot_be_edited(bob):
    lk = lock(bob).json()
    bob.delete(f"/api/v1/locks/{lk['id']}")
    r = bob.patch(f"/api/v1/locks/{lk['id']}", json={"reason": "again"})
    assert r.status_code == 409 and r.json()["error"] == "lock_already_ended"


@pytest.mark.parametrize(
    "scheduled,body,field",
    [
        (False, {"starts_at": "2099-01-01T00:00:00Z"}, "starts_at"),  # the start of an active lock
        (True, {"starts_at": None}, "starts_at"),
        (True, {"starts_at": "2020-01-01T00:00:00Z"}, "starts_at"),
        (True, {"expires_at": "2020-01-01T00:00:00Z"}, "expires_at"),
        (True, {"reason": "  "}, "reason"),
        (True, {"reason": None}, "reason"),
        (True, {"expires_at": "later"}, "expires_at"),
    ],
)
def test_bad_edits_are_422_naming_the_field(bob, scheduled, body, field):
    lk = lock(bob, **({"starts_at": soon(hours=2)} if scheduled else {})).json()
    r = bob.patch(f"/api/v1/locks/{lk['id']}", json=body)
    assert r.status_code == 422 and field in r.json()["fields"], r.json()
    assert bob.get("/api/v1/locks?environment=production").json()["items"][0]["reason"] == "Launch freeze"


def test_moving_the_expiry_before_a_scheduled_start_is_422(bob):
    lk = lock(bob, starts_at=soon(hours=2)).json()
    r = bob.patch(f"/api/v1/locks/{lk['id']}", json={"expires_at": iso(soon(hours=1))})
    assert r.status_code == 422 and "expires_at" in r.json()["fields"]


def test_an_edit_may_not_make_two_locks_overlap(bob):
    today = lock(bob, expires_at=soon(hours=1)).json()
    tonight = lock(bob, starts_at=soon(hours=2), expires_at=soon(hours=4)).json()
    assert tonight["state"] == "scheduled"
    r = bob.patch(f"/api/v1/locks/{today['id']}", json={"expires_at": iso(soon(hours=3))})
    assert r.status_code == 409 and r.json()["lock"]["id"] == tonight["id"]
    r = bob.patch(f"/api/v1/locks/{tonight['id']}", json={"starts_at": iso(soon(minutes=30))})
    assert r.status_code == 409 and r.json()["lock"]["id"] == today["id"]


def test_editing_needs_a_deployer_and_an_existing_lock(bob, charlie):
    lk = lock(bob).json()
    assert charlie.patch(f"/api/v1/locks/{lk['id']}", json={"reason": "x"}).status_code == 403
    assert bob.patch("/api/v1/locks/99999", json={"reason": "x"}).status_code == 404
    assert bob.patch(f"/api/v1/locks/{lk['id']}", json={"reasn": "x"}).status_code == 422


def test_hh_mm_is_the_next_such_time_in_the_environments_zone(bob):
    start = (datetime.now(UTC) + timedelta(hours=2)).replace(second=0, microsecond=0)
    end = start + timedelta(hours=3)
    r = lock(bob, starts_at=start.strftime("%H:%M"), expires_at=end.strftime("%H:%M"))  # no timezone configured: UTC
    assert r.status_code == 201, r.json()
    assert (r.json()["starts_at"], r.json()["expires_at"]) == (start.strftime("%Y-%m-%dT%H:%M:%SZ"), end.strftime("%Y-%m-%dT%H:%M:%SZ"))
    later = end + timedelta(hours=1)
    r = bob.patch(f"/api/v1/locks/{r.json()['id']}", json={"expires_at": later.strftime("%H:%M")})
    assert r.status_code == 200 and r.json()["expires_at"] == later.strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.mark.parametrize("value", ["25:00", "12:75", "soon", "1200"])
def test_a_time_that_is_neither_an_instant_nor_hh_mm_is_422(bob, value):
    r = lock(bob, starts_at=value)
    assert r.status_code == 422 and "starts_at" in r.json()["fields"], r.json()
