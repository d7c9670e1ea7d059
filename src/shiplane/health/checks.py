"""Built-in synthetic HTTP checks (``[[checks]]``): probe URLs, store availability and latency samples.

Every probe of check ``<name>`` stores, in ``metric_samples`` (beside pushed samples):

* ``<name> availability``: 1.0 when the answer's status is ``expect_status``, else
  0.0 (another status, a timeout, a refused connection, a TLS error);
* ``<name> latency``: milliseconds from sending the request to having read the
  whole answer, stored only when an answer arrived (of any status). A timeout has
  no latency to measure (it would only repeat the ``timeout`` setting) and a
  refused connection's would be misleadingly fast; availability records both.

A check probes once per environment it applies to (its ``environments``, or every
known environment), and once per service when its URL contains ``$service``;
``$environment`` and ``$service`` in the URL become the slugs. Samples of a URL
without ``$service`` carry no service, so they count for every service's deploys.

When a check is due is worked out from the newest stored sample and ``now`` alone
(``due``): a restarted worker carries on where the last one stopped instead of
probing everything at once. Samples of every metric older than ``push.retention``
are deleted hourly by the judge (``HealthJudge.prune``).
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

import anyio
import httpx
from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from shiplane import clock, http
from shiplane.db import Database
from shiplane.health import push
from shiplane.health.sources.base import expand
from shiplane.settings import CheckConfig, Config
from shiplane.settings.lookups import availability_metric, latency_metric
from shiplane.tables.catalog import environments as environments_table
from shiplane.tables.catalog import services as services_table
from shiplane.tables.health import metric_samples

log = logging.getLogger("shiplane.checks")

IN_FLIGHT = 16  # probes at once
MIN_INTERVAL = timedelta(seconds=1)  # "0s" would probe on every worker tick, and the worker re-ticks at once after work

Key = tuple[str, str, str | None]  # (check name, environment, service)


@dataclass(frozen=True)
class Target:
    check: str
    environment: str
    service: str | None
    url: str

    @property
    def key(self) -> Key:
        return (self.check, self.environment, self.service)


def targets(checks: list[CheckConfig], environments: list[str], services: list[str]) -> list[Target]:
    """Every (check, environment, service) to probe, with its URL; ``environments``/``services``: all known."""
    out: dict[Key, Target] = {}
    for c in checks:
        per_service = "$service" in c.url
        for env in c.environments or environments:
            for svc in (c.services or services) if per_service else [None]:
                t = Target(c.name, env, svc, expand(c.url, svc or "", env))
                out.setdefault(t.key, t)
    return list(out.values())


def due(targets: list[Target], intervals: dict[str, timedelta], last: dict[Key, datetime], now: datetime) -> list[Target]:
    """The targets whose newest sample is at least one interval old (or that have none)."""
    return [t for t in targets if (at := last.get(t.key)) is None or now - at >= intervals[t.check]]


def next_due(targets: list[Target], intervals: dict[str, timedelta], last: dict[Key, datetime], now: datetime) -> datetime | None:
    """When the next target falls due (``now`` if one already is); None without targets."""
    times = [last[t.key] + intervals[t.check] if t.key in last else now for t in targets]
    return max(now, min(times)) if times else None


@dataclass(frozen=True)
class Outcome:
    up: bool
    latency_ms: float | None
    detail: str


async def probe(client: httpx.AsyncClient, url: str, timeout: float, expect_status: int) -> Outcome:
    """One request: redirects are not followed (``expect_status = 301`` checks a redirect)."""
    started = time.perf_counter()
    try:
        # httpx's timeout is per phase; the check's timeout is for the whole answer.
        with anyio.fail_after(timeout):
            response = await client.get(url, timeout=timeout)
    except TimeoutError:
        return Outcome(False, None, f"no answer within {timeout:g}s")
    except httpx.TimeoutException as exc:
        return Outcome(False, None, f"timed out ({type(exc).__name__})")
    except Exception as exc:  # noqa: BLE001 - a bad URL or a TLS failure is a failed probe, never a failed tick
        return Outcome(False, None, f"{type(exc).__name__}: {exc}")
    latency = (time.perf_counter() - started) * 1000
    return Outcome(response.status_code == expect_status, latency, f"HTTP {response.status_code}")


def samples_for(group: list[Target], outcome: Outcome, at: datetime) -> list[push.Sample]:
    out = []
    for t in group:
        out.append(push.Sample(availability_metric(t.check), t.environment, 1.0 if outcome.up else 0.0, at, t.service))
        if outcome.latency_ms is not None:
            out.append(push.Sample(latency_metric(t.check), t.environment, outcome.latency_ms, at, t.service))
    return out


def known_scopes(conn: Connection) -> tuple[list[str], list[str]]:
    envs = conn.execute(select(environments_table.c.slug).order_by(environments_table.c.slug)).scalars().all()
    svcs = conn.execute(select(services_table.c.slug).order_by(services_table.c.slug)).scalars().all()
    return list(envs), list(svcs)


def last_probes(conn: Connection, checks: list[str], since: datetime) -> dict[Key, datetime]:
    """The newest availability sample per (check, environment, service) since ``since``."""
    by_metric = {availability_metric(c): c for c in checks}
    c = metric_samples.c
    rows = conn.execute(
        select(c.metric, c.environment, c.service, func.max(c.at).label("at"))
        .where(c.metric.in_(list(by_metric)), c.at >= since)
        .group_by(c.metric, c.environment, c.service)
    ).all()
    return {(by_metric[r.metric], r.environment, r.service): r.at for r in rows}


def record(conn: Connection, probed: list[tuple[list[Target], Outcome]], intervals: dict[str, timedelta],
           now: datetime, checks: list[str]) -> int:
    """Store one tick's samples in one transaction. Returns how many probes were kept.

    (Old samples are pruned by the judge, for every metric: ``HealthJudge.prune``.)"""
    # Another worker process may have probed the same targets meanwhile: keep the first.
    fresh = last_probes(conn, checks, now - max(intervals.values()))
    rows: list[push.Sample] = []
    kept = 0
    for group, outcome in probed:
        group = [t for t in group if t.key not in fresh or now - fresh[t.key] >= intervals[t.check]]
        if group:
            kept += 1
            rows.extend(samples_for(group, outcome, now))
    push.store(conn, rows)
    return kept


class HttpChecker:
    """The worker's side: probe every check that is due, store what it saw."""

    def __init__(self, config: Config, db: Database, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.config = config
        self.db = db
        self.transport = transport
        self.intervals = {c.name: max(c.interval, MIN_INTERVAL) for c in config.checks}
        self._next_at: datetime | None = None  # a hint only: the database decides what is due

    async def tick(self) -> int:
        if not self.config.checks:
            return 0
        return await self.run(clock.now())

    async def run(self, now: datetime) -> int:
        """Probe what is due at ``now``; returns how many requests were made."""
        if self._next_at is not None and now < self._next_at:
            return 0
        checks = [c.name for c in self.config.checks]
        environments, services = await self.db.run_read(known_scopes)
        plan = targets(self.config.checks, environments, services)
        if not plan:
            self._next_at = now + min(self.intervals.values())  # look again for new environments
            return 0
        last = await self.db.run_read(last_probes, checks, now - max(self.intervals.values()))
        todo = due(plan, self.intervals, last, now)
        if not todo:
            self._next_at = next_due(plan, self.intervals, last, now)
            return 0
        groups: dict[tuple[str, str], list[Target]] = defaultdict(list)
        for t in todo:
            groups[(t.check, t.url)].append(t)  # one request serves every target with the same URL
        probed = await self._probe_all(groups)
        await self.db.run_write(record, probed, self.intervals, now, checks)
        for t in todo:
            last[t.key] = now
        self._next_at = next_due(plan, self.intervals, last, now)
        return len(probed)

    async def _probe_all(self, groups: dict[tuple[str, str], list[Target]]) -> list[tuple[list[Target], Outcome]]:
        by_name = {c.name: c for c in self.config.checks}
        results: list[tuple[list[Target], Outcome]] = []
        limiter = anyio.CapacityLimiter(IN_FLIGHT)

        async def one(client: httpx.AsyncClient, check: CheckConfig, url: str, group: list[Target]) -> None:
            async with limiter:
                outcome = await probe(client, url, check.timeout.total_seconds(), check.expect_status)
            if not outcome.up:
                log.info("check %s (%s) failed: %s", check.name, url, outcome.detail)
            results.append((group, outcome))

        # A client per tick: probes are seconds apart, and a fresh connection each time
        # keeps DNS, TCP and TLS set-up inside every latency sample alike.
        async with http.make_client(transport=self.transport) as client, anyio.create_task_group() as tg:
            for (name, url), group in groups.items():
                tg.start_soon(one, client, by_name[name], url, group)
        return results
