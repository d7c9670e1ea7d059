"""DORA metrics as pure functions of plain data.

Nothing here reads a clock, a database or a file: callers load rows, turn them
into `Deploy`, `Change` and `Incident` values and call `compute()`. That keeps
the definitions below testable with fixed data and reusable from the API, the
CLI and reports alike. `compute()` is `shipped()` (the facts of each counted
deploy in range) then `tally()` (per bucket) then `summarize()`; the daily
roll-ups store the same tallies per local day (shiplane.dora.summary).

Definitions (after the DORA 2024 "Accelerate State of DevOps" report)
-----------------------------------------------------------------------
The range is ``[since, until)``: ``since`` inclusive, ``until`` exclusive. A
deploy is *in range* when its ``deployed_at`` is. The caller passes every deploy
of the scopes (service + environment) it cares about, including some outside the
range: the deploy just before ``since`` (to tell whether the first deploy in
range is a fix-forward) and deploys after ``until`` (which can recover failures
that happened in range).

counted deploy
    A deploy whose status is ``succeeded`` or ``rolled_back``: both reached
    production (a rolled-back deploy was live before it was reverted).
    ``started``, ``failed`` and ``cancelled`` deploys never reached production,
    so they are ignored everywhere: they are not counted, cannot fail, cannot
    recover a failure and are never "the previous deploy".

failed deploy
    A counted deploy whose health is in ``failure_states`` (default
    ``unhealthy`` and ``incident``) or that carries a DORA failure
    (``Deploy.failure``): it was the deploy live when a rollback replaced it
    (a rollback is remediation of a failed change, whatever its health said;
    a rollback across several deploys fails only that one), it was rolled
    back by hand, or a later change reverted one of its commits.

restoring deploy
    A counted deploy with status ``succeeded`` and no DORA failure whose health
    is settled and not a failure: health not ``pending`` and not in
    ``failure_states``. So with the
    default states ``healthy``, ``ailing`` and ``no_data`` restore service, and
    ``pending`` does not (we do not know yet). This is exactly "counted, not
    failed, not pending", so the three classes never overlap.

The incident rule (``[dora] failure = "incident"``, `failure_rule`)
    A counted deploy fails only when an incident is attached to it (health
    ``incident``); its health verdict, rollbacks and reverts do not fail it. No
    deploy restores service: a failure recovers when its first incident is
    resolved (Apache DevLake measures recovery the same way). Everything else
    below is unchanged.

Deployment frequency
    ``count`` = counted deploys in range; ``per_day`` = count / length of the
    range in days (elapsed time, so 36 hours is 1.5 days, and a local calendar
    week that crosses a DST change is 7 ± 1/24 days). Band by ``per_day``.

Change lead time
    A commit counts once per service and environment: for the counted deploy
    that first shipped it there (by ``deployed_at``, then ``id``), and only
    when that deploy is in range. For every such `Change`:
    ``deploy.deployed_at - change.committed_at``, clamped at 0 (clock skew or a
    rewritten author date must not give negative lead times). ``median_seconds``
    and ``p90_seconds`` use `percentile()` (linear interpolation between closest
    ranks, numpy's default method). None when there are no such changes. Band by
    the median. Such commits without a date have no lead time: they are counted
    in ``unknown_commits``. A change without a sha cannot be matched with other
    deploys and counts for its own deploy.

Change failure rate
    ``total`` = counted deploys in range, ``failed`` = failed deploys among
    them, ``rate`` = failed / total (None when total is 0). Band by rate.

Failed deployment recovery time
    For every failed deploy F in range, the time from ``F.deployed_at`` to the
    earliest of
      (a) the ``deployed_at`` of the first restoring deploy of the same service
          and environment after F (deploys are ordered by ``deployed_at`` then
          ``id``; later failed or pending deploys are skipped, not stops), and
      (b) the earliest ``resolved_at`` of the incidents attached to F
          (unresolved incidents are ignored; an incident's ``started_at`` plays
          no part, DORA measures from the failed deployment),
    clamped at 0. Recoveries after ``until`` count: the failure is in range.
    Failures with no recovery yet are left out of the median (there is no
    duration to take a median of; they still count in the change failure rate)
    and counted in ``open``. ``median_seconds`` is None when no failure in range
    has recovered. Band by the median.

Deployment rework rate (DORA 2024's fifth metric)
    ``count`` = counted deploys in range that either are rollbacks
    (``Deploy.rollback``) or were deployed while the previous counted deploy of
    the same service and environment was failed and not recovered strictly
    before this deploy (a fix-forward; the deploy that itself recovers the
    failure is that fix-forward, so it counts). ``total`` = counted deploys in
    range; ``rate`` = count / total or None.

Series
    Buckets of one local day, week (Monday 00:00) or month (1st, 00:00) in time
    zone ``tz`` covering ``[since, until)``; the first bucket starts at the
    boundary at or before ``since``. Each bucket reports, for counted deploys in
    range whose ``deployed_at`` falls in it: ``deploys``, ``failed`` and
    ``median_lead_time_seconds`` of the changes they shipped (None if none).
    ``start`` is the bucket's first instant as an ISO-8601 UTC string ending in
    ``Z``. Bucket edges come from zoneinfo, so a local day across a DST change
    lasts 23 or 25 hours.

Bands
    See `BANDS` (and `bands()` for a JSON-friendly copy). ``band`` is None when
    the value is None.

Worked example
--------------
One service, ``web``/``production``; range Mon 2026-03-02 00:00Z to
Mon 2026-03-09 00:00Z (7 days), daily buckets in UTC::

    id  deployed_at (UTC)  status     health     rollback  lead times of its changes
    1   Sun 03-01 22:00    succeeded  healthy              (before the range: ignored)
    2   Mon 03-02 10:00    succeeded  healthy              2h, 24h
    3   Tue 03-03 09:00    succeeded  unhealthy            3h
    4   Tue 03-03 09:30    succeeded  healthy    yes       (none: re-deploys an old sha)
    5   Wed 03-04 14:00    failed     pending              1h (never reached production)
    6   Thu 03-05 11:00    succeeded  healthy              48h
    7   Fri 03-06 16:00    succeeded  incident             6h; incident resolved Fri 18:00
    8   Fri 03-06 17:00    succeeded  pending              1h (a fix-forward)

- Counted in range: 2, 3, 4, 6, 7, 8 → count 6, per_day 6/7 ≈ 0.857 → high.
- Failed: 3 (unhealthy) and 7 (incident) → rate 2/6 ≈ 0.333 → low.
- Recovery: 3 is restored by rollback 4 after 30 min (1800 s). 7 is not
  restored by 8 (pending), so its incident's resolution counts: 2 h (7200 s).
  Median (1800 + 7200) / 2 = 4500 s → high.
- Rework: 4 (a rollback) and 8 (deployed while 7 was failed) → 2/6 ≈ 0.333.
- Lead times, sorted: 1h, 2h, 3h, 6h, 24h, 48h (deploy 5's change is out: it
  never shipped). Median = (3h + 6h) / 2 = 16200 s → elite; p90 sits at rank
  0.9 × 5 = 4.5, halfway between 24h and 48h = 129600 s.
- Series (Mon..Sun): deploys 1, 2, 0, 1, 2, 0, 0; failed 0, 1, 0, 0, 1, 0, 0;
  median lead time 46800, 10800, None, 172800, 12600, None, None.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from shiplane.dora.bands import BANDS, Threshold, band, bands
from shiplane.dora.summary import Shipped, Tally, summarize, tally

__all__ = [
    "BANDS",
    "BUCKETS",
    "COUNTED_STATUSES",
    "BY_INCIDENT",
    "DEFAULT_FAILURE_STATES",
    "Change",
    "Deploy",
    "Incident",
    "Shipped",
    "Tally",
    "Threshold",
    "band",
    "bands",
    "bucket_starts",
    "compute",
    "day_starts",
    "failure_rule",
    "fails",
    "percentile",
    "restores",
    "shipped",
    "summarize",
    "tally",
]

DAY = 86400.0

# Statuses of deploys that reached production (see "counted deploy" above).
COUNTED_STATUSES = frozenset({"succeeded", "rolled_back"})
DEFAULT_FAILURE_STATES: tuple[str, ...] = ("unhealthy", "incident")
# `[dora] failure = "incident"` (SPEC §8.9, Apache DevLake's definitions): only an incident
# fails a deploy, and only its resolution recovers it. Its failure rule is this marker with
# the state "incident"; the default "health" rule is just the health states that fail.
BY_INCIDENT = "by-incident"
BUCKETS: tuple[str, ...] = ("day", "week", "month")
Bucket = Literal["day", "week", "month"]


@dataclass(frozen=True)
class Deploy:
    id: int
    service: str
    environment: str
    deployed_at: datetime  # aware UTC; the deploy time
    status: str  # started | succeeded | failed | cancelled | rolled_back
    health: str  # pending | healthy | ailing | unhealthy | no_data | incident
    rollback: bool = False  # this deploy re-deployed an older sha (tag "rollback")
    failure: str | None = None  # why it failed besides health (deploys.dora_failure)


@dataclass(frozen=True)
class Change:
    """One commit first shipped to the environment by a deploy."""

    deploy_id: int
    committed_at: datetime | None  # authored time, aware UTC; None: unknown
    sha: str | None = None  # the commit: counted once per service and environment


@dataclass(frozen=True)
class Incident:
    deploy_id: int  # the deploy it attached to
    started_at: datetime
    resolved_at: datetime | None


# --- The failure rule -------------------------------------------------------------


def failure_rule(failure: str, failure_states: Iterable[str]) -> tuple[str, ...]:
    """The failure rule of ``[dora] failure`` and ``failure_states``: what `fails` and `restores` read.

    ``"health"``: the health states that fail a deploy (a DORA failure, `Deploy.failure`,
    fails it too). ``"incident"``: `BY_INCIDENT` and ``"incident"``, whatever the states.
    """
    if failure == "incident":
        return (BY_INCIDENT, "incident")
    return tuple(sorted(set(failure_states)))


def fails(d: Deploy, failing: frozenset[str]) -> bool:
    """A counted deploy that failed under the rule `failing` (see "failed deploy" above)."""
    if BY_INCIDENT in failing:
        return d.health == "incident"
    return d.failure is not None or d.health in failing


def restores(d: Deploy, failing: frozenset[str]) -> bool:
    """A counted deploy that restores service after earlier failures (see "restoring deploy").

    Under the incident rule none does: a failure recovers when its incident is resolved.
    """
    if BY_INCIDENT in failing:
        return False
    return d.status == "succeeded" and d.failure is None and d.health != "pending" and d.health not in failing


# --- Helpers -----------------------------------------------------------------


def percentile(values: Iterable[float], q: float) -> float | None:
    """The q-th percentile (0 ≤ q ≤ 100) by linear interpolation; None if empty.

    Same as numpy's default ("linear"): sort the n values, take the fractional
    rank ``(n - 1) * q / 100`` and interpolate between the two values around it.
    So the median of an even count is the mean of the middle two.
    """
    return _percentile_sorted(sorted(values), q)


def _percentile_sorted(xs: Sequence[float], q: float) -> float | None:
    if not 0 <= q <= 100:
        raise ValueError(f"percentile must be within 0..100, got {q}")
    if not xs:
        return None
    rank = (len(xs) - 1) * q / 100
    lo = math.floor(rank)
    hi = min(lo + 1, len(xs) - 1)
    return float(xs[lo] + (xs[hi] - xs[lo]) * (rank - lo))


def _zone(tz: str | tzinfo) -> tzinfo:
    if isinstance(tz, tzinfo):
        return tz
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError) as e:
        raise ValueError(f"unknown time zone {tz!r}") from e


def _check_range(since: datetime, until: datetime) -> None:
    # Naive datetimes would silently mean "local time of the server".
    if since.tzinfo is None or until.tzinfo is None:
        raise ValueError("since and until must be timezone-aware")
    if until <= since:
        raise ValueError("until must be after since")


def _first_local_day(local: datetime, bucket: str) -> date:
    day = local.date()
    if bucket == "day":
        return day
    if bucket == "week":
        return day - timedelta(days=day.weekday())  # back to Monday
    return day.replace(day=1)


def _next_local_day(day: date, bucket: str) -> date:
    if bucket == "day":
        return day + timedelta(days=1)
    if bucket == "week":
        return day + timedelta(days=7)
    return date(day.year + day.month // 12, day.month % 12 + 1, 1)


def bucket_starts(since: datetime, until: datetime, bucket: Bucket = "day", tz: str | tzinfo = "UTC") -> list[datetime]:
    """Aware-UTC starts of the `bucket`s of zone `tz` that cover [since, until).

    The first start is the local boundary at or before `since`; every start is
    before `until`. Boundaries are local midnights turned into instants by
    zoneinfo, so DST days last 23 or 25 hours. Where midnight does not exist
    (zones that spring forward at 00:00) zoneinfo's fold=0 reading lands on the
    first instant of that local day, which is what a bucket start should be.
    """
    _check_range(since, until)
    if bucket not in BUCKETS:
        raise ValueError(f"bucket must be one of {BUCKETS}, got {bucket!r}")
    zone = _zone(tz)
    day = _first_local_day(since.astimezone(zone), bucket)
    starts: list[datetime] = []
    while True:
        start = datetime(day.year, day.month, day.day, tzinfo=zone).astimezone(UTC)
        if start >= until:
            return starts
        starts.append(start)
        day = _next_local_day(day, bucket)


def _ts(at: datetime) -> float:
    # A naive datetime's timestamp() silently means "server local time", which
    # would shift every duration by the server's UTC offset: refuse it.
    if at.tzinfo is None:
        raise ValueError(f"naive datetime {at.isoformat()}: deploy, change and incident times must be aware")
    return at.timestamp()


def day_starts(first: date, last: date, tz: str | tzinfo = "UTC") -> list[datetime]:
    """Aware-UTC starts of the local days ``first`` .. ``last + 1`` of zone `tz`.

    One more start than days, so day ``first + k`` is ``[starts[k], starts[k + 1])``.
    Built exactly like `bucket_starts`, so a day of the roll-ups and a day
    bucket of `compute` hold the same deploys.
    """
    zone = _zone(tz)
    out = []
    day = first
    while day <= last + timedelta(days=1):
        out.append(datetime(day.year, day.month, day.day, tzinfo=zone).astimezone(UTC))
        day += timedelta(days=1)
    return out


# --- Facts --------------------------------------------------------------------


def shipped(
    deploys: Iterable[Deploy],
    changes: Iterable[Change],
    incidents: Iterable[Incident],
    *,
    since: datetime,
    until: datetime,
    failure_states: Iterable[str] = DEFAULT_FAILURE_STATES,
) -> list[Shipped]:
    """The counted deploys in ``[since, until)`` with their facts (see the module doc).

    Runs in O(n log n): deploys are sorted once per scope, incidents and
    in-range deploys are looked up by id, changes are scanned once.
    """
    _check_range(since, until)
    lo, hi = _ts(since), _ts(until)
    # A lone string would otherwise become a set of its letters.
    failing = frozenset((failure_states,) if isinstance(failure_states, str) else failure_states)

    # Earliest resolution per deploy; an unresolved incident restores nothing.
    resolved: dict[int, float] = {}
    for inc in incidents:
        if inc.resolved_at is not None:
            at = _ts(inc.resolved_at)
            if at < resolved.get(inc.deploy_id, math.inf):
                resolved[inc.deploy_id] = at

    # Deploys that never reached production play no part at all, not even as
    # "the next deploy" or "the previous deploy", so drop them first.
    scopes: dict[tuple[str, str], list[Deploy]] = defaultdict(list)
    for d in deploys:
        if d.status in COUNTED_STATUSES:
            scopes[(d.service, d.environment)].append(d)

    out: list[Shipped] = []
    for scope in scopes.values():
        # Ties on the instant are broken by id, so "next" and "previous" are total.
        scope.sort(key=lambda d: (_ts(d.deployed_at), d.id))
        ts = [d.deployed_at.timestamp() for d in scope]
        failed = [fails(d, failing) for d in scope]
        restoring = [restores(d, failing) for d in scope]

        # One backward pass gives, for every deploy, when the next restoring
        # deploy after it went out; recovery is then O(1) per failure.
        recovered_at: list[float | None] = [None] * len(scope)
        restored_by: list[int | None] = [None] * len(scope)
        next_restore, next_restore_id = math.inf, None
        for i in range(len(scope) - 1, -1, -1):
            if failed[i]:
                by_incident = resolved.get(scope[i].id, math.inf)
                at = min(next_restore, by_incident)
                recovered_at[i] = at if at != math.inf else None
                if next_restore != math.inf and next_restore <= by_incident:
                    restored_by[i] = next_restore_id
            if restoring[i]:
                next_restore, next_restore_id = ts[i], scope[i].id

        for i, d in enumerate(scope):
            if not lo <= ts[i] < hi:
                continue
            back = recovered_at[i]
            fix_forward = i > 0 and failed[i - 1] and _unrecovered(recovered_at[i - 1], ts[i])
            out.append(
                Shipped(
                    id=d.id,
                    at=ts[i],
                    failed=failed[i],
                    # still-open failures have no duration yet
                    recovery=max(0.0, back - ts[i]) if failed[i] and back is not None else None,
                    rework=d.rollback or fix_forward,
                    service=d.service,
                    restored_by=restored_by[i],
                    rework_after=scope[i - 1].id if fix_forward else None,
                )
            )

    _add_changes(out, scopes, changes)
    return out


def _add_changes(out: list[Shipped], scopes: dict[tuple[str, str], list[Deploy]], changes: Iterable[Change]) -> None:
    """Each commit's lead time (or its unknown date) on the first counted deploy of its scope that shipped it."""
    by_deploy: dict[int, list[Change]] = defaultdict(list)
    for c in changes:
        by_deploy[c.deploy_id].append(c)
    if not by_deploy:
        return
    by_id = {s.id: s for s in out}
    for scope in scopes.values():  # sorted by (deployed_at, id) above
        seen: set[str] = set()
        for d in scope:
            hit = by_id.get(d.id)
            for c in by_deploy.get(d.id, ()):
                if c.sha is not None:
                    if c.sha in seen:
                        continue
                    seen.add(c.sha)
                if hit is None:
                    continue
                if c.committed_at is None:
                    hit.unknown += 1
                else:
                    hit.leads.append(max(0.0, hit.at - _ts(c.committed_at)))


# --- compute -----------------------------------------------------------------


def compute(
    deploys: Iterable[Deploy],
    changes: Iterable[Change],
    incidents: Iterable[Incident],
    *,
    since: datetime,
    until: datetime,
    bucket: Bucket = "day",
    tz: str | tzinfo = "UTC",
    failure_states: Iterable[str] = DEFAULT_FAILURE_STATES,
) -> dict[str, Any]:
    """The four DORA key metrics, rework rate and a time series; see the module doc."""
    starts = bucket_starts(since, until, bucket, tz)  # also validates the arguments
    facts = shipped(deploys, changes, incidents, since=since, until=until, failure_states=failure_states)
    return summarize(tally(facts, starts), starts, since=since, until=until)


def _unrecovered(recovered_at: float | None, at: float) -> bool:
    """True when a failure recovering at `recovered_at` was still open at `at`."""
    return recovered_at is None or recovered_at >= at
