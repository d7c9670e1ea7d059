"""Pushed custom metric samples (the ``push`` source stores them here)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, insert
from sqlalchemy.engine import Connection

from shiplane.settings import Config
from shiplane.tables.health import metric_samples

# Samples (pushed and probed) are kept long enough for every window the judge reads:
# the baseline, the window after a deploy, and the same window on earlier days.
RETENTION = timedelta(days=8)
PRUNE_EVERY = timedelta(hours=1)


@dataclass(frozen=True)
class Sample:
    metric: str
    environment: str
    value: float
    at: datetime
    service: str | None = None


def store(conn: Connection, samples: Iterable[Sample]) -> int:
    rows = [
        {"metric": s.metric, "environment": s.environment, "service": s.service, "value": s.value, "at": s.at}
        for s in samples
    ]
    if rows:
        conn.execute(insert(metric_samples), rows)
    return len(rows)


def retention(config: Config) -> timedelta:
    health = config.health
    return max(RETENTION, health.baseline + health.window, timedelta(days=health.history_days + 1) + health.window)


def prune(conn: Connection, before: datetime) -> int:
    return conn.execute(delete(metric_samples).where(metric_samples.c.at < before)).rowcount
