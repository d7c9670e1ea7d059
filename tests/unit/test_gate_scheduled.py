"""Scheduled locks in the pure gate: table-driven and property tests (§8.1).

- "a scheduled lock blocks exactly in [starts_at, expires_at)";
- "next_change_at is a real flip": the answer differs at next_change_at and at no instant before it.
"""

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shiplane.locks.calendar import compile_schedule
from shiplane.locks.gate import GateInputs, LockInfo, evaluate
from shiplane.settings import Config

NOW = datetime(2026, 11, 25, 18, 0, tzinfo=UTC)  # Wednesday 10:00 in Los Angeles
H = timedelta(hours=1)
EMPTY = compile_schedule(Config()).for_scope("production", "web")
WINDOWED = compile_schedule(
    Config.model_validate({"windows": [{"days": ["mon", "tue", "wed", "thu"], "start": "09:00", "end": "15:30", "timezone": "America/Los_Angeles"}]})
).for_scope("production", "web")


def scheduled(i, start, expires=None):
    return LockInfo(i, "manual", f"freeze {i}", "alice", NOW, expires, None, start)


@pytest.mark.parametrize(
    "start,expires,at,blocks",
    [
        (NOW + 2 * H, NOW + 4 * H, NOW, False),
        (NOW + 2 * H, NOW + 4 * H, NOW + 2 * H - timedelta(microseconds=1), False),
        (NOW + 2 * H, NOW + 4 * H, NOW + 2 * H, True),  # starts_at is inside
        (NOW + 2 * H, NOW + 4 * H, NOW + 3 * H, True),
        (NOW + 2 * H, NOW + 4 * H, NOW + 4 * H - timedelta(microseconds=1), True),
        (NOW + 2 * H, NOW + 4 * H, NOW + 4 * H, False),  # expires_at is outside
        (NOW + 2 * H, None, NOW + 400 * 24 * H, True),  # no expiry: for good
    ],
)
def test_a_scheduled_lock_blocks_in_its_half_open_period(start, expires, at, blocks):
    g = evaluate(GateInputs("production", "web", EMPTY, (scheduled(1, start, expires),)), NOW, at=at)
    assert (not g.allowed) is blocks
    if blocks:
        (b,) = g.to_dict()["blockers"]
        assert (b["kind"], b["lock_id"], b["since"]) == ("lock", 1, start.strftime("%Y-%m-%dT%H:%M:%SZ"))


def test_now_sees_a_scheduled_lock_coming_as_the_next_change():
    g = evaluate(GateInputs("production", "web", EMPTY, (scheduled(1, NOW + 2 * H, NOW + 4 * H),)), NOW)
    assert g.allowed and g.next_change_at == NOW + 2 * H
    during = evaluate(GateInputs("production", "web", EMPTY, (scheduled(1, NOW + 2 * H, NOW + 4 * H),)), NOW, at=NOW + 3 * H)
    assert not during.allowed and during.next_change_at == NOW + 4 * H


def test_a_lock_starting_under_a_closed_window_moves_the_flip_to_its_expiry():
    # Closed at 15:30 PST (23:30Z); a lock from 22:00Z to Thursday 18:00Z keeps it closed past the 09:00 PST opening.
    lock = scheduled(1, datetime(2026, 11, 25, 22, 0, tzinfo=UTC), datetime(2026, 11, 26, 18, 0, tzinfo=UTC))
    g = evaluate(GateInputs("production", "web", WINDOWED, (lock,)), NOW)
    assert g.allowed and g.next_change_at == datetime(2026, 11, 25, 22, 0, tzinfo=UTC)
    closed = evaluate(GateInputs("production", "web", WINDOWED, (lock,)), NOW, at=datetime(2026, 11, 26, 1, 0, tzinfo=UTC))
    assert not closed.allowed and closed.next_change_at == datetime(2026, 11, 26, 18, 0, tzinfo=UTC)


minutes = st.integers(min_value=0, max_value=6 * 24 * 60)


@settings(max_examples=300, deadline=None)
@given(start=minutes, length=st.one_of(st.none(), st.integers(min_value=1, max_value=3 * 24 * 60)), probe=minutes)
def test_property_a_scheduled_lock_blocks_exactly_in_its_period(start, length, probe):
    s = NOW + timedelta(minutes=start)
    e = s + timedelta(minutes=length) if length is not None else None
    t = NOW + timedelta(minutes=probe)
    g = evaluate(GateInputs("production", "web", EMPTY, (scheduled(1, s, e),)), NOW, at=t)
    assert (not g.allowed) == (s <= t and (e is None or t < e))


lock_spec = st.tuples(minutes, st.one_of(st.none(), st.integers(min_value=1, max_value=2 * 24 * 60)))


def _allowed(inputs, t):
    return evaluate(inputs, NOW, at=t).allowed


@settings(max_examples=200, deadline=None)
@given(specs=st.lists(lock_spec, max_size=4), probe=minutes, windowed=st.booleans())
def test_property_next_change_at_is_a_real_flip(specs, probe, windowed):
    locks = tuple(
        scheduled(i, NOW + timedelta(minutes=s), NOW + timedelta(minutes=s + n) if n is not None else None)
        for i, (s, n) in enumerate(specs, 1)
    )
    inputs = GateInputs("production", "web", WINDOWED if windowed else EMPTY, locks)
    t = NOW + timedelta(minutes=probe)
    g = evaluate(inputs, NOW, at=t)
    nxt = g.next_change_at
    # Every instant where anything could flip: lock edges and schedule boundaries after t.
    edges = sorted({e for lock in locks for e in (lock.start, lock.expires_at) if e is not None and e > t})
    b, horizon = t, t + timedelta(days=10)
    while (b := inputs.schedule.next_boundary(b)) is not None and b < horizon:
        edges.append(b)
    edges = sorted(set(edges))
    if nxt is None:
        assert all(_allowed(inputs, e) == g.allowed for e in edges if e < horizon)
        return
    assert nxt > t
    assert _allowed(inputs, nxt) != g.allowed  # a real flip
    assert _allowed(inputs, nxt - timedelta(microseconds=1)) == g.allowed
    assert all(_allowed(inputs, e) == g.allowed for e in edges if e < nxt)  # and the first one
