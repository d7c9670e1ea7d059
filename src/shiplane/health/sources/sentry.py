"""Sentry: event counts per interval from ``GET /api/0/organizations/{org}/events-stats/``.

The answer is ``{"data": [[<unix seconds>, [{"count": n}]], ...]}``, one pair per
bucket, zero-filled. ``query`` is a Sentry search query (``event.type:error
project:web``); the deploy's environment is sent as ``environment=`` unless the
query names ``environment:`` itself (for environments Sentry calls differently).
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime

import httpx

from shiplane import http
from shiplane.health.sources.base import Point, SourceError
from shiplane.health.sources.common import failure, json_body
from shiplane.http import PermanentError, TransientError

DEFAULT_QUERY = "event.type:error"
_ENV_FILTER = re.compile(r"(^|[\s(!])environment:", re.IGNORECASE)


def interval(step: float) -> str:
    """Sentry's bucket size for a step: whole minutes, at least one."""
    return f"{max(1, math.ceil(step / 60))}m"


def _utc(at: datetime) -> str:
    # Naive UTC, the form Sentry's own docs and tests use (2001-12-14T12:34:56).
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")


class Sentry:
    def __init__(
        self, url: str, organization: str, token: str | None, client: httpx.AsyncClient, environment: str | None = None
    ) -> None:
        self.url = url.rstrip("/")
        self.organization = organization
        self.token = token
        self.client = client
        self.environment = environment

    def params(self, query: str, start: datetime, end: datetime, step: float) -> list[tuple[str, str]]:
        query = query.strip() or DEFAULT_QUERY
        params = [
            ("query", query),
            ("yAxis", "count()"),
            ("interval", interval(step)),
            ("start", _utc(start)),
            ("end", _utc(end)),
            ("project", "-1"),  # every project the token can read; narrow with project: in the query
        ]
        if self.environment and not _ENV_FILTER.search(query):
            params.append(("environment", self.environment))
        return params

    async def fetch(self, query: str, start: datetime, end: datetime, step: float) -> list[Point]:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        url = f"{self.url}/api/0/organizations/{self.organization}/events-stats/"
        try:
            response = await http.send(
                self.client, "GET", url, "Sentry events-stats", params=self.params(query, start, end, step), headers=headers
            )
        except (PermanentError, TransientError) as exc:
            raise failure(exc) from exc
        body = json_body(response, "Sentry events-stats")
        if not isinstance(body, dict) or not isinstance(body.get("data"), list):
            raise SourceError(f"Sentry events-stats answered without a data series: {str(body)[:200]}")
        try:
            return _points(body["data"])
        except (TypeError, ValueError, AttributeError) as exc:
            raise SourceError(f"Sentry events-stats: unexpected bucket shape ({exc})") from exc


def _points(data: list) -> list[Point]:
    points = []
    for ts, counts in data:
        # one dict per yAxis; a single count() here, summed to be safe
        values = [float(c.get("count")) for c in counts if c.get("count") is not None]
        if values:
            points.append(Point(datetime.fromtimestamp(float(ts), UTC), sum(values)))
    return points
