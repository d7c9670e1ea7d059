"""Deploy health over time: collect → judge → store → act.

Points are fetched on a grid of ``health.step`` (one point per step, the mean of what
the source has in it; a source that is coarser is judged at its own resolution). A
succeeded deploy is first judged once its window can hold the judge's first 8 points,
then every ``health.interval`` (default: every step) until its verdict is final — the
judge's sequential decision: unhealthy, or healthy with a regression ruled out — or its
window closes (``health.window``, cut short by the next deploy of the same service to
the same environment). A deploy registered after its window is over is judged at once,
finally. The baseline and the history (the same window on earlier days) lie in the
past: they are fetched at the first look and kept (a bounded cache per process; a
baseline still short of 8 points is fetched again); each look fetches the current. Fetching happens outside any transaction; the verdict and its
consequences (events, auto-lock, rollback webhook job) are written in one.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, TypeVar

import anyio
import httpx
from cachetools import LRUCache
from sqlalchemy import and_, or_, select, update
from sqlalchemy.engine import Connection

from shiplane import clock, http
from shiplane.clock import iso
from shiplane.db import Database
from shiplane.health import push, words
from shiplane.health import service as health_service
from shiplane.health.sources.base import Point, SourceError, expand
from shiplane.health.sources.common import per_step, spacing
from shiplane.health.sources.registry import query_for, source_for
from shiplane.jobs import queue
from shiplane.locks import service as locks
from shiplane.settings import Config, MetricConfig
from shiplane.settings.lookups import metrics_for
from shiplane.signing import HEADER, signature
from shiplane.tables.catalog import environments, services
from shiplane.tables.deploys import deploys
from shiplane.tables.health import metric_samples

log = logging.getLogger("shiplane.health")
T = TypeVar("T")
BATCH = 20
ROLLBACK_JOB = "rollback_webhook"
FIRST_LOOK = 8  # points the judge needs before its first look (shiplane.health.sequential.FIRST_LOOK)
PAST_CACHE = 2048  # (deploy, metric) pairs whose baseline and history are kept between looks
FETCHES = 32  # source fetches in flight at once for one deploy (a bound on connections and on the vendors' rate limits)
_ORDER = {"healthy": 0, "no_data": 0, "pending": 0, "ailing": 1, "unhealthy": 2, "incident": 3}


@dataclass(frozen=True)
class Due:
    id: int
    service: str
    environment: str
    environment_id: int
    service_id: int
    deployed_at: datetime
    health_state: str
    window_end: datetime


def due(conn: Connection, config: Config, now: datetime, limit: int = BATCH) -> list[Due]:
    rows = conn.execute(
        select(
            deploys.c.id, deploys.c.deployed_at, deploys.c.health_state, deploys.c.service_id, deploys.c.environment_id,
            services.c.slug.label("service"), environments.c.slug.label("environment"),
        )
        .join(services, services.c.id == deploys.c.service_id)
        .join(environments, environments.c.id == deploys.c.environment_id)
        .where(
            deploys.c.status == "succeeded",
            deploys.c.health_final.is_(False),
            or_(deploys.c.health_next_at.is_(None), deploys.c.health_next_at <= now),
        )
        .order_by(deploys.c.id)
        .limit(limit)
    ).all()
    out = []
    for r in rows:
        following = conn.execute(
            select(deploys.c.deployed_at)
            .where(
                deploys.c.service_id == r.service_id,
                deploys.c.environment_id == r.environment_id,
                deploys.c.status.in_(("succeeded", "rolled_back", "started")),
                or_(deploys.c.deployed_at > r.deployed_at, and_(deploys.c.deployed_at == r.deployed_at, deploys.c.id > r.id)),
            )
            .order_by(deploys.c.deployed_at, deploys.c.id)
            .limit(1)
        ).scalar()
        end = r.deployed_at + config.health.window
        if following is not None and following < end:
            end = following  # the next deploy cuts the window short
        out.append(Due(r.id, r.service, r.environment, r.environment_id, r.service_id, r.deployed_at, r.health_state, end))
    return out


def _push_points(conn: Connection, metric: str, environment: str, service: str, start: datetime, end: datetime) -> list[Point]:
    rows = conn.execute(
        select(metric_samples.c.at, metric_samples.c.value).where(
            metric_samples.c.metric == metric,
            metric_samples.c.environment == environment,
            or_(metric_samples.c.service.is_(None), metric_samples.c.service == service),
            metric_samples.c.at >= start,
            metric_samples.c.at < end,
        ).order_by(metric_samples.c.at)
    ).all()
    return [Point(r.at, r.value) for r in rows]


def _pairs(points: list[Point]) -> list[list[Any]]:
    return [[iso(p.at), p.value] for p in points]


def record_verdict(conn: Connection, item: Due, verdict: Any, final: bool, next_at: datetime | None,
                   config: Config, now: datetime, series: dict[str, Any] | None = None) -> str | None:
    """Store a verdict (with the series it was made from); on a change of state, act.
    Returns the new state when it changed."""
    row = conn.execute(select(deploys.c.health_state, deploys.c.health_final).where(deploys.c.id == item.id)).first()
    if row is None or row.health_final:
        return None  # a human (or a resolved race) settled it meanwhile
    detail = verdict.to_dict()
    for metric in detail["metrics"]:
        if series and metric["name"] in series:
            metric["series"] = series[metric["name"]]
    conn.execute(
        update(deploys)
        .where(deploys.c.id == item.id)
        .values(health_score=detail.get("score"), health_next_at=next_at, health_detail={"metrics": detail["metrics"]})
    )
    state = verdict.health
    if row.health_state == state and not final:
        return None
    health_service.set_health(conn, item.id, state, reason=verdict.reason, actor="judge", now=now, final=final)
    if row.health_state == state:
        return None
    _act(conn, item, state, verdict, config, now)
    return state


def _act(conn: Connection, item: Due, state: str, verdict: Any, config: Config, now: datetime) -> None:
    threshold = config.health.auto_lock
    if threshold != "never" and _ORDER.get(state, 0) >= _ORDER[threshold]:
        units = {m.name: m.unit for m in config.metrics}
        reason = words.lock_reason(item.service, item.id, state, [m.to_dict() for m in verdict.metrics], units)
        scope = item.service if config.health.auto_lock_scope == "service" else None
        try:
            locks.create_auto(conn, environment=item.environment, service=scope, reason=reason[:1000], deploy_id=item.id, now=now)
        except Exception as exc:  # noqa: BLE001 - an auto-lock must never undo the verdict
            log.warning("auto-lock for deploy %s failed: %s", item.id, exc)
        if config.health.rollback_webhook:
            queue.enqueue(
                conn,
                ROLLBACK_JOB,
                {"deploy_id": item.id, "service": item.service, "environment": item.environment, "health": state,
                 "reason": verdict.reason},
                now,
                dedupe_key=f"{ROLLBACK_JOB}:{item.id}:{state}",
            )
    if state == "healthy":
        release_for_service(conn, item, now)


def release_for_service(conn: Connection, item: Due, now: datetime) -> None:
    """A later healthy deploy of the same service ends the auto-locks its earlier deploys caused."""
    rows = conn.execute(
        locks.joined().where(
            locks.locks.c.environment_id == item.environment_id,
            locks.locks.c.kind == "auto",
            locks.locks.c.ended_at.is_(None),
            locks.locks.c.deploy_id.in_(
                select(deploys.c.id).where(deploys.c.service_id == item.service_id, deploys.c.id < item.id)
            ),
        )
    ).all()
    for lock in rows:
        locks.end(conn, lock.id, actor="judge", note=f"deploy #{item.id} of {item.service} is healthy", now=now)


@dataclass(frozen=True)
class Past:
    """What a deploy's metric had before it: the baseline, the history windows, and the resolution."""

    baseline: list[Point]
    history: list[list[float]]
    step: float  # seconds per point: health.step, or the source's own when it is coarser


class HealthJudge:
    """The worker's side: judge the deploys that are due."""

    def __init__(self, config: Config, db: Database, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.config = config
        self.db = db
        self.client = http.make_client(transport=transport)
        self._pruned_at: datetime | None = None
        self._past: LRUCache[tuple[int, str, datetime], Past] = LRUCache(maxsize=PAST_CACHE)
        self.fetches = FETCHES

    async def _raw(self, m: MetricConfig, item: Due, start: datetime, end: datetime, limit: anyio.CapacityLimiter) -> list[Point]:
        step = self.config.health.step.total_seconds()
        async with limit:
            if m.source in ("push", "http_check"):
                query = expand(m.query or m.name, item.service, item.environment)
                return await self.db.run_read(_push_points, query, item.environment, item.service, start, end)
            query = query_for(m, item.service, item.environment)
            source = source_for(self.config, m.source, self.client, environment=item.environment, service=item.service, metric=m)
            return await source.fetch(query, start, end, step)

    async def _past_of(self, m: MetricConfig, item: Due, limit: anyio.CapacityLimiter) -> Past:
        """The baseline at step (or the source's coarser resolution) and the history windows, fetched once."""
        key = (item.id, m.name, item.window_end)
        if key in self._past:
            return self._past[key]
        start = item.deployed_at - self.config.health.baseline
        raw = await self._raw(m, item, start, item.deployed_at, limit)
        step = max(self.config.health.step.total_seconds(), spacing(raw))
        past = Past(per_step(raw, start, item.deployed_at, step), await self._history(m, item, step, limit), step)
        if len(past.baseline) >= FIRST_LOOK:  # a baseline still filling (samples pushed late) is fetched again
            self._past[key] = past
        return past

    async def _metric(self, m: MetricConfig, item: Due, current_end: datetime,
                      limit: anyio.CapacityLimiter) -> tuple[Past, list[Point], str | None]:
        """One metric's past and current (fetched side by side), or the source's error."""
        past_or_error, raw_or_error = await _all([
            self._past_of(m, item, limit), self._raw(m, item, item.deployed_at, current_end, limit),
        ])
        step = past_or_error.step if isinstance(past_or_error, Past) else self.config.health.step.total_seconds()
        for result in (past_or_error, raw_or_error):
            if isinstance(result, SourceError):
                # Never a pass: an unreachable source or a bad query is no data, with the source's words.
                return Past([], [], step), [], f"error from {m.source}: {result}"
        return past_or_error, per_step(raw_or_error, item.deployed_at, current_end, step), None

    async def _inputs(self, item: Due, now: datetime) -> tuple[list[Any], dict[str, str], dict[str, Any]]:
        """The judge's inputs, the metrics whose source failed (judged as empty, i.e. no_data),
        and the series themselves (kept with the verdict so the deploy page can chart them).

        The metrics' fetches run side by side, at most ``FETCHES`` at a time: a deploy judged
        on 200 metrics waits for the slowest few answers, not for the sum of them all.
        """
        from shiplane.health.judge import MetricInput  # numpy and scipy load on first use: a fast start

        inputs: list[Any] = []
        errors: dict[str, str] = {}
        series: dict[str, Any] = {}
        current_end = min(now, item.window_end)
        limit = anyio.CapacityLimiter(self.fetches)
        metrics = metrics_for(self.config, item.environment, item.service)
        fetched = await _all([self._metric(m, item, current_end, limit) for m in metrics])
        for m, (past, current, error) in zip(metrics, fetched, strict=True):
            if error is not None:
                errors[m.name] = error
            series[m.name] = {"baseline": _pairs(past.baseline), "current": _pairs(current), "step": past.step}
            inputs.append(
                MetricInput(
                    name=m.name, baseline=[p.value for p in past.baseline], current=[p.value for p in current],
                    regression=m.regression, critical=m.critical, ailing_ratio=m.ailing_ratio,
                    unhealthy_ratio=m.unhealthy_ratio, history=past.history, step=past.step,
                )
            )
        return inputs, errors, series

    async def _history(self, m: MetricConfig, item: Due, step: float, limit: anyio.CapacityLimiter) -> list[list[float]]:
        """The deploy's whole window on each of the ``history_days`` days before: a second reference.

        Real metrics have daily cycles; a current that is only as high as this window
        usually is, is not a regression. One fetch per day (a source answering a week in
        one query would pick a coarser resolution). Windows with too few points are
        ignored by the judge; a failing fetch means no history for that day, not an error.
        """
        day = timedelta(days=1)
        bounds = [(item.deployed_at - k * day, item.window_end - k * day) for k in range(1, self.config.health.history_days + 1)]
        fetched = await _all([self._raw(m, item, lo, hi, limit) for lo, hi in bounds])
        windows = []
        for (lo, hi), raw in zip(bounds, fetched, strict=True):
            if isinstance(raw, SourceError):
                continue
            points = per_step(raw, lo, hi, step)
            if points:
                windows.append([p.value for p in points])
        return windows

    async def judge_one(self, item: Due, now: datetime) -> str | None:
        from shiplane.health.judge import judge

        inputs, errors, series = await self._inputs(item, now)
        verdict = judge(inputs)
        step = self.config.health.step.total_seconds()
        verdict = replace(verdict, metrics=tuple(
            replace(v, reason=errors[v.name] if v.name in errors else _coarser(v.reason, m.step, step))
            for m, v in zip(inputs, verdict.metrics, strict=True)
        ))
        # the sequential decision is final (unhealthy, or a regression ruled out), or the window is over
        final = verdict.final or now >= item.window_end
        next_at = None if final else min(now + self.config.health.interval, item.window_end)
        return await self.db.run_write(record_verdict, item, verdict, final, next_at, self.config, now, series)

    async def prune(self, now: datetime) -> None:
        """Delete metric samples (pushed and probed) past the retention, at most hourly.
        Runs even with nothing configured to judge: pushed samples must not pile up forever."""
        if self._pruned_at is None or now - self._pruned_at >= push.PRUNE_EVERY:
            await self.db.run_write(push.prune, now - push.retention(self.config))
            self._pruned_at = now

    async def tick(self, now: datetime | None = None) -> int:
        now = now or clock.now()
        await self.prune(now)
        if not self.config.metrics and not self.config.checks:
            return 0
        items = await self.db.run_read(due, self.config, now)
        health = self.config.health
        for item in items:
            first = item.deployed_at + max(health.interval, FIRST_LOOK * health.step)
            if now < first and now < item.window_end:
                # Not enough "current" data yet: plan the first look.
                await self.db.run_write(_plan, item.id, min(first, item.window_end))
                continue
            await self.judge_one(item, now)
        return len(items)

    async def call_rollback(self, payload: dict[str, Any]) -> None:
        """The signed rollback hook (a durable job, retried like any delivery)."""
        body = json.dumps(payload, sort_keys=True).encode()
        headers = {"Content-Type": "application/json"}
        secret = self.config.health.rollback_secret
        if secret is not None:
            headers[HEADER] = signature(secret.get_secret_value(), body)
        await http.send(self.client, "POST", self.config.health.rollback_webhook, "rollback webhook", content=body, headers=headers)

    async def close(self) -> None:
        await self.client.aclose()


def _coarser(reason: str, resolution: float | None, step: float) -> str:
    """Say so when a source was judged at its own, coarser resolution."""
    if resolution is None or resolution <= step * 1.5:
        return reason
    minutes = resolution / 60
    size = f"{minutes:g}-minute" if minutes >= 1 else f"{resolution:g}-second"
    return f"{reason} (judged at the source's {size} resolution)"


async def _all(calls: list[Awaitable[T]]) -> list[T | SourceError]:
    """Await ``calls`` side by side; each answer in order, or its SourceError (any other error is raised)."""
    out: list[Any] = [None] * len(calls)

    async def one(i: int, call: Awaitable[T]) -> None:
        try:
            out[i] = await call
        except Exception as exc:  # noqa: BLE001 - kept, and raised below unless it is a source's error
            out[i] = exc

    async with anyio.create_task_group() as group:
        for i, call in enumerate(calls):
            group.start_soon(one, i, call)
    for result in out:
        if isinstance(result, Exception) and not isinstance(result, SourceError):
            raise result
    return out


def _plan(conn: Connection, deploy_id: int, at: datetime) -> None:
    conn.execute(update(deploys).where(deploys.c.id == deploy_id).values(health_next_at=at))

