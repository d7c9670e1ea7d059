"""Pushed custom metric samples (the ``push`` source stores them here)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import insert
from sqlalchemy.engine import Connection

from shiplane.health.models import metric_samples


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
