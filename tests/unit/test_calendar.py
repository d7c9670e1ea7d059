"""Windows, freezes and holidays: table-driven, DST included, plus properties."""

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shiplane.locks.calendar import compile_schedule, local_to_utc
from shiplane.locks.gate import GateInputs, evaluate
from shiplane.settings import Config

Z = UTC


def utc(*args):
    return datetime(*args, tzinfo=Z)


def schedule(**sections):
    return compile_schedule(Config.model_validate(sections)).for_scope("production", "web")


WEEKDAYS_LA = {"windows": [{"days": ["mon", "tue", "wed", "thu", "fri"], "start": "09:00", "end": "15:30", "timezone": "America/Los_Angeles"}]}


@pytest.mark.parametrize(
    "at,closed,until",
    [
        (utc(2026, 11, 25, 18, 0), False, None),  # Wed 10:00 PST
        (utc(2026, 11, 25, 17, 0), False, None),  # Wed 09:00 PST: start is inclusive
        (utc(2026, 11, 25, 23, 30), True, utc(2026, 11, 26, 17, 0)),  # Wed 15:30 PST: end is exclusive
        (utc(2026, 11, 28, 0, 0), True, utc(2026, 11, 30, 17, 0)),  # Fri 16:00 PST → Mon 09:00
        # Clocks spring forward on Sun 2026-03-08: Monday 09:00 is PDT (16:00Z), Friday 15:30 was PST.
        (utc(2026, 3, 6, 23, 29), False, None),
        (utc(2026, 3, 6, 23, 30), True, utc(2026, 3, 9, 16, 0)),
        (utc(2026, 3, 9, 16, 0), False, None),
        (utc(2026, 3, 9, 15, 59), True, utc(2026, 3, 9, 16, 0)),
    ],
)
def test_weekday_window_in_los_angeles(at, closed, until):
    blockers = schedule(**WEEKDAYS_LA).closed_by(at)
    assert bool(blockers) is closed
    if closed:
        (b,) = blockers
        assert b.kind == "window" and b.end == until
        assert "Mon,Tue,Wed,Thu,Fri 09:00–15:30 America/Los_Angeles" in b.reason


@pytest.mark.parametrize(
    "at,open_",
    [
        (utc(2026, 11, 27, 21, 59), False),  # Fri 21:59
        (utc(2026, 11, 27, 22, 0), True),  # Fri 22:00
        (utc(2026, 11, 28, 1, 59), True),  # Sat 01:59: still Friday's window
        (utc(2026, 11, 28, 2, 0), False),
        (utc(2026, 11, 28, 23, 0), False),  # Sat 23:00: no Saturday window
    ],
)
def test_a_window_crossing_midnight_is_one_window(at, open_):
    s = schedule(windows=[{"days": ["fri"], "start": "22:00", "end": "02:00", "timezone": "UTC"}])
    assert (not s.closed_by(at)) is open_


def test_a_window_starting_in_the_skipped_hour_opens_when_the_clock_jumps():
    # New York springs forward at 02:00 EST (07:00Z) on 2026-03-08; 02:30 never happens.
    s = schedule(windows=[{"days": ["sun"], "start": "02:30", "end": "04:00", "timezone": "America/New_York"}])
    assert s.closed_by(utc(2026, 3, 8, 6, 59, 59))
    assert not s.closed_by(utc(2026, 3, 8, 7, 0))
    assert not s.closed_by(utc(2026, 3, 8, 7, 59))
    assert s.closed_by(utc(2026, 3, 8, 8, 0))  # 04:00 EDT


def test_a_repeated_local_time_means_its_first_occurrence():
    # 01:30 happens twice in New York on 2026-11-01: 05:30Z (EDT) and 06:30Z (EST).
    assert local_to_utc(datetime(2026, 11, 1, 1, 30), "America/New_York") == utc(2026, 11, 1, 5, 30)
    s = schedule(freezes=[{"start": "2026-11-01T01:30", "end": "2026-11-01T01:45", "timezone": "America/New_York"}])
    assert s.closed_by(utc(2026, 11, 1, 5, 30))
    assert not s.closed_by(utc(2026, 11, 1, 5, 45))
    assert not s.closed_by(utc(2026, 11, 1, 6, 35))  # the second 01:35 is not frozen


def test_a_one_off_freeze_is_half_open_in_its_time_zone():
    s = schedule(freezes=[{"start": "2026-12-20T00:00", "end": "2027-01-04T09:00", "timezone": "America/Los_Angeles", "reason": "Holiday freeze"}])
    assert not s.closed_by(utc(2026, 12, 20, 7, 59))
    (b,) = s.closed_by(utc(2026, 12, 20, 8, 0))
    assert (b.kind, b.reason, b.start, b.end) == ("freeze", "Holiday freeze", utc(2026, 12, 20, 8), utc(2027, 1, 4, 17))
    assert not s.closed_by(utc(2027, 1, 4, 17, 0))
    assert s.next_boundary(utc(2026, 12, 1)) == utc(2026, 12, 20, 8)


def test_a_recurring_freeze_lasts_its_duration_in_wall_clock_time():
    s = schedule(freezes=[{"cron": "0 18 * * fri", "duration": "63h", "timezone": "America/Los_Angeles", "reason": "Weekend"}])
    # An ordinary weekend: Fri 18:00 PST → Mon 09:00 PST.
    assert not s.closed_by(utc(2026, 11, 28, 1, 59))
    (b,) = s.closed_by(utc(2026, 11, 28, 2, 0))
    assert (b.start, b.end) == (utc(2026, 11, 28, 2), utc(2026, 11, 30, 17))
    # The weekend clocks fall back: Fri 18:00 PDT (01:00Z) → Mon 09:00 PST (17:00Z), 64 real hours.
    (b,) = s.closed_by(utc(2026, 11, 1, 12))
    assert (b.start, b.end) == (utc(2026, 10, 31, 1), utc(2026, 11, 2, 17))
    assert not s.closed_by(utc(2026, 11, 2, 17))


@pytest.mark.parametrize(
    "at,reason",
    [
        (utc(2026, 12, 24, 7, 59), None),  # Dec 23 23:59 PST
        (utc(2026, 12, 24, 8, 0), "Eve of Christmas Day"),
        (utc(2026, 12, 25, 20, 0), "Christmas Day"),
        (utc(2026, 12, 26, 7, 59), "Christmas Day"),
        (utc(2026, 12, 26, 8, 0), None),
        (utc(2026, 11, 26, 18, 0), "Thanksgiving Day"),
    ],
)
def test_holidays_close_local_days_and_their_eves(at, reason):
    s = schedule(holidays=[{"country": "US", "eve": True, "timezone": "America/Los_Angeles"}])
    blockers = s.closed_by(at)
    assert (blockers[0].reason if blockers else None) == reason
    if blockers:
        assert blockers[0].kind == "holiday"


def test_holidays_respect_subdivisions():
    s = schedule(holidays=[{"country": "DE", "subdiv": "BY", "timezone": "Europe/Berlin"}])
    assert s.closed_by(utc(2026, 1, 6, 12))  # Epiphany is a holiday in Bavaria
    s = schedule(holidays=[{"country": "DE", "subdiv": "BE", "timezone": "Europe/Berlin"}])
    assert not s.closed_by(utc(2026, 1, 6, 12))  # but not in Berlin


def test_rules_apply_to_their_scope_only():
    sched = compile_schedule(
        Config.model_validate({"freezes": [{"environments": ["production"], "services": ["web"], "start": "2026-01-01T00:00", "end": "2026-02-01T00:00"}]})
    )
    at = utc(2026, 1, 15)
    assert sched.for_scope("production", "web").closed_by(at)
    assert not sched.for_scope("production", "api").closed_by(at)
    assert not sched.for_scope("production", None).closed_by(at)  # a service rule is not the environment's
    assert not sched.for_scope("staging", "web").closed_by(at)


# ---------------------------------------------------------------- properties

ZONES = ["UTC", "America/Los_Angeles", "America/New_York", "Europe/Berlin", "Australia/Lord_Howe", "America/Santiago", "Asia/Kolkata"]
times = st.sampled_from(["00:00", "01:30", "02:00", "02:30", "03:00", "09:00", "15:30", "22:00", "23:59", "24:00"])


@st.composite
def rule_sets(draw):
    sections = {"windows": [], "freezes": [], "holidays": []}
    for _ in range(draw(st.integers(0, 2))):
        start, end = draw(times), draw(times)
        if start == end or start == "24:00":
            continue
        days = draw(st.lists(st.sampled_from(["mon", "tue", "wed", "thu", "fri", "sat", "sun"]), min_size=1, max_size=7, unique=True))
        sections["windows"].append({"days": days, "start": start, "end": end, "timezone": draw(st.sampled_from(ZONES))})
    for _ in range(draw(st.integers(0, 2))):
        if draw(st.booleans()):
            start = datetime(2026, 1, 1) + timedelta(hours=draw(st.integers(0, 24 * 600)))
            sections["freezes"].append(
                {"start": start.isoformat(), "end": (start + timedelta(hours=draw(st.integers(1, 200)))).isoformat(), "timezone": draw(st.sampled_from(ZONES))}
            )
        else:
            cron = draw(st.sampled_from(["0 18 * * fri", "30 2 * * *", "0 0 1 * *", "0 12 * * mon,wed"]))
            sections["freezes"].append({"cron": cron, "duration": f"{draw(st.integers(1, 70))}h", "timezone": draw(st.sampled_from(ZONES))})
    if draw(st.booleans()):
        sections["holidays"].append({"country": draw(st.sampled_from(["US", "GB", "DE", "AU"])), "eve": draw(st.booleans()), "timezone": draw(st.sampled_from(ZONES))})
    return sections


instants = st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2027, 12, 31), timezones=st.just(Z))


@given(rules=rule_sets(), at=instants)
@settings(max_examples=300, deadline=None)
def test_next_change_is_in_the_future_and_the_state_really_flips_there(rules, at):
    scoped = compile_schedule(Config.model_validate(rules)).for_scope("production", "web")
    inputs = GateInputs("production", "web", scoped)
    gate = evaluate(inputs, at)
    nxt = gate.next_change_at
    if nxt is None:
        return
    assert nxt > at
    assert evaluate(inputs, nxt).allowed != gate.allowed
    # ... and not before it.
    for probe in (nxt - timedelta(seconds=1), at + (nxt - at) / 2):
        if probe > at:
            assert evaluate(inputs, probe).allowed == gate.allowed


@given(rules=rule_sets(), at=instants)
@settings(max_examples=200, deadline=None)
def test_blockers_contain_the_instant_they_describe(rules, at):
    scoped = compile_schedule(Config.model_validate(rules)).for_scope("production", "web")
    for b in scoped.closed_by(at):
        if b.kind != "window":
            assert b.start <= at < b.end
        else:
            assert b.end > at  # the next opening


@given(rules=rule_sets(), at=instants, offset=st.integers(0, 13 * 24 * 3600))
@settings(max_examples=300, deadline=None)
def test_the_precomputed_timeline_agrees_with_direct_computation(rules, at, offset):
    scoped = compile_schedule(Config.model_validate(rules)).for_scope("production", "web")
    t = at + timedelta(seconds=offset)
    scoped.timeline(at)  # built around `at`, queried up to two weeks later
    assert scoped.closed_by(t) == scoped.closed_by_direct(t)
    fast, direct = scoped.next_boundary(t), scoped.next_boundary_direct(t)
    # the direct path may report an edge that changes nothing; both must agree on the state there
    if fast != direct:
        assert direct is not None and fast is not None and direct < fast
        assert scoped.closed_by_direct(direct) == scoped.closed_by_direct(t)
