"""``shiplane config check --online``: can every remote metric source answer its metrics' queries?

Each ``[[metrics]]`` entry with a remote source is fetched once over the last few steps, for
the first environment and service it applies to. A failure is ``key: reason``, the key being
what to fix: the source's section (``sources.cloudwatch.region``, ``sources.newrelic.api_key``)
when the source says so, else the metric's own key (``metrics[2].query``). A source-wide
problem is said once, not once per metric. Reads only, like the forge check.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import anyio
import httpx

from shiplane import clock, http
from shiplane.health.sources.base import SourceError
from shiplane.health.sources.registry import REMOTE, query_for, source_for
from shiplane.settings import Config, MetricConfig, Settings

FETCHES = 16  # checks in flight at once
LOOK_BACK = timedelta(minutes=10)  # at least this much of the recent past is asked for


def scope(config: Config, metric: MetricConfig) -> tuple[str, str]:
    """(environment, service) a metric is checked for: the first it names, else the first configured."""
    production = [e.slug for e in config.environments if e.production]
    environment = (metric.environments or production or [e.slug for e in config.environments] or ["production"])[0]
    service = (metric.services or [s.slug for s in config.services] or ["web"])[0]
    return environment, service


async def problems(settings: Settings, *, transport: httpx.AsyncBaseTransport | None = None,
                   now: datetime | None = None) -> list[str]:
    config = settings.config
    now = now or clock.now()
    step = config.health.step.total_seconds()
    start = now - max(LOOK_BACK, timedelta(seconds=8 * step))
    checked = [(i, m) for i, m in enumerate(config.metrics) if m.source in REMOTE]
    found: list[str | None] = [None] * len(checked)
    limit = anyio.CapacityLimiter(FETCHES)

    async def check(k: int, i: int, metric: MetricConfig, client: httpx.AsyncClient) -> None:
        environment, service = scope(config, metric)
        async with limit:
            try:
                source = source_for(config, metric.source, client, environment=environment, service=service, metric=metric)
                await source.fetch(query_for(metric, service, environment), start, now, step)
            except SourceError as exc:
                key = exc.setting if exc.setting.startswith("sources.") else f"metrics[{i}].{exc.setting or 'source'}"
                found[k] = f"{key}: error from {metric.source}: {exc}"

    async with http.make_client(transport=transport) as client, anyio.create_task_group() as group:
        for k, (i, metric) in enumerate(checked):
            group.start_soon(check, k, i, metric, client)
    seen: set[str] = set()
    out = []
    for line in found:
        if line is not None and line not in seen:  # one bad key makes every metric of that source fail alike
            seen.add(line)
            out.append(line)
    return out
