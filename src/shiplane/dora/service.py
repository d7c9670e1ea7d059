"""The DORA report: scope and range checks, then roll-ups or deploys, then the pure maths."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.engine import Connection

from shiplane.clock import iso
from shiplane.dora import metrics, rollups, rows
from shiplane.errors import Invalid, UnknownEnvironment, UnknownService
from shiplane.tables.catalog import environments, services
from shiplane.tables.deploys import deploys

MAX_RANGE = timedelta(days=1096)  # three years, one of them a leap year (SPEC §8.9)
WINDOW = timedelta(days=30)  # the API's default range and the Prometheus gauges


def window(now: datetime) -> tuple[datetime, datetime]:
    """The last 30 days up to `now`: the default range of the API and the range of the gauges."""
    return now - WINDOW, now


_FIRST_DEPLOY = (
    select(deploys.c.deployed_at)
    .where(deploys.c.environment_id == bindparam("eid"), deploys.c.status.in_(rows.COUNTED))
    .order_by(deploys.c.deployed_at, deploys.c.id)
    .limit(1)
)


def tracking_start(conn: Connection, environment_id: int, tz: str) -> datetime | None:
    """The start of the local day (in `tz`) of the first counted deploy in the environment."""
    first = conn.execute(_FIRST_DEPLOY, {"eid": environment_id}).scalar()
    if first is None:
        return None
    return metrics.bucket_starts(first, first + timedelta(seconds=1), "day", tz)[0]


def clip(since: datetime, until: datetime, start: datetime | None) -> datetime:
    """`since`, moved up to where tracking began when the range starts before it (and ends after)."""
    if start is not None and since < start < until:
        return start
    return since


def default_environment(conn: Connection) -> str:
    """The production environment: the one flagged production (ties: 'production', then the oldest)."""
    slugs = conn.execute(
        select(environments.c.slug).where(environments.c.production.is_(True)).order_by(environments.c.id)
    ).scalars().all()
    if "production" in slugs:
        return "production"
    return slugs[0] if slugs else "production"


def _ids(conn: Connection, environment: str, service: str | None) -> tuple[int, int | None]:
    env_id = conn.execute(select(environments.c.id).where(environments.c.slug == environment)).scalar()
    if env_id is None:
        raise UnknownEnvironment(f"unknown environment {environment!r}", environment=environment)
    svc_id = None
    if service:
        svc_id = conn.execute(select(services.c.id).where(services.c.slug == service)).scalar()
        if svc_id is None:
            raise UnknownService(f"unknown service {service!r}", service=service)
    return env_id, svc_id


def scope(
    conn: Connection, *, environment: str | None, service: str | None, since: datetime, until: datetime
) -> tuple[str, int, int | None, datetime]:
    """Check the range, resolve the scope: (environment slug, environment id, service id or None, since)."""
    if until <= since:
        raise Invalid("until", "must be after since")
    if until - since > MAX_RANGE:
        raise Invalid("since", "the range may span at most 1,096 days")
    environment = environment or default_environment(conn)
    env_id, svc_id = _ids(conn, environment, service)
    return environment, env_id, svc_id, since


def report(
    conn: Connection,
    *,
    since: datetime,
    until: datetime,
    environment: str | None = None,
    service: str | None = None,
    bucket: str = "day",
    tz: str = "UTC",
    failure_states: tuple[str, ...] = metrics.DEFAULT_FAILURE_STATES,
) -> dict[str, Any]:
    """The DORA report of a scope and range, exact (see shiplane.dora.metrics for the definitions).

    From the daily roll-ups when they were built for these settings (whole
    local days), else, and for partial days, from the deploys themselves:
    the two ways give the same numbers.
    """
    environment, env_id, svc_id, requested = scope(conn, environment=environment, service=service, since=since, until=until)
    # Days before the first deploy would only dilute the frequency: start where tracking began.
    since = clip(since, until, tracking_start(conn, env_id, tz))
    starts = metrics.bucket_starts(since, until, bucket, tz)  # type: ignore[arg-type]
    failing = tuple(sorted(set(failure_states)))
    tallies = rollups.bucket_tallies(
        conn,
        environment_id=env_id,
        service_id=svc_id,
        since=since,
        until=until,
        starts=starts,
        tz=tz,
        failure_states=failing,
    )
    if tallies is None:
        found = rows.facts(conn, environment_id=env_id, service_id=svc_id, lo=since, hi=until, failure_states=failing)
        tallies = metrics.tally(found, starts)
    out = metrics.summarize(tallies, starts, since=since, until=until)
    return {
        "environment": environment,
        "service": service,
        "since": iso(since),
        "until": iso(until),
        "bucket": bucket,
        "clipped": since != requested,
    } | out
