"""DORA maths on fixed data: the worked example from the module docstring, then one table per rule."""

import time
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from shiplane.dora.metrics import (
    BANDS,
    DEFAULT_FAILURE_STATES,
    Change,
    Deploy,
    Incident,
    band,
    bands,
    bucket_starts,
    compute,
    fails,
    failure_rule,
    percentile,
    restores,
)

Z = UTC
H = 3600.0
DAY = 86400.0

MON = datetime(2026, 3, 2, tzinfo=Z)  # a Monday
NEXT_MON = MON + timedelta(days=7)


def utc(*args):
    return datetime(*args, tzinfo=Z)


def at(hours):
    """`hours` after Monday 2026-03-02 00:00Z: keeps the tables short."""
    return MON + timedelta(hours=hours)


def dep(id, hours, status="succeeded", health="healthy", rollback=False, service="web", env="production", failure=None):
    # A deploy rolled back while it was live carries its DORA failure (deploys.dora_failure).
    if status == "rolled_back" and failure is None:
        failure = "rolled back by #0"
    return Deploy(id, service, env, at(hours), status, health, rollback, failure or None)


def inc(deploy_id, resolved_hours, started_hours=0):
    # started_at plays no part in the maths: recovery is measured from the deploy.
    return Incident(deploy_id, at(started_hours), None if resolved_hours is None else at(resolved_hours))


def week(deploys, changes=(), incidents=(), **kw):
    kw.setdefault("since", MON)
    kw.setdefault("until", NEXT_MON)
    return compute(deploys, changes, incidents, **kw)


# --- The worked example -------------------------------------------------------


def test_it_computes_the_worked_example_from_the_module_docstring():
    deploys = [
        Deploy(1, "web", "production", utc(2026, 3, 1, 22), "succeeded", "healthy"),
        Deploy(2, "web", "production", utc(2026, 3, 2, 10), "succeeded", "healthy"),
        Deploy(3, "web", "production", utc(2026, 3, 3, 9), "succeeded", "unhealthy"),
        Deploy(4, "web", "production", utc(2026, 3, 3, 9, 30), "succeeded", "healthy", rollback=True),
        Deploy(5, "web", "production", utc(2026, 3, 4, 14), "failed", "pending"),
        Deploy(6, "web", "production", utc(2026, 3, 5, 11), "succeeded", "healthy"),
        Deploy(7, "web", "production", utc(2026, 3, 6, 16), "succeeded", "incident"),
        Deploy(8, "web", "production", utc(2026, 3, 6, 17), "succeeded", "pending"),
    ]
    changes = [
        Change(1, utc(2026, 3, 1, 20)),  # shipped before the range
        Change(2, utc(2026, 3, 2, 8)),  # 2h
        Change(2, utc(2026, 3, 1, 10)),  # 24h
        Change(3, utc(2026, 3, 3, 6)),  # 3h
        Change(5, utc(2026, 3, 4, 13)),  # never reached production
        Change(6, utc(2026, 3, 3, 11)),  # 48h
        Change(7, utc(2026, 3, 6, 10)),  # 6h
        Change(8, utc(2026, 3, 6, 16)),  # 1h
    ]
    incidents = [Incident(7, utc(2026, 3, 6, 16, 20), utc(2026, 3, 6, 18))]

    result = compute(deploys, changes, incidents, since=utc(2026, 3, 2), until=utc(2026, 3, 9), bucket="day")

    assert result == {
        "deploy_frequency": {"count": 6, "per_day": 6 / 7, "band": "high"},
        "lead_time": {"median_seconds": 16200.0, "p90_seconds": 129600.0, "band": "elite", "unknown_commits": 0},
        "change_failure_rate": {"rate": 2 / 6, "failed": 2, "total": 6, "band": "low"},
        "recovery_time": {"median_seconds": 4500.0, "band": "high", "open": 0},
        "rework_rate": {"rate": 2 / 6, "count": 2, "total": 6},
        "series": [
            {"start": "2026-03-02T00:00:00Z", "deploys": 1, "failed": 0, "median_lead_time_seconds": 46800.0},
            {"start": "2026-03-03T00:00:00Z", "deploys": 2, "failed": 1, "median_lead_time_seconds": 10800.0},
            {"start": "2026-03-04T00:00:00Z", "deploys": 0, "failed": 0, "median_lead_time_seconds": None},
            {"start": "2026-03-05T00:00:00Z", "deploys": 1, "failed": 0, "median_lead_time_seconds": 172800.0},
            {"start": "2026-03-06T00:00:00Z", "deploys": 2, "failed": 1, "median_lead_time_seconds": 12600.0},
            {"start": "2026-03-07T00:00:00Z", "deploys": 0, "failed": 0, "median_lead_time_seconds": None},
            {"start": "2026-03-08T00:00:00Z", "deploys": 0, "failed": 0, "median_lead_time_seconds": None},
        ],
    }


def test_under_the_incident_rule_only_incidents_fail_and_only_their_resolution_recovers():
    # The worked example's deploys 3 (unhealthy) and 7 (incident, resolved at 18:00), plus a
    # deploy rolled back with a DORA failure: only 7 fails, and the pending 8 cannot restore it
    # either way; its recovery is the incident's 2 h.
    deploys = [
        dep(2, 10),
        dep(3, 33, health="unhealthy"),
        dep(4, 33.5, rollback=True),
        dep(6, 59, status="rolled_back"),
        dep(7, 112, health="incident"),
        dep(8, 113),  # healthy: under the health rule it would restore 7 after 1 h
    ]
    incidents = [inc(7, 114, 112.3)]
    rule = failure_rule("incident", DEFAULT_FAILURE_STATES)
    got = week(deploys, (), incidents, failure_states=rule)
    assert got["change_failure_rate"] == {"rate": 1 / 6, "failed": 1, "total": 6, "band": "medium"}
    assert got["recovery_time"]["median_seconds"] == 2 * H
    assert got["rework_rate"]["count"] == 2  # the rollback 4, and 8 deployed while 7 was failing
    health = week(deploys, (), incidents)
    assert health["change_failure_rate"]["failed"] == 3  # 3, 6 (rolled back) and 7
    assert [d.id for d in deploys if fails(d, frozenset(rule))] == [7]
    assert not any(restores(d, frozenset(rule)) for d in deploys)


def test_it_reports_nothing_for_an_empty_range():
    result = week([], [], [], bucket="week")
    assert result == {
        "deploy_frequency": {"count": 0, "per_day": 0.0, "band": "low"},
        "lead_time": {"median_seconds": None, "p90_seconds": None, "band": None, "unknown_commits": 0},
        "change_failure_rate": {"rate": None, "failed": 0, "total": 0, "band": None},
        "recovery_time": {"median_seconds": None, "band": None, "open": 0},
        "rework_rate": {"rate": None, "count": 0, "total": 0},
        "series": [{"start": "2026-03-02T00:00:00Z", "deploys": 0, "failed": 0, "median_lead_time_seconds": None}],
    }


# --- percentile ---------------------------------------------------------------


@pytest.mark.parametrize(
    "values,q,expected",
    [
        ([], 50, None),
        ([7], 50, 7.0),
        ([7], 90, 7.0),
        ([1, 2], 50, 1.5),
        ([3, 1, 2], 50, 2.0),  # unsorted input is fine
        ([1, 2, 3, 4], 50, 2.5),
        ([1, 2, 3, 4], 90, 3.7),  # rank 2.7: 3 + 0.7 × (4 − 3)
        ([10, 20, 30, 40, 50], 90, 46.0),  # rank 3.6
        ([10, 20, 30, 40, 50], 0, 10.0),
        ([10, 20, 30, 40, 50], 100, 50.0),
        ([5, 5, 5, 100], 50, 5.0),
    ],
)
def test_it_interpolates_percentiles_linearly(values, q, expected):
    assert percentile(values, q) == (pytest.approx(expected) if expected is not None else None)


@pytest.mark.parametrize("values", [[1], [4, 1], [9, 2, 7], [0.5, 3, 3, 8, 13, 21, 34], list(range(0, 1000, 7))])
@pytest.mark.parametrize("q", [0, 10, 25, 50, 75, 90, 99, 100])
def test_it_agrees_with_numpy_default_percentile(values, q):
    assert percentile(values, q) == pytest.approx(float(np.percentile(values, q)))


@pytest.mark.parametrize("q", [-1, 100.5])
def test_it_rejects_percentiles_outside_0_to_100(q):
    with pytest.raises(ValueError):
        percentile([1, 2, 3], q)


# --- bucket_starts ------------------------------------------------------------


@pytest.mark.parametrize(
    "since,until,bucket,tz,expected",
    [
        # The first bucket starts at the boundary at or before `since`; none starts at `until`.
        (utc(2026, 3, 2, 10), utc(2026, 3, 4), "day", "UTC", ["2026-03-02T00:00:00Z", "2026-03-03T00:00:00Z"]),
        (utc(2026, 3, 2), utc(2026, 3, 3), "day", "UTC", ["2026-03-02T00:00:00Z"]),
        (utc(2026, 3, 2), utc(2026, 3, 3, 0, 0, 1), "day", "UTC", ["2026-03-02T00:00:00Z", "2026-03-03T00:00:00Z"]),
        # Berlin springs forward on Sun 2026-03-29: that day lasts 23 hours.
        (
            utc(2026, 3, 27, 23),
            utc(2026, 3, 30, 22),
            "day",
            "Europe/Berlin",
            ["2026-03-27T23:00:00Z", "2026-03-28T23:00:00Z", "2026-03-29T22:00:00Z"],
        ),
        # ...and falls back on Sun 2026-10-25: that day lasts 25 hours.
        (
            utc(2026, 10, 23, 22),
            utc(2026, 10, 26, 23),
            "day",
            "Europe/Berlin",
            ["2026-10-23T22:00:00Z", "2026-10-24T22:00:00Z", "2026-10-25T23:00:00Z"],
        ),
        # A UTC instant late on Monday is already Tuesday in Berlin.
        (utc(2026, 3, 2, 23, 30), utc(2026, 3, 3, 12), "day", "Europe/Berlin", ["2026-03-02T23:00:00Z"]),
        # ...and still Monday in Los Angeles (PST, UTC−8).
        (utc(2026, 3, 3, 7, 59), utc(2026, 3, 3, 9), "day", "America/Los_Angeles", ["2026-03-02T08:00:00Z", "2026-03-03T08:00:00Z"]),
        # Santiago springs forward at midnight: 2026-09-06 starts at 01:00 local.
        (
            utc(2026, 9, 5, 12),
            utc(2026, 9, 8),
            "day",
            "America/Santiago",
            ["2026-09-05T04:00:00Z", "2026-09-06T04:00:00Z", "2026-09-07T03:00:00Z"],
        ),
        # Weeks start on Monday 00:00 local.
        (
            utc(2026, 3, 4, 12),
            utc(2026, 3, 17),
            "week",
            "UTC",
            ["2026-03-02T00:00:00Z", "2026-03-09T00:00:00Z", "2026-03-16T00:00:00Z"],
        ),
        (utc(2026, 3, 23), utc(2026, 4, 1), "week", "Europe/Berlin", ["2026-03-22T23:00:00Z", "2026-03-29T22:00:00Z"]),
        # Months start on the 1st 00:00 local; December rolls over into January.
        (
            utc(2026, 1, 15),
            utc(2026, 4, 1, 7),
            "month",
            "America/Los_Angeles",
            ["2026-01-01T08:00:00Z", "2026-02-01T08:00:00Z", "2026-03-01T08:00:00Z"],
        ),
        (utc(2025, 12, 10), utc(2026, 2, 1), "month", "UTC", ["2025-12-01T00:00:00Z", "2026-01-01T00:00:00Z"]),
    ],
)
def test_it_starts_buckets_at_local_boundaries(since, until, bucket, tz, expected):
    starts = bucket_starts(since, until, bucket, tz)
    assert [s.strftime("%Y-%m-%dT%H:%M:%SZ") for s in starts] == expected
    assert all(s.tzinfo is not None and s.utcoffset() == timedelta(0) for s in starts)


@pytest.mark.parametrize(
    "since,tz,hours",
    [
        (utc(2026, 3, 28, 23), "Europe/Berlin", 23),  # Sun 2026-03-29 local
        (utc(2026, 10, 24, 22), "Europe/Berlin", 25),  # Sun 2026-10-25 local
        (utc(2026, 3, 8, 5), "America/New_York", 23),
        (utc(2026, 11, 1, 4), "America/New_York", 25),
        (utc(2026, 3, 8, 5), "UTC", 24),
    ],
)
def test_it_makes_dst_days_23_or_25_hours_long(since, tz, hours):
    first, second = bucket_starts(since, since + timedelta(hours=hours + 1), "day", tz)[:2]
    assert second - first == timedelta(hours=hours)


def test_it_counts_deploys_in_the_local_day_they_happened():
    # 23:30Z on Monday is 00:30 on Tuesday in Berlin; 22:30Z is still Monday there.
    deploys = [dep(1, 22.5), dep(2, 23.5)]
    result = compute(deploys, [], [], since=utc(2026, 3, 1, 23), until=utc(2026, 3, 3, 23), tz="Europe/Berlin")
    assert [(b["start"], b["deploys"]) for b in result["series"]] == [
        ("2026-03-01T23:00:00Z", 1),
        ("2026-03-02T23:00:00Z", 1),
    ]


def test_it_puts_a_bucket_per_local_day_across_a_dst_change():
    # Berlin's 23-hour Sunday: a deploy at 22:30Z is already Monday.
    since, until = utc(2026, 3, 28, 23), utc(2026, 3, 30, 22)
    deploys = [
        Deploy(1, "web", "production", utc(2026, 3, 29, 21, 30), "succeeded", "healthy"),
        Deploy(2, "web", "production", utc(2026, 3, 29, 22, 30), "succeeded", "healthy"),
    ]
    result = compute(deploys, [], [], since=since, until=until, tz="Europe/Berlin")
    assert [(b["start"], b["deploys"]) for b in result["series"]] == [
        ("2026-03-28T23:00:00Z", 1),
        ("2026-03-29T22:00:00Z", 1),
    ]


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"since": NEXT_MON, "until": MON}, "after"),
        ({"since": MON, "until": MON}, "after"),
        ({"since": datetime(2026, 3, 2), "until": NEXT_MON}, "aware"),
        ({"bucket": "year"}, "bucket"),
        ({"tz": "Mars/Olympus_Mons"}, "time zone"),
    ],
)
def test_it_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        week([], **kwargs)


@pytest.mark.parametrize(
    "deploys,changes,incidents",
    [
        ([Deploy(1, "web", "production", datetime(2026, 3, 2, 10), "succeeded", "healthy")], [], []),
        ([dep(1, 10)], [Change(1, datetime(2026, 3, 2, 9))], []),
        ([dep(1, 10, health="incident")], [], [Incident(1, at(10), datetime(2026, 3, 2, 11))]),
    ],
)
def test_it_refuses_naive_datetimes_in_the_data(deploys, changes, incidents):
    # timestamp() of a naive datetime would silently use the server's time zone.
    with pytest.raises(ValueError, match="naive"):
        week(deploys, changes, incidents)


# --- deploy frequency ---------------------------------------------------------


@pytest.mark.parametrize(
    "status,counted",
    [("succeeded", True), ("rolled_back", True), ("failed", False), ("cancelled", False), ("started", False)],
)
def test_it_counts_only_deploys_that_reached_production(status, counted):
    result = week([dep(1, 10, status=status)])
    assert result["deploy_frequency"]["count"] == int(counted)
    assert result["change_failure_rate"]["total"] == int(counted)


@pytest.mark.parametrize(
    "hours,counted",
    [(0, True), (-0.001, False), (7 * 24 - 0.001, True), (7 * 24, False)],
)
def test_it_includes_since_and_excludes_until(hours, counted):
    assert week([dep(1, hours)])["deploy_frequency"]["count"] == int(counted)


@pytest.mark.parametrize(
    "range_hours,deploys,per_day,expected_band",
    [
        (36, 3, 2.0, "elite"),  # 36 hours is 1.5 days
        (24, 1, 1.0, "elite"),
        (7 * 24, 1, 1 / 7, "high"),
        (30 * 24, 4, 4 / 30, "medium"),
        (60 * 24, 1, 1 / 60, "low"),
    ],
)
def test_it_divides_deploy_count_by_fractional_days(range_hours, deploys, per_day, expected_band):
    result = compute(
        [dep(i, i) for i in range(deploys)], [], [], since=MON, until=at(range_hours)
    )["deploy_frequency"]
    assert result["per_day"] == pytest.approx(per_day)
    assert result["band"] == expected_band


# --- lead time ----------------------------------------------------------------


def test_it_measures_lead_time_only_for_changes_that_reached_production_in_range():
    deploys = [dep(1, -5), dep(2, 10), dep(3, 20, status="failed"), dep(4, 30, status="rolled_back", health="unhealthy")]
    changes = [
        Change(1, at(-6)),  # deployed before the range
        Change(2, at(9)),  # 1h
        Change(3, at(19)),  # the deploy failed
        Change(4, at(27)),  # 3h: a rolled-back deploy did ship it
        Change(99, at(0)),  # an unknown deploy
    ]
    result = week(deploys, changes)["lead_time"]
    assert result == {"median_seconds": 2 * H, "p90_seconds": pytest.approx(2.8 * H), "band": "elite", "unknown_commits": 0}


def test_it_clamps_negative_lead_times_to_zero():
    # Author dates can be in the future (clock skew, rebased commits).
    result = week([dep(1, 10)], [Change(1, at(12)), Change(1, at(10)), Change(1, at(8))])["lead_time"]
    assert result["median_seconds"] == 0.0
    assert result["p90_seconds"] == pytest.approx(0.8 * 2 * H)


def test_it_has_no_lead_time_without_changes():
    assert week([dep(1, 10)])["lead_time"] == {"median_seconds": None, "p90_seconds": None, "band": None, "unknown_commits": 0}


@pytest.mark.parametrize(
    "lead_hours,expected_band",
    [(1, "elite"), (23.99, "elite"), (24, "high"), (7 * 24, "high"), (7 * 24 + 1, "medium"), (30 * 24, "medium"), (30 * 24 + 1, "low")],
)
def test_it_bands_lead_time_by_its_median(lead_hours, expected_band):
    result = week([dep(1, 100)], [Change(1, at(100 - lead_hours))])["lead_time"]
    assert result["median_seconds"] == pytest.approx(lead_hours * H)
    assert result["band"] == expected_band


# --- change failure rate ------------------------------------------------------


@pytest.mark.parametrize(
    "deploys,failure_states,failed,total",
    [
        ([dep(1, 1, health="healthy")], None, 0, 1),
        ([dep(1, 1, health="unhealthy")], None, 1, 1),
        ([dep(1, 1, health="incident")], None, 1, 1),
        ([dep(1, 1, health="ailing")], None, 0, 1),
        ([dep(1, 1, health="ailing")], ("unhealthy", "incident", "ailing"), 1, 1),
        ([dep(1, 1, health="ailing"), dep(2, 2, health="unhealthy")], "ailing", 1, 2),  # a lone state
        ([dep(1, 1, health="no_data")], None, 0, 1),
        ([dep(1, 1, health="pending")], None, 0, 1),
        # A rolled-back deploy that was live when it was rolled back failed whatever its health said...
        ([dep(1, 1, status="rolled_back", health="healthy")], None, 1, 1),
        # ...one rolled back across (never live at the rollback) failed only if its health says so.
        ([dep(1, 1, status="rolled_back", health="healthy", failure="")], None, 0, 1),
        ([dep(1, 1, status="rolled_back", health="unhealthy", failure="")], None, 1, 1),
        # A revert marks a succeeded, healthy deploy as failed.
        ([dep(1, 1, failure="revert abc1234")], None, 1, 1),
        # Deploys that never reached production neither fail nor count.
        ([dep(1, 1, status="failed", health="unhealthy"), dep(2, 2)], None, 0, 1),
        # Failures outside the range do not count.
        ([dep(1, -1, health="unhealthy"), dep(2, 2)], None, 0, 1),
        ([dep(i, i, health="unhealthy" if i % 4 == 0 else "healthy") for i in range(8)], None, 2, 8),
    ],
)
def test_it_counts_failed_deploys(deploys, failure_states, failed, total):
    kw = {"failure_states": failure_states} if failure_states else {}
    result = week(deploys, **kw)["change_failure_rate"]
    assert (result["failed"], result["total"]) == (failed, total)
    assert result["rate"] == pytest.approx(failed / total)


# --- recovery time ------------------------------------------------------------

HEALTHY_LATER = [dep(1, 10, health="unhealthy"), dep(2, 12)]

RECOVERY_CASES = {
    "the next healthy deploy restores": (HEALTHY_LATER, [], 2 * H),
    "a pending deploy does not restore, the next healthy one does": (
        [dep(1, 10, health="unhealthy"), dep(2, 11, health="pending"), dep(3, 14)],
        [],
        4 * H,
    ),
    "another failed deploy does not restore": (
        [dep(1, 10, health="unhealthy"), dep(2, 11, health="incident"), dep(3, 13)],
        [],
        2.5 * H,  # 3h for deploy 1 and 2h for deploy 2
    ),
    "a deploy that never reached production does not restore": (
        [dep(1, 10, health="unhealthy"), dep(2, 11, status="failed"), dep(3, 12, status="cancelled"), dep(4, 15)],
        [],
        5 * H,
    ),
    "a rolled-back deploy does not restore": (
        [dep(1, 10, health="unhealthy"), dep(2, 11, status="rolled_back"), dep(3, 16)],
        [],
        5.5 * H,  # 6h for deploy 1 and 5h for the rolled-back deploy 2
    ),
    "ailing and no_data deploys restore (settled, not failing)": (
        [dep(1, 10, health="unhealthy"), dep(2, 11, health="ailing"), dep(3, 20, health="unhealthy"), dep(4, 23, health="no_data")],
        [],
        2 * H,  # 1h and 3h
    ),
    "another service does not restore": (
        [dep(1, 10, health="unhealthy"), dep(2, 11, service="api"), dep(3, 18)],
        [],
        8 * H,
    ),
    "another environment does not restore": (
        [dep(1, 10, health="unhealthy"), dep(2, 11, env="staging"), dep(3, 19)],
        [],
        9 * H,
    ),
    "an incident resolved before the next deploy restores": (HEALTHY_LATER, [inc(1, 10.5)], 0.5 * H),
    "the next deploy restores before the incident is resolved": (HEALTHY_LATER, [inc(1, 13)], 2 * H),
    "the earliest resolved incident wins": (HEALTHY_LATER, [inc(1, 11.5), inc(1, 11), inc(1, None)], 1 * H),
    "an unresolved incident restores nothing": ([dep(1, 10, health="unhealthy")], [inc(1, None)], None),
    "an incident on another deploy restores nothing": ([dep(1, 10, health="unhealthy"), dep(2, 5)], [inc(2, 11)], None),
    "a recovery after the range still counts": ([dep(1, 160, health="unhealthy"), dep(2, 170)], [], 10 * H),
    "a failure before the range is not measured": ([dep(1, -3, health="unhealthy"), dep(2, 1)], [], None),
    "an incident resolved before its deploy counts as zero": ([dep(1, 10, health="incident")], [inc(1, 9)], 0.0),
    "unrecovered failures are left out of the median": (
        [dep(1, 10, health="unhealthy"), dep(2, 11), dep(3, 20, health="unhealthy")],
        [],
        1 * H,
    ),
}


@pytest.mark.parametrize("deploys,incidents,expected", RECOVERY_CASES.values(), ids=RECOVERY_CASES.keys())
def test_it_measures_recovery_from_the_failed_deploy(deploys, incidents, expected):
    median = week(deploys, [], incidents)["recovery_time"]["median_seconds"]
    assert median == (pytest.approx(expected) if expected is not None else None)


def test_it_orders_deploys_at_the_same_instant_by_id():
    # Same timestamp: the higher id is the later deploy, so it restores in 0s.
    restored = week([dep(1, 10, health="unhealthy"), dep(2, 10)])
    assert restored["recovery_time"]["median_seconds"] == 0.0
    assert restored["rework_rate"]["count"] == 1
    not_restored = week([dep(2, 10, health="unhealthy"), dep(1, 10)])
    assert not_restored["recovery_time"]["median_seconds"] is None
    assert not_restored["rework_rate"]["count"] == 0


@pytest.mark.parametrize(
    "recovery_hours,expected_band",
    [(0.5, "elite"), (0.999, "elite"), (1, "high"), (23.9, "high"), (24, "medium"), (7 * 24, "medium"), (7 * 24 + 1, "low")],
)
def test_it_bands_recovery_time_by_its_median(recovery_hours, expected_band):
    result = week([dep(1, 1, health="unhealthy"), dep(2, 1 + recovery_hours)])["recovery_time"]
    assert result == {"median_seconds": pytest.approx(recovery_hours * H), "band": expected_band, "open": 0}


# --- rework rate --------------------------------------------------------------

REWORK_CASES = {
    "a healthy sequence has no rework": ([dep(1, 1), dep(2, 2), dep(3, 3)], [], 0),
    "a rollback is rework": ([dep(1, 1, status="rolled_back"), dep(2, 2, rollback=True)], [], 1),
    "a rollback is rework even after a healthy deploy": ([dep(1, 1), dep(2, 2, rollback=True)], [], 1),
    "a rollback that never reached production is not": ([dep(1, 1, health="unhealthy"), dep(2, 2, status="failed", rollback=True)], [], 0),
    "a fix-forward is rework": ([dep(1, 1, health="unhealthy"), dep(2, 2)], [], 1),
    "each deploy while the failure is open is rework": (
        [dep(1, 1, health="unhealthy"), dep(2, 2, health="incident"), dep(3, 3), dep(4, 4)],
        [],
        2,  # 2 follows failed 1; 3 follows failed 2; 4 follows healthy 3
    ),
    "a fix-forward after a failure before the range is rework": ([dep(1, -2, health="unhealthy"), dep(2, 1)], [], 1),
    "a deploy after the incident was resolved is not": ([dep(1, 1, health="incident"), dep(2, 5)], [inc(1, 3)], 0),
    "a deploy as the incident is resolved is": ([dep(1, 1, health="incident"), dep(2, 3)], [inc(1, 3)], 1),
    "a deploy after a pending one is not": ([dep(1, 1, health="unhealthy"), dep(2, 2, health="pending"), dep(3, 3)], [], 1),
    "deploys that never reached production are skipped": (
        [dep(1, 1, health="unhealthy"), dep(2, 2, status="failed"), dep(3, 3, status="cancelled"), dep(4, 4)],
        [],
        1,
    ),
    "another service's failure is not": ([dep(1, 1, health="unhealthy", service="api"), dep(2, 2)], [], 0),
}


@pytest.mark.parametrize("deploys,incidents,count", REWORK_CASES.values(), ids=REWORK_CASES.keys())
def test_it_counts_rollbacks_and_fix_forwards_as_rework(deploys, incidents, count):
    result = week(deploys, [], incidents)["rework_rate"]
    total = sum(1 for d in deploys if d.status in ("succeeded", "rolled_back") and MON <= d.deployed_at < NEXT_MON)
    assert result == {"rate": count / total, "count": count, "total": total}


# --- bands --------------------------------------------------------------------


@pytest.mark.parametrize(
    "metric,value,expected",
    [
        ("deploy_frequency", 5.0, "elite"),
        ("deploy_frequency", 1.0, "elite"),
        ("deploy_frequency", 0.99, "high"),
        ("deploy_frequency", 1 / 7, "high"),
        ("deploy_frequency", 0.14, "medium"),
        ("deploy_frequency", 1 / 30, "medium"),
        ("deploy_frequency", 0.033, "low"),
        ("deploy_frequency", 0.0, "low"),
        ("lead_time", 0.0, "elite"),
        ("lead_time", DAY - 1, "elite"),
        ("lead_time", DAY, "high"),
        ("lead_time", 7 * DAY, "high"),
        ("lead_time", 7 * DAY + 1, "medium"),
        ("lead_time", 30 * DAY, "medium"),
        ("lead_time", 30 * DAY + 1, "low"),
        ("change_failure_rate", 0.0, "elite"),
        ("change_failure_rate", 0.05, "elite"),
        ("change_failure_rate", 0.051, "high"),
        ("change_failure_rate", 0.10, "high"),
        ("change_failure_rate", 0.15, "medium"),
        ("change_failure_rate", 0.20, "medium"),
        ("change_failure_rate", 0.21, "low"),
        ("change_failure_rate", 1.0, "low"),
        ("recovery_time", 0.0, "elite"),
        ("recovery_time", H - 1, "elite"),
        ("recovery_time", H, "high"),
        ("recovery_time", DAY - 1, "high"),
        ("recovery_time", DAY, "medium"),
        ("recovery_time", 7 * DAY, "medium"),
        ("recovery_time", 7 * DAY + 1, "low"),
    ],
)
def test_it_bands_values_with_one_table(metric, value, expected):
    assert band(metric, value) == expected


@pytest.mark.parametrize("metric", list(BANDS))
def test_it_gives_no_band_to_a_missing_value(metric):
    assert band(metric, None) is None


def test_it_exposes_the_band_table_for_docs():
    table = bands()
    assert list(table) == ["deploy_frequency", "lead_time", "change_failure_rate", "recovery_time"]
    for spec in table.values():
        assert [t["band"] for t in spec["thresholds"]] == ["elite", "high", "medium", "low"]
        assert spec["thresholds"][-1]["op"] is None and spec["thresholds"][-1]["limit"] is None
        assert spec["unit"]
    assert table["change_failure_rate"]["thresholds"][1] == {"band": "high", "op": "<=", "limit": 0.10, "label": "at most 10%"}
    table["lead_time"]["thresholds"].clear()  # a copy: callers cannot change the real table
    assert len(bands()["lead_time"]["thresholds"]) == 4


# --- scale --------------------------------------------------------------------


def test_it_handles_fifty_thousand_deploys_quickly():
    services = [(f"svc{i}", env) for i in range(50) for env in ("production", "staging")]
    healths = ["healthy", "healthy", "healthy", "unhealthy", "pending", "incident", "no_data"]
    since = utc(2026, 1, 1)
    deploys, changes, incidents = [], [], []
    for i in range(50_000):
        service, env = services[i % len(services)]
        when = since + timedelta(minutes=10 * i + (i * 7919) % 600)
        health = healths[i % len(healths)]
        deploys.append(Deploy(i, service, env, when, "succeeded" if i % 11 else "rolled_back", health, i % 13 == 0))
        if health == "incident":
            incidents.append(Incident(i, when, when + timedelta(hours=2)))
        for j in range(5):
            changes.append(Change(i, when - timedelta(hours=j * 3 + 1)))

    started = time.perf_counter()
    result = compute(deploys, changes, incidents, since=since, until=utc(2027, 1, 1), bucket="week", tz="Europe/Berlin")
    elapsed = time.perf_counter() - started

    assert result["deploy_frequency"]["count"] == 50_000
    assert result["lead_time"]["median_seconds"] == 7 * H
    assert sum(b["deploys"] for b in result["series"]) == 50_000
    assert elapsed < 5, f"compute took {elapsed:.2f}s"


# --- tallies: what the roll-ups add up -----------------------------------------


def _random_history(seed, n=600):
    rng = np.random.default_rng(seed)
    deploys, changes, incidents = [], [], []
    statuses = ["succeeded"] * 8 + ["rolled_back", "failed", "cancelled"]
    healths = ["healthy", "healthy", "healthy", "unhealthy", "pending", "ailing", "no_data", "incident"]
    for i in range(n):
        when = utc(2026, 3, 1) + timedelta(minutes=int(rng.integers(0, 60 * 24 * 60)))
        health = healths[rng.integers(len(healths))]
        deploys.append(Deploy(i, f"svc{rng.integers(4)}", "production", when, statuses[rng.integers(len(statuses))], health, bool(rng.random() < 0.05)))
        for _ in range(int(rng.integers(0, 4))):
            changes.append(Change(i, when - timedelta(seconds=float(rng.exponential(20000)) - 600)))
        if health == "incident":
            resolved = None if rng.random() < 0.2 else when + timedelta(minutes=int(rng.integers(1, 3000)))
            incidents.append(Incident(i, when, resolved))
    return deploys, changes, incidents


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("bucket,tz", [("day", "UTC"), ("week", "Europe/Berlin"), ("month", "America/New_York")])
def test_tallies_of_days_add_up_to_the_report_of_any_bucket(seed, bucket, tz):
    """The roll-ups keep one tally per local day; any bucketing of them is the exact report."""
    from shiplane.dora.metrics import Tally, day_starts, shipped, summarize, tally

    deploys, changes, incidents = _random_history(seed)
    since, until = utc(2026, 3, 10), utc(2026, 4, 20)
    expected = compute(deploys, changes, incidents, since=since, until=until, bucket=bucket, tz=tz)

    facts = shipped(deploys, changes, incidents, since=since, until=until)
    local = since.astimezone(ZoneInfo(tz)).date()
    days = day_starts(local, (until - timedelta(microseconds=1)).astimezone(ZoneInfo(tz)).date(), tz)
    per_day = tally(facts, days)
    starts = bucket_starts(since, until, bucket, tz)
    buckets = [Tally() for _ in starts]
    for start, t in zip(days, per_day):
        k = max(i for i, s in enumerate(starts) if s <= max(start, since))
        buckets[k].add(t)
    assert summarize(buckets, starts, since=since, until=until) == expected


def test_a_tally_of_many_parts_gives_the_percentiles_of_all_its_values():
    from shiplane.dora.metrics import Tally, summarize

    rng = np.random.default_rng(7)
    values = rng.lognormal(8, 2, 1001).round(3)
    t = Tally(deploys=1)
    for chunk in np.array_split(values, 37):
        t.lead_parts.append(chunk if len(chunk) % 2 else chunk.tolist())
    out = summarize([t], [MON], since=MON, until=NEXT_MON)
    assert out["lead_time"]["median_seconds"] == percentile(values.tolist(), 50)
    assert out["lead_time"]["p90_seconds"] == percentile(values.tolist(), 90)


@pytest.mark.parametrize("tz", ["UTC", "Europe/Berlin", "America/Santiago", "Asia/Kolkata"])
def test_day_starts_are_the_starts_of_day_buckets(tz):
    from shiplane.dora.metrics import day_starts

    first, last = utc(2026, 3, 1), utc(2026, 11, 30)
    starts = bucket_starts(first, last + timedelta(days=3), "day", tz)
    local = first.astimezone(ZoneInfo(tz)).date()
    # one start more than days: the last one closes the last day
    assert day_starts(local, local + timedelta(days=270), tz) == starts[:272]
