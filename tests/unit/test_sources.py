"""Sentry, Datadog and SignalFx sources against their documented answers, served by httpx.MockTransport.

The bodies are the shapes the vendors document:
* Sentry ``events-stats``: ``{"data": [[<unix s>, [{"count": n}]], ...]}`` (Sentry's own
  endpoint tests, tests/snuba/api/endpoints/test_organization_events_stats.py; errors
  are ``{"detail": "..."}``).
* Datadog ``GET /api/v1/query``: docs.datadoghq.com/api/latest/metrics/query-timeseries-points
  (``series[].pointlist`` of ``[ms, value|null]``; errors ``{"errors": [...]}``).
* SignalFx ``GET /v1/timeserieswindow``: dev.splunk.com/observability/reference/api/retrieve_timeserieswindow
  (``{"data": {"<tsid>": [[ms, value], ...]}, "errors": [...]}``).
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import anyio
import httpx
import pytest

from shiplane import http
from shiplane.health.lifecycle import Due, HealthJudge
from shiplane.health.sources.base import Point, SourceError, expand
from shiplane.health.sources.common import per_step, vendor_reason
from shiplane.health.sources.datadog import Datadog
from shiplane.health.sources.prometheus import Prometheus
from shiplane.health.sources.registry import source_for
from shiplane.health.sources.sentry import Sentry, interval
from shiplane.health.sources.signalfx import SignalFx, resolution
from shiplane.settings import Config

T0 = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)
S0 = int(T0.timestamp())
MS0 = S0 * 1000


class Recorder:
    """A MockTransport that answers every request with one canned response and keeps the requests."""

    def __init__(self, status: int = 200, body: object = None, *, text: str | None = None, exc: Exception | None = None):
        self.status, self.body, self.text, self.exc = status, body, text, exc
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.exc is not None:
            raise self.exc
        if self.text is not None:
            return httpx.Response(self.status, text=self.text)
        return httpx.Response(self.status, json=self.body)

    @property
    def params(self) -> httpx.QueryParams:
        (request,) = self.requests
        return request.url.params


def run(make, recorder: Recorder, query: str, start=T0, end=T0 + timedelta(hours=1), step=300.0) -> list[Point]:
    async def go():
        async with http.make_client(transport=httpx.MockTransport(recorder)) as client:
            return await make(client).fetch(query, start, end, step)

    return anyio.run(go)


def sentry(environment="production", token="sntrys_secret"):
    return lambda client: Sentry("https://sentry.example.com/", "acme", token, client, environment=environment)


def datadog(site="datadoghq.eu"):
    return lambda client: Datadog(site, "dd-api", "dd-app", client)


def signalfx(realm="us1"):
    return lambda client: SignalFx(realm, "sfx-token", client)


# ------------------------------------------------------------------ Sentry

SENTRY_STATS = {
    "data": [
        [S0, [{"count": 473}]],
        [S0 + 300, [{"count": 914}]],
        [S0 + 600, [{"count": 0}]],
        [S0 + 900, [{"count": None}]],  # no value for the bucket: no point, never a zero
    ],
    "start": S0,
    "end": S0 + 1200,
    "isMetricsData": False,
}


def test_it_asks_sentry_for_counts_in_the_deploys_environment():
    rec = Recorder(body=SENTRY_STATS)
    query = expand("event.type:error project:$service", "web", "production")
    points = run(sentry(), rec, query)
    (request,) = rec.requests
    assert request.url.path == "/api/0/organizations/acme/events-stats/"
    assert request.url.host == "sentry.example.com"
    assert request.headers["Authorization"] == "Bearer sntrys_secret"
    p = rec.params
    assert p["query"] == "event.type:error project:web"
    assert p["environment"] == "production"
    assert (p["yAxis"], p["interval"], p["project"]) == ("count()", "5m", "-1")
    assert (p["start"], p["end"]) == ("2026-03-02T14:00:00", "2026-03-02T15:00:00")  # naive UTC, as Sentry documents
    assert [(pt.at, pt.value) for pt in points] == [
        (T0, 473.0), (T0 + timedelta(minutes=5), 914.0), (T0 + timedelta(minutes=10), 0.0)
    ]


def test_a_query_that_names_its_environment_is_not_overridden():
    rec = Recorder(body=SENTRY_STATS)
    run(sentry(), rec, "event.type:error environment:prod-eu")
    assert "environment" not in rec.params
    assert rec.params["query"] == "event.type:error environment:prod-eu"


def test_an_empty_sentry_query_counts_errors_and_no_token_sends_no_header():
    rec = Recorder(body={"data": []})
    assert run(sentry(token=None), rec, "  ") == []
    assert rec.params["query"] == "event.type:error"
    assert "Authorization" not in rec.requests[0].headers


def test_a_release_filter_is_passed_through_in_the_query():
    rec = Recorder(body=SENTRY_STATS)
    run(sentry(), rec, 'event.type:error release:"web@1.4.2"')
    assert rec.params["query"] == 'event.type:error release:"web@1.4.2"'


@pytest.mark.parametrize(("step", "expected"), [(15, "1m"), (50, "1m"), (60, "1m"), (61, "2m"), (300, "5m"), (3600, "60m")])
def test_sentry_buckets_are_whole_minutes(step, expected):
    assert interval(step) == expected


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (400, {"detail": "Parse error at 'is:(' (column 1): unmatched parenthesis"}, "HTTP 400: Parse error at 'is:(' (column 1)"),
        (401, {"detail": "Invalid token"}, "HTTP 401: Invalid token"),
        (403, {"detail": "You do not have permission to perform this action."}, "HTTP 403: You do not have permission"),
        (404, {"detail": "The requested resource does not exist"}, "HTTP 404: The requested resource does not exist"),
        (502, None, "HTTP 502"),
    ],
)
def test_sentry_errors_carry_sentrys_words(status, body, expected):
    rec = Recorder(status, body) if body is not None else Recorder(status, text="<html>Bad gateway</html>")
    with pytest.raises(SourceError) as err:
        run(sentry(), rec, "event.type:error")
    assert str(err.value).startswith(expected)


def test_a_sentry_answer_without_data_is_an_error_not_an_empty_series():
    with pytest.raises(SourceError, match="without a data series"):
        run(sentry(), Recorder(body={"detail": "ok?"}), "event.type:error")
    with pytest.raises(SourceError, match="unexpected bucket shape"):
        run(sentry(), Recorder(body={"data": [[S0, 5]]}), "event.type:error")


# ------------------------------------------------------------------ Datadog

DATADOG_QUERY = {
    "error": None,
    "from_date": MS0,
    "group_by": ["host"],
    "message": "success",
    "query": "sum:trace.http.request.errors{service:web,env:production} by {host}",
    "res_type": "time_series",
    "series": [
        {
            "aggr": "sum", "display_name": "trace.http.request.errors", "expression": "sum:trace.http.request.errors{host:a}",
            "interval": 300000, "length": 3, "metric": "trace.http.request.errors", "scope": "host:a",
            "start": MS0, "end": MS0 + 900_000, "tag_set": ["host:a"], "query_index": 0, "unit": None,
            "pointlist": [[MS0, 3.0], [MS0 + 300_000, None], [MS0 + 600_000, 5.0]],
        },
        {
            "aggr": "sum", "display_name": "trace.http.request.errors", "expression": "sum:trace.http.request.errors{host:b}",
            "interval": 300000, "length": 3, "metric": "trace.http.request.errors", "scope": "host:b",
            "start": MS0, "end": MS0 + 900_000, "tag_set": ["host:b"], "query_index": 0, "unit": None,
            "pointlist": [[MS0, 1.5], [MS0 + 300_000, 2.0], [MS0 + 900_000, None]],
        },
    ],
    "status": "ok",
    "to_date": MS0 + 3_600_000,
}


def test_it_sums_datadog_series_per_timestamp_and_skips_nulls():
    rec = Recorder(body=DATADOG_QUERY)
    query = expand("sum:trace.http.request.errors{service:$service,env:$environment} by {host}", "web", "production")
    points = run(datadog(), rec, query, start=T0 + timedelta(milliseconds=400), end=T0 + timedelta(hours=1, milliseconds=1))
    (request,) = rec.requests
    assert str(request.url).startswith("https://api.datadoghq.eu/api/v1/query?")
    assert request.headers["DD-API-KEY"] == "dd-api" and request.headers["DD-APPLICATION-KEY"] == "dd-app"
    assert rec.params["query"] == "sum:trace.http.request.errors{service:web,env:production} by {host}"
    assert (rec.params["from"], rec.params["to"]) == (str(S0), str(S0 + 3601))  # whole seconds covering the window
    assert [(p.at, p.value) for p in points] == [
        (T0, 4.5), (T0 + timedelta(minutes=5), 2.0), (T0 + timedelta(minutes=10), 5.0)
    ]


def test_the_datadog_site_picks_the_api_host():
    rec = Recorder(body={"status": "ok", "series": []})
    assert run(datadog("us5.datadoghq.com"), rec, "avg:system.load.1{*}") == []
    assert rec.requests[0].url.host == "api.us5.datadoghq.com"


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (400, {"errors": ["Error parsing query: unable to parse avg:system.load.1{: Rule 'scope_expr' didn't match"]},
         "HTTP 400: Error parsing query"),
        (403, {"errors": ["Forbidden"]}, "HTTP 403: Forbidden"),
        (429, {"errors": ["Rate limit of 1600 requests in 3600 seconds reached."]}, "HTTP 429: Rate limit"),
        (200, {"status": "error", "error": "Query timed out", "series": []}, "Query timed out"),
    ],
)
def test_datadog_errors_carry_datadogs_words(status, body, expected):
    with pytest.raises(SourceError) as err:
        run(datadog(), Recorder(status, body), "avg:system.load.1{")
    assert str(err.value).startswith(expected)


def test_a_timeout_is_an_error():
    rec = Recorder(exc=httpx.ReadTimeout("slow"))
    with pytest.raises(SourceError, match="timed out"):
        run(datadog(), rec, "avg:system.load.1{*}")


def test_a_page_that_is_not_json_is_an_error():
    with pytest.raises(SourceError, match="not JSON: '<html>Sign in"):
        run(datadog(), Recorder(200, text="<html>Sign in</html>"), "avg:system.load.1{*}")


# ------------------------------------------------------------------ SignalFx

SIGNALFX_WINDOW = {
    "data": {
        "AAAAAKgkgqc": [[MS0, 120.0], [MS0 + 300_000, 130.0], [MS0 + 600_000, None]],
        "AAAAAH9dCn0": [[MS0, 80.0], [MS0 + 300_000, 70.0], [MS0 + 600_000, 90.0]],
    },
    "errors": [],
}


def test_it_sums_signalfx_time_series_and_asks_at_a_stored_resolution():
    rec = Recorder(body=SIGNALFX_WINDOW)
    query = expand('sf_metric:"http.server.duration" AND service:$service AND deployment.environment:$environment', "web", "production")
    points = run(signalfx("eu0"), rec, query)
    (request,) = rec.requests
    assert str(request.url).startswith("https://api.eu0.signalfx.com/v1/timeserieswindow?")
    assert request.headers["X-SF-Token"] == "sfx-token"
    p = rec.params
    assert p["query"] == 'sf_metric:"http.server.duration" AND service:web AND deployment.environment:production'
    assert (p["startMs"], p["endMs"], p["resolution"]) == (str(MS0), str(MS0 + 3_600_000), "300000")
    assert [(pt.at, pt.value) for pt in points] == [
        (T0, 200.0), (T0 + timedelta(minutes=5), 200.0), (T0 + timedelta(minutes=10), 90.0)
    ]


@pytest.mark.parametrize(("step", "ms"), [(0.5, 1000), (1, 1000), (15, 60000), (60, 60000), (61, 300000), (300, 300000), (301, 3600000), (86400, 3600000)])
def test_signalfx_resolution_is_one_it_keeps(step, ms):
    assert resolution(step) == ms


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (200, {"data": {}, "errors": ["Invalid query: unbalanced quotes"]}, "Invalid query: unbalanced quotes"),
        (200, {"data": {"A": [[MS0, 1.0]]}, "errors": [{"message": "too many MTS matched"}]}, "too many MTS matched"),
        (400, {"code": 400, "message": "startMs must be before endMs"}, "HTTP 400: startMs must be before endMs"),
        (401, {"code": 401, "message": "Unauthorized"}, "HTTP 401: Unauthorized"),
        (503, None, "HTTP 503"),
    ],
)
def test_signalfx_errors_are_never_a_pass(status, body, expected):
    rec = Recorder(status, body) if body is not None else Recorder(status, text="")
    with pytest.raises(SourceError) as err:
        run(signalfx(), rec, "sf_metric:x")
    assert str(err.value).startswith(expected)


def test_an_unreachable_source_is_an_error():
    rec = Recorder(exc=httpx.ConnectError("connection refused"))
    with pytest.raises(SourceError, match="ConnectError"):
        run(signalfx(), rec, "sf_metric:x")


# ------------------------------------------------------------------ registry and the judge's grid


def test_the_registry_builds_the_configured_sources_with_their_secrets():
    config = Config.model_validate({
        "sources": {
            "prometheus": {"url": "http://prom:9090"},
            "sentry": {"organization": "acme", "token": "s3"},
            "datadog": {"api_key": "a1", "app_key": "b2"},
            "signalfx": {"realm": "jp0", "token": "t4"},
        }
    })
    client = httpx.AsyncClient()
    s = source_for(config, "sentry", client, environment="staging")
    assert isinstance(s, Sentry) and (s.url, s.token, s.environment) == ("https://sentry.io", "s3", "staging")
    d = source_for(config, "datadog", client)
    assert isinstance(d, Datadog) and (d.url, d.api_key, d.app_key) == ("https://api.datadoghq.com", "a1", "b2")
    x = source_for(config, "signalfx", client)
    assert isinstance(x, SignalFx) and (x.url, x.token) == ("https://api.jp0.signalfx.com", "t4")
    assert isinstance(source_for(config, "prometheus", client), Prometheus)


@pytest.mark.parametrize("name", ["prometheus", "sentry", "datadog", "signalfx"])
def test_an_unconfigured_source_is_an_error(name):
    with pytest.raises(SourceError, match=f"the {name} source is not configured"):
        source_for(Config(), name, httpx.AsyncClient())


def test_points_are_put_on_the_judges_grid():
    pts = [
        Point(T0 - timedelta(seconds=1), 99.0),  # before the window
        Point(T0, 1.0), Point(T0 + timedelta(seconds=20), 3.0),  # bucket 0: mean 2
        Point(T0 + timedelta(seconds=130), math.nan),  # dropped
        Point(T0 + timedelta(seconds=140), 10.0),  # bucket 2 (bucket 1 empty: left out)
        Point(T0 + timedelta(seconds=180), 99.0),  # at the end: outside [start, end)
    ]
    grid = per_step(pts, T0, T0 + timedelta(seconds=180), 60)
    assert [(p.at, p.value) for p in grid] == [(T0, 2.0), (T0 + timedelta(seconds=120), 10.0)]


@pytest.mark.parametrize(
    ("body", "reason"),
    [('{"detail": "x"}', "x"), ('{"errors": ["a", "b"]}', "a; b"), ('{"error": "e"}', "e"), ("not json", ""), ('{"errors": [', "")],
)
def test_vendor_reasons(body, reason):
    assert vendor_reason(body) == reason


# ------------------------------------------------------------------ through the lifecycle (no database needed)


def _due() -> Due:
    return Due(1, "web", "production", 1, 1, T0, "pending", T0 + timedelta(hours=1))


def test_the_lifecycle_judges_a_datadog_metric_on_the_grid_and_shows_a_sentry_error_per_metric():
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.host == "api.datadoghq.com":
            start, end = int(request.url.params["from"]), int(request.url.params["to"])
            # Datadog's own rollup: a point every 20 s, flat before the deploy and 3x after
            pointlist = [[t * 1000, 10.0 if t < S0 else 30.0] for t in range(start, end, 20)]
            return httpx.Response(200, json={"status": "ok", "series": [{"pointlist": pointlist}]})
        return httpx.Response(400, json={"detail": "Invalid query: unknown field pizza"})

    config = Config.model_validate({
        "sources": {"sentry": {"organization": "acme", "token": "t"}, "datadog": {"api_key": "a", "app_key": "b"}},
        "metrics": [
            {"name": "latency", "source": "datadog", "query": "avg:web.latency{env:$environment}", "critical": True},
            {"name": "errors", "source": "sentry", "query": "pizza:yes"},
        ],
    })
    judge = HealthJudge(config, db=None, transport=httpx.MockTransport(handler))

    async def go():
        try:
            return await judge._inputs(_due(), T0 + timedelta(hours=2))
        finally:
            await judge.close()

    inputs, errors, series = anyio.run(go)
    latency, sentry_errors = inputs
    # the series are kept with their times, for the deploy page's chart
    assert [v for _, v in series["latency"]["current"]] == latency.current
    assert series["latency"]["baseline"][0][0].endswith("Z") and series["errors"] == {"baseline": [], "current": [], "step": 60.0}
    assert len(latency.baseline) == 60 and len(latency.current) == 60  # 20-second points → one a minute (health.step)
    assert latency.step == 60 and len(latency.history) == 7  # the same window on each of the 7 days before
    assert set(latency.baseline) == {10.0} and set(latency.current) == {30.0}
    assert (sentry_errors.baseline, sentry_errors.current) == ([], [])
    assert errors == {"errors": "error from sentry: HTTP 400: Invalid query: unknown field pizza"}
    sentry_request = next(r for r in seen if r.url.host == "sentry.io")
    assert sentry_request.url.params["environment"] == "production"
    assert sentry_request.url.params["query"] == "pizza:yes"
