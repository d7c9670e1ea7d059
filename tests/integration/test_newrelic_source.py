"""The New Relic source against a local fake NerdGraph that answers in the documented shapes.

* The request and the results array: the NerdGraph NRQL tutorial,
  https://docs.newrelic.com/docs/apis/nerdgraph/examples/nerdgraph-nrql-tutorial/
  (``actor { account(id) { nrql(query) { results } } }`` → ``{"data": {"actor": {"account":
  {"nrql": {"results": [...]}}}}}``).
* TIMESERIES buckets carry ``beginTimeSeconds`` and ``endTimeSeconds`` beside the selected value;
  SINCE and UNTIL take quoted ISO instants, and buckets snap to the end of the range:
  https://docs.newrelic.com/docs/nrql/using-nrql/query-time-range/
* Errors come in the GraphQL ``errors`` array (``message``, ``extensions``), as in the NerdGraph
  answer quoted in newrelic/nr1-community#38; NRQL's own messages ("NRQL Syntax error: ...",
  "TIMESERIES supports a maximum of 366 buckets") are those listed in
  https://docs.newrelic.com/docs/query-your-data/explore-query-data/dashboards/troubleshooting-chart-errors/
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import anyio
import pytest

from shiplane import clock, http
from shiplane.health.sources.base import SourceError
from shiplane.health.sources.newrelic import nrql
from shiplane.health.sources.registry import source_for
from shiplane.settings import Config, ConfigError, parse_config
from tests.conftest import sha
from tests.integration.metric_server import MetricServer, Seen
from tests.integration.test_health_lifecycle import api, harness, judge_once

T0 = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)
RANGE = re.compile(r"SINCE '([^']+)' UNTIL '([^']+)' TIMESERIES (\d+) (minute|second)s?$")


def nerdgraph(value=lambda i, facet: 12.0, facets=(None,), key="average.duration"):
    """A fake NerdGraph: checks the key and account, then answers the NRQL's range bucket by bucket."""

    def answer(seen: Seen):
        if seen.headers.get("api-key") != "NRAK-test":
            return 200, {"errors": [{"message": "Invalid API key", "extensions": {"errorClass": "UNAUTHORIZED"}}], "data": None}
        body = seen.json()
        variables = body["variables"]
        if variables["accountId"] != 1234567:
            return 200, {"data": {"actor": {"account": None}},
                         "errors": [{"message": "Access denied to account", "path": ["actor", "account"],
                                     "extensions": {"errorClass": "FORBIDDEN"}}]}
        m = RANGE.search(variables["nrql"])
        if "FROM" not in variables["nrql"] or m is None:
            return 200, {"data": {"actor": {"account": {"nrql": None}}},
                         "errors": [{"message": "NRQL Syntax error: Error at line 1 position 7, unexpected 'count'",
                                     "path": ["actor", "account", "nrql"],
                                     "extensions": {"errorClass": "INVALID_INPUT"}}]}
        start, end = clock.parse_iso(m.group(1)), clock.parse_iso(m.group(2))
        size = int(m.group(3)) * (60 if m.group(4) == "minute" else 1)
        n = int((end - start).total_seconds() // size)
        rows = []
        for i in range(n):
            begin = start.timestamp() + i * size
            for facet in facets:
                row = {"beginTimeSeconds": begin, "endTimeSeconds": begin + size, key: value(i, facet)}
                if facet is not None:
                    row["facet"] = facet
                    row["appName"] = facet
                rows.append(row)
        return 200, {"data": {"actor": {"account": {"nrql": {"results": rows}}}}}

    return answer


def config(url, account_id=1234567, api_key="NRAK-test") -> Config:
    return Config.model_validate({"sources": {"newrelic": {"url": url, "account_id": account_id, "api_key": api_key}}})


def fetch(cfg, query="SELECT average(duration) FROM Transaction WHERE appName = 'web'", start=T0,
          end=T0 + timedelta(minutes=10), step=60.0):
    async def go():
        async with http.make_client() as client:
            return await source_for(cfg, "newrelic", client).fetch(query, start, end, step)

    return anyio.run(go)


def test_it_sends_nrql_with_the_window_and_reads_the_buckets():
    with MetricServer(nerdgraph(value=lambda i, f: 10.0 + i)) as server:
        points = fetch(config(server.url + "/graphql"))
    (seen,) = server.seen
    assert (seen.method, seen.path, seen.headers["api-key"]) == ("POST", "/graphql", "NRAK-test")
    body = seen.json()
    assert "account(id: $accountId)" in body["query"] and "nrql(query: $nrql" in body["query"] and "results" in body["query"]
    assert body["variables"] == {
        "accountId": 1234567,
        "nrql": "SELECT average(duration) FROM Transaction WHERE appName = 'web' "
                "SINCE '2026-03-02T14:00:00Z' UNTIL '2026-03-02T14:10:00Z' TIMESERIES 1 minute",
    }
    assert [(p.at, p.value) for p in points] == [(T0 + timedelta(minutes=i), 10.0 + i) for i in range(10)]


def test_facets_are_summed_per_bucket_and_percentiles_read():
    with MetricServer(nerdgraph(value=lambda i, f: {"95": 2.0 if f == "web" else 3.0}, facets=("web", "worker"),
                                key="percentile.duration")) as server:
        points = fetch(config(server.url), query="SELECT percentile(duration, 95) FROM Transaction FACET appName")
    assert {p.value for p in points} == {5.0} and len(points) == 10


def test_a_null_bucket_is_no_data_not_zero():
    with MetricServer(nerdgraph(value=lambda i, f: None if i == 3 else 1.0)) as server:
        points = fetch(config(server.url))
    assert len(points) == 9 and T0 + timedelta(minutes=3) not in [p.at for p in points]


@pytest.mark.parametrize(
    ("cfg", "query", "message", "setting"),
    [
        ({}, "SELECT count(*)", "NRQL Syntax error: Error at line 1 position 7", "query"),
        ({"account_id": 42}, "SELECT count(*) FROM Transaction", "Access denied to account", "sources.newrelic.api_key"),
        ({"api_key": "NRAK-wrong"}, "SELECT count(*) FROM Transaction", "Invalid API key", "sources.newrelic.api_key"),
    ],
)
def test_the_nerdgraph_error_array_is_an_error(cfg, query, message, setting):
    with MetricServer(nerdgraph()) as server, pytest.raises(SourceError) as err:
        fetch(config(server.url, **cfg), query=query)
    assert message in str(err.value)
    assert err.value.setting == setting


def test_an_http_401_names_the_api_key():
    with MetricServer(lambda seen: (401, {"errors": [{"message": "Unauthorized"}]})) as server, pytest.raises(SourceError) as err:
        fetch(config(server.url))
    assert str(err.value) == "HTTP 401: Unauthorized" and err.value.setting == "sources.newrelic.api_key"


def test_two_selected_values_are_refused():
    def answer(seen):
        return 200, {"data": {"actor": {"account": {"nrql": {"results": [
            {"beginTimeSeconds": T0.timestamp(), "endTimeSeconds": T0.timestamp() + 60, "count": 3, "average.duration": 0.2}]}}}}}

    with MetricServer(answer) as server, pytest.raises(SourceError, match=r"selects 2 values \(average.duration, count\)"):
        fetch(config(server.url))


@pytest.mark.parametrize(
    ("step", "minutes", "expected"),
    [(60, 60, "TIMESERIES 1 minute"), (30, 60, "TIMESERIES 30 seconds"), (300, 60, "TIMESERIES 5 minutes"),
     (60, 24 * 60, "TIMESERIES 4 minutes")],  # 1440 one-minute buckets would pass NRQL's 366
)
def test_buckets_follow_the_step_within_nrqls_limit(step, minutes, expected):
    assert nrql("SELECT count(*) FROM Transaction", T0, T0 + timedelta(minutes=minutes), step).endswith(expected)


@pytest.mark.parametrize("clause", ["SINCE 1 hour ago", "until '2026-01-01'", "TIMESERIES 1 minute"])
def test_a_query_with_its_own_range_is_refused_in_config(clause):
    with pytest.raises(ConfigError, match="Shiplane adds SINCE, UNTIL and TIMESERIES") as err:
        parse_config({"metrics": [{"name": "m", "source": "newrelic", "query": f"SELECT count(*) FROM Transaction {clause}"}]}, {}, "f")
    assert err.value.problems[0][0] == "metrics[0].query"


def test_a_newrelic_metric_is_judged_and_an_error_array_is_no_data(db, db_url):
    with MetricServer(nerdgraph()) as server:
        cfg = {
            "sources": {"newrelic": {"url": server.url, "account_id": 1234567, "api_key": "NRAK-test"}},
            "metrics": [
                {"name": "latency", "source": "newrelic", "query": "SELECT average(duration) FROM Transaction WHERE appName = '$service'"},
                {"name": "errors", "source": "newrelic", "query": "SELECT count(*) WHERE appName = '$service'"},  # no FROM
            ],
            "health": {"history_days": 0},
        }
        client, ctx, _ = harness(db, db_url, cfg)
        with client:
            t = clock.now().replace(second=0, microsecond=0) - timedelta(hours=3)
            d = api(client, "POST", "/api/v1/deploys",
                    json={"service": "web", "environment": "production", "sha": sha(1), "finished_at": t.isoformat()}).json()
            judge_once(ctx.settings.config, db)
            health = api(client, "GET", f"/api/v1/deploys/{d['id']}").json()["health"]
    latency, errors = health["metrics"]
    assert latency["health"] == "healthy" and len(latency["series"]["current"]) == 60
    assert errors["reason"] == "error from newrelic: NRQL Syntax error: Error at line 1 position 7, unexpected 'count'"
    assert health["state"] == "no_data"
    assert "appName = 'web'" in server.seen[0].json()["variables"]["nrql"]
