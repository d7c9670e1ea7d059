"""New Relic: an NRQL query through NerdGraph, ``POST {url}`` with the ``API-Key`` header.

The metric's ``query`` is NRQL without ``SINCE``, ``UNTIL`` or ``TIMESERIES``; Shiplane adds
them: ``SINCE '<start>' UNTIL '<end>' TIMESERIES <step>``. The GraphQL query is the one the
NerdGraph NRQL tutorial shows, ``actor { account(id) { nrql(query) { results } } }``
(https://docs.newrelic.com/docs/apis/nerdgraph/examples/nerdgraph-nrql-tutorial/). With
``TIMESERIES`` each result is one bucket: ``{"beginTimeSeconds", "endTimeSeconds", <the
selected value>}``; a ``FACET`` gives one bucket per facet, summed per instant here. NerdGraph
reports failures (a bad NRQL, a key without access to the account) in the GraphQL ``errors``
array, often with an HTTP 200: any error there fails the fetch, never half a series.
"""

from __future__ import annotations

import math
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

import httpx

from shiplane import http
from shiplane.health.sources.base import Point, SourceError
from shiplane.health.sources.common import failure, json_body
from shiplane.http import PermanentError, TransientError

WHAT = "New Relic NerdGraph"
MAX_BUCKETS = 366  # NRQL's limit for TIMESERIES
GRAPHQL = (
    "query ShiplaneMetric($accountId: Int!, $nrql: Nrql!) "
    "{ actor { account(id: $accountId) { nrql(query: $nrql, timeout: 30) { results } } } }"
)
_NOT_VALUES = {"beginTimeSeconds", "endTimeSeconds", "facet", "timestamp", "inspectedCount"}
_ACCESS = {"FORBIDDEN", "UNAUTHORIZED", "UNAUTHENTICATED"}


def _when(at: datetime) -> str:
    # NRQL takes quoted ISO instants in SINCE and UNTIL
    return at.astimezone(UTC).strftime("'%Y-%m-%dT%H:%M:%SZ'")


def nrql(query: str, start: datetime, end: datetime, step: float) -> str:
    """The metric's NRQL with the window and the bucket size added (whole minutes where the step is,
    and wide enough that the window fits NRQL's 366 buckets)."""
    seconds = max(step, (end - start).total_seconds() / MAX_BUCKETS)
    count, unit = (math.ceil(seconds / 60), "minute") if seconds % 60 == 0 or seconds > 60 else (math.ceil(seconds), "second")
    size = f"{count} {unit}" if count == 1 else f"{count} {unit}s"
    return f"{query.strip()} SINCE {_when(start)} UNTIL {_when(end)} TIMESERIES {size}"


def _number(value: Any) -> float | None:
    """A selected value: a number, or the one number of a nested result such as percentile's ``{"95": 0.3}``."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, dict) and len(value) == 1:
        return _number(next(iter(value.values())))
    return None


def points(results: Any) -> list[Point]:
    if not isinstance(results, list):
        raise SourceError(f"NRQL results are not a list: {str(results)[:200]}")
    totals: dict[float, float] = defaultdict(float)
    for row in results:
        if not isinstance(row, dict) or not isinstance(row.get("beginTimeSeconds"), (int, float)):
            raise SourceError(f"NRQL results are not TIMESERIES buckets: {str(row)[:200]}")
        values = {k: v for k, v in row.items() if k not in _NOT_VALUES and (isinstance(v, (int, float, dict)) or v is None)}
        numeric = {k: _number(v) for k, v in values.items()}
        if len(numeric) > 1:
            raise SourceError(f"the query selects {len(numeric)} values ({', '.join(sorted(numeric))}); select one", setting="query")
        value = next(iter(numeric.values()), None)
        if value is not None and not math.isnan(value):  # null: no data in that bucket, never zero
            totals[float(row["beginTimeSeconds"])] += value
    return [Point(datetime.fromtimestamp(t, UTC), v) for t, v in sorted(totals.items())]


def graphql_errors(errors: list[Any]) -> SourceError:
    messages, classes = [], set()
    for e in errors:
        if isinstance(e, dict):
            messages.append(str(e.get("message") or e))
            ext = e.get("extensions") or {}
            if isinstance(ext, dict):
                classes.add(str(ext.get("errorClass") or ext.get("code") or ""))
        else:
            messages.append(str(e))
    setting = "sources.newrelic.api_key" if classes & _ACCESS else "query"
    return SourceError("; ".join(messages)[:1000], setting=setting)


class NewRelic:
    def __init__(self, url: str, account_id: int, api_key: str, client: httpx.AsyncClient) -> None:
        self.url = url
        self.account_id = account_id
        self.api_key = api_key
        self.client = client

    async def fetch(self, query: str, start: datetime, end: datetime, step: float) -> list[Point]:
        payload = {"query": GRAPHQL, "variables": {"accountId": self.account_id, "nrql": nrql(query, start, end, step)}}
        try:
            response = await http.send(self.client, "POST", self.url, WHAT, json=payload,
                                       headers={"API-Key": self.api_key, "Accept": "application/json"})
        except (PermanentError, TransientError) as exc:
            status = exc.response.status_code if exc.response is not None else None
            setting = "sources.newrelic.api_key" if status in (401, 403) else "sources.newrelic.url" if status is None else ""
            raise failure(exc, setting=setting) from exc
        body = json_body(response, WHAT)
        if not isinstance(body, dict):
            raise SourceError(f"{WHAT} answered with {str(body)[:200]}")
        if body.get("errors"):
            raise graphql_errors(body["errors"] if isinstance(body["errors"], list) else [body["errors"]])
        try:
            results = body["data"]["actor"]["account"]["nrql"]["results"]
        except (KeyError, TypeError) as exc:
            raise SourceError(f"{WHAT} answered without NRQL results: {str(body)[:200]}") from exc
        return points(results)
