"""Prometheus: ``GET /api/v1/query_range`` (HTTP API v1)."""

from __future__ import annotations

import math
from collections import defaultdict
from datetime import UTC, datetime

import httpx

from shiplane import http
from shiplane.health.sources.base import Point, SourceError
from shiplane.http import PermanentError, TransientError


class Prometheus:
    def __init__(self, url: str, client: httpx.AsyncClient) -> None:
        self.url = url.rstrip("/")
        self.client = client

    async def fetch(self, query: str, start: datetime, end: datetime, step: float) -> list[Point]:
        params = {"query": query, "start": f"{start.timestamp():.3f}", "end": f"{end.timestamp():.3f}", "step": f"{step:g}"}
        try:
            response = await http.send(self.client, "GET", f"{self.url}/api/v1/query_range", "Prometheus query_range", params=params)
        except (PermanentError, TransientError) as exc:
            raise SourceError(_prometheus_message(exc)) from exc
        body = response.json()
        if body.get("status") != "success":
            raise SourceError(f"{body.get('errorType', 'error')}: {body.get('error', 'query failed')}")
        # Several series (a query that does not aggregate) are summed per timestamp.
        totals: dict[float, float] = defaultdict(float)
        for series in body.get("data", {}).get("result", []):
            for ts, value in series.get("values", []):
                v = float(value)
                if not math.isnan(v):
                    totals[float(ts)] += v
        return [Point(datetime.fromtimestamp(ts, UTC), v) for ts, v in sorted(totals.items())]


def _prometheus_message(exc: Exception) -> str:
    # Prometheus puts the reason of a 400 (a bad PromQL) in a JSON body; show that, not the HTTP noise.
    text = str(exc)
    marker = '"error":"'
    if marker in text:
        return text.split(marker, 1)[1].split('"', 1)[0]
    return text
