"""What every metric source provides: samples of one query over a time range."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True)
class Point:
    at: datetime
    value: float


class SourceError(Exception):
    """The source answered with an error (bad query, unreachable): shown per metric, never a pass.

    ``setting`` names the key to fix, for ``config check --online``: a key of the metric
    (``"query"``, ``"url"``, ``"jmespath"``) or a whole key of the source
    (``"sources.cloudwatch.region"``); empty when the error does not say.
    """

    def __init__(self, message: str, *, setting: str = "") -> None:
        super().__init__(message)
        self.setting = setting


class MetricSource(Protocol):
    async def fetch(self, query: str, start: datetime, end: datetime, step: float) -> list[Point]: ...


def expand(query: str, service: str, environment: str) -> str:
    """``$service`` and ``$environment`` in a query become the deploy's slugs."""
    return query.replace("$service", service).replace("$environment", environment)
