"""The forge write budget (jobs/pacing.py): no 60 s or 3600 s window ever holds more writes than allowed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shiplane.jobs.pacing import UNLIMITED, Pacer

T0 = datetime(2026, 11, 24, 18, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_it_does_not_pace_without_limits():
    pacer = Pacer()
    pacer.take(10_000, T0)
    assert pacer.available(T0) == UNLIMITED
    assert len(pacer.taken) == 0  # nothing remembered when nothing is paced


@pytest.mark.parametrize(
    "taken,now,free",
    [
        ([], 0, 3),
        ([(0, 1)], 0, 2),
        ([(0, 3)], 0, 0),
        ([(0, 3)], 59.999, 0),
        ([(0, 3)], 60, 3),  # a write exactly 60 s ago is out of the window
        ([(0, 1), (30, 2)], 60, 1),  # sliding, not a fixed minute: the writes at 30 s still count
        ([(0, 1), (30, 2)], 90, 3),
        ([(0, 5)], 0, 0),  # over-taken (a claim raced the count): never negative
    ],
)
def test_it_slides_a_one_minute_window(taken, now, free):
    pacer = Pacer(per_minute=3)
    for second, count in taken:
        pacer.take(count, at(second))
    assert pacer.available(at(now)) == free


def test_the_tighter_of_the_two_windows_wins():
    pacer = Pacer(per_minute=80, per_hour=100)
    pacer.take(80, at(0))
    assert pacer.available(at(0)) == 0  # the minute is spent
    assert pacer.available(at(60)) == 20  # a fresh minute, but only 20 left in the hour
    pacer.take(20, at(60))
    assert pacer.available(at(3599)) == 0
    assert pacer.available(at(3600)) == 80  # the first 80 left the hour; the minute allows 80
    assert pacer.available(at(3660)) == 80


def test_an_hourly_limit_alone_paces_by_the_hour():
    pacer = Pacer(per_hour=2)
    pacer.take(2, at(0))
    assert pacer.available(at(3599)) == 0
    assert pacer.available(at(3600)) == 2


def test_it_forgets_writes_older_than_its_longest_window():
    pacer = Pacer(per_minute=80, per_hour=500)
    for minute in range(24 * 60):  # a day of one write a minute
        pacer.take(1, at(minute * 60))
        pacer.available(at(minute * 60))
    assert len(pacer.taken) <= 61  # memory is bounded by the hour, not by the uptime


@given(
    st.lists(
        st.tuples(st.floats(min_value=0, max_value=120, allow_nan=False), st.integers(min_value=0, max_value=50)),
        max_size=80,
    ),
    st.integers(min_value=1, max_value=20),
    st.integers(min_value=1, max_value=60),
)
def test_a_worker_that_takes_what_is_available_never_exceeds_a_window(steps, per_minute, per_hour):
    """The worker's use (worker.deliver): claim at most ``available(now)``, then ``take`` what it claimed."""
    pacer = Pacer(per_minute=per_minute, per_hour=per_hour)
    now, sent = 0.0, []
    for pause, wanted in steps:
        now += pause
        count = min(wanted, pacer.available(at(now)))
        pacer.take(count, at(now))
        sent += [now] * count
    for start in sent:
        assert sum(1 for t in sent if start <= t < start + 60) <= per_minute
        assert sum(1 for t in sent if start <= t < start + 3600) <= per_hour
