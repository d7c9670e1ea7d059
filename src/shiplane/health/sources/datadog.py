"""Datadog: ``GET https://api.{site}/api/v1/query`` ("Query timeseries points", API v1).

The answer holds ``series[].pointlist`` as ``[[<unix ms>, value | null], ...]``.
Several series (a query grouped ``by {host}``) are summed per timestamp; null
points (no data in that rollup interval) are skipped, never read as zero.
"""

from __future__ import annotations

import math
from datetime import datetime

import httpx

from shiplane import http
from shiplane.health.sources.base import Point, SourceError
from shiplane.health.sources.common import failure, json_body, sum_series
from shiplane.http import PermanentError, TransientError


class Datadog:
    def __init__(self, site: str, api_key: str, app_key: str, client: httpx.AsyncClient) -> None:
        self.url = f"https://api.{site.strip().strip('/')}"
        self.api_key = api_key
        self.app_key = app_key
        self.client = client

    async def fetch(self, query: str, start: datetime, end: datetime, step: float) -> list[Point]:
        # Whole seconds, widened so the window is covered; points outside it are dropped later.
        params = {"from": str(math.floor(start.timestamp())), "to": str(math.ceil(end.timestamp())), "query": query}
        headers = {"DD-API-KEY": self.api_key, "DD-APPLICATION-KEY": self.app_key}
        try:
            response = await http.send(
                self.client, "GET", f"{self.url}/api/v1/query", "Datadog query", params=params, headers=headers
            )
        except (PermanentError, TransientError) as exc:
            raise failure(exc) from exc
        body = json_body(response, "Datadog query")
        if not isinstance(body, dict):
            raise SourceError(f"Datadog query answered with {str(body)[:200]}")
        if body.get("status", "ok") != "ok" or body.get("error"):
            raise SourceError(str(body.get("error") or f"query status {body.get('status')!r}"))
        try:
            return sum_series(s.get("pointlist") for s in body.get("series") or [])
        except (TypeError, ValueError, IndexError, AttributeError) as exc:
            raise SourceError(f"Datadog query: unexpected series shape ({exc})") from exc

