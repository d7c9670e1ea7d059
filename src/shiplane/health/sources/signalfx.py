"""SignalFx / Splunk Observability Cloud: ``GET https://api.{realm}.signalfx.com/v1/timeserieswindow``.

The answer is ``{"data": {"<tsid>": [[<unix ms>, value], ...]}, "errors": [...]}``:
one list per matching metric time series (MTS), each at the MTS's default rollup
(gauge: average, counter: sum). The series are summed per timestamp; nulls are
skipped. SignalFx keeps data at 1 s, 1 min, 5 min and 1 h only, so ``resolution``
is the smallest of those at least one step wide.
"""

from __future__ import annotations

import math
from datetime import datetime

import httpx

from shiplane import http
from shiplane.health.sources.base import Point, SourceError
from shiplane.health.sources.common import failure, json_body, sum_series
from shiplane.http import PermanentError, TransientError

RESOLUTIONS_MS = (1_000, 60_000, 300_000, 3_600_000)


def resolution(step: float) -> int:
    ms = step * 1000
    return next((r for r in RESOLUTIONS_MS if r >= ms), RESOLUTIONS_MS[-1])


class SignalFx:
    def __init__(self, realm: str, token: str, client: httpx.AsyncClient) -> None:
        self.url = f"https://api.{realm.strip()}.signalfx.com"
        self.token = token
        self.client = client

    async def fetch(self, query: str, start: datetime, end: datetime, step: float) -> list[Point]:
        params = {
            "query": query,
            "startMs": str(math.floor(start.timestamp() * 1000)),
            "endMs": str(math.ceil(end.timestamp() * 1000)),
            "resolution": str(resolution(step)),
        }
        try:
            response = await http.send(
                self.client, "GET", f"{self.url}/v1/timeserieswindow", "SignalFx timeserieswindow",
                params=params, headers={"X-SF-Token": self.token},
            )
        except (PermanentError, TransientError) as exc:
            raise failure(exc) from exc
        body = json_body(response, "SignalFx timeserieswindow")
        if not isinstance(body, dict):
            raise SourceError(f"SignalFx timeserieswindow answered with {str(body)[:200]}")
        errors = body.get("errors") or []
        if errors:
            # A partly failed search is still a failed one: never judge half the series.
            raise SourceError("; ".join(str(e.get("message", e)) if isinstance(e, dict) else str(e) for e in errors))
        try:
            return sum_series((body.get("data") or {}).values())
        except (TypeError, ValueError, AttributeError) as exc:
            raise SourceError(f"SignalFx timeserieswindow: unexpected data shape ({exc})") from exc

