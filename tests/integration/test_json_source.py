"""The generic JSON source against a real local HTTP server: the URL template, the headers, the
JMESPath expression, and a wrong shape as a per-metric error that is never a pass."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import anyio
import pytest

from shiplane import clock, http
from shiplane.health.sources.base import SourceError
from shiplane.health.sources.registry import source_for
from shiplane.settings import Config
from tests.conftest import sha
from tests.integration.metric_server import MetricServer, Seen
from tests.integration.test_health_lifecycle import api, harness, judge_once

T0 = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)


def config(url: str, jmespath: str = "data.series[0].points", **metric) -> Config:
    return Config.model_validate({
        "sources": {"json": {"headers": {"Authorization": "Bearer shared", "X-Team": "payments"}}},
        "metrics": [{"name": "latency", "source": "json", "url": url, "jmespath": jmespath, **metric}],
    })


def fetch(cfg: Config, start=T0, end=T0 + timedelta(minutes=10), step=60.0, service="web", environment="production"):
    async def go():
        async with http.make_client() as client:
            source = source_for(cfg, "json", client, service=service, environment=environment, metric=cfg.metrics[0])
            return await source.fetch("", start, end, step)

    return anyio.run(go)


def series(seen: Seen, value=lambda i: 10.0) -> dict:
    """Points every step of the asked range, as an API that takes start, end and step would send them."""
    start = clock.parse_iso(seen.query["start"])
    end = clock.parse_iso(seen.query["end"])
    step = float(seen.query["step"])
    n = int((end - start).total_seconds() // step)
    return {"data": {"series": [{"points": [[start.timestamp() + i * step, value(i)] for i in range(n)]}]}}


def test_it_fills_the_url_template_and_sends_the_headers():
    with MetricServer(lambda seen: (200, series(seen))) as server:
        cfg = config(
            server.url + "/api/{service}/series?env={environment}&start={start}&end={end}&step={step}",
            headers={"X-Team": "checkout", "X-Token": "metric-secret"},
        )
        points = fetch(cfg, service="web-eu", environment="prod eu")
    (seen,) = server.seen
    assert seen.path == "/api/web-eu/series"
    # ISO instants, URL-encoded: the colons travel as %3A
    assert seen.raw_path.endswith("?env=prod%20eu&start=2026-03-02T14%3A00%3A00Z&end=2026-03-02T14%3A10%3A00Z&step=60")
    assert seen.query == {"env": "prod eu", "start": "2026-03-02T14:00:00Z", "end": "2026-03-02T14:10:00Z", "step": "60"}
    # [sources.json] headers for every json metric; the metric's own win where both name one
    assert (seen.headers["authorization"], seen.headers["x-team"], seen.headers["x-token"]) == ("Bearer shared", "checkout", "metric-secret")
    assert [(p.at, p.value) for p in points] == [(T0 + timedelta(minutes=i), 10.0) for i in range(10)]


def test_t_may_be_an_iso_instant_and_v_a_numeric_string_and_null_is_no_data():
    body = {"values": [
        {"at": "2026-03-02T14:02:00Z", "v": "3.5"},
        {"at": "2026-03-02T15:00:00+01:00", "v": 2},  # the same instant as 14:00Z
        {"at": "2026-03-02T14:01:00Z", "v": None},
    ]}
    with MetricServer(lambda seen: (200, body)) as server:
        points = fetch(config(server.url + "/q", jmespath="values[].[at, v]"))
    assert [(p.at, p.value) for p in points] == [(T0, 2.0), (T0 + timedelta(minutes=2), 3.5)]


@pytest.mark.parametrize(
    ("body", "jmespath", "reason"),
    [
        ({"data": {}}, "data.series[0].points", "matched nothing (null)"),
        ({"data": {"points": {"t": 1, "v": 2}}}, "data.points", "yielded {'t': 1, 'v': 2}; expected [[t, v], ...]"),
        ({"p": [[1772460000, 1.0, 2.0]]}, "p", "expected a pair [t, v]"),
        ({"p": [[1772460000000, 1.0]]}, "p", "at [0]: t 1772460000000 is not epoch seconds"),  # milliseconds
        ({"p": [["yesterday", 1.0]]}, "p", "at [0]: Invalid isoformat string"),
        ({"p": [[1772460000, True]]}, "p", "at [0]: v True is not a number"),
        ({"p": [[1772460000, "n/a"]]}, "p", "at [0]: could not convert string to float"),
        ({"p": "text"}, "sum(p)", "invalid type for value"),
    ],
)
def test_a_wrong_shape_is_an_error_that_names_it(body, jmespath, reason):
    with MetricServer(lambda seen: (200, body)) as server, pytest.raises(SourceError) as err:
        fetch(config(server.url + "/q", jmespath=jmespath))
    assert reason in str(err.value)
    assert err.value.setting == "jmespath"


def test_an_http_error_and_a_non_json_answer_are_errors():
    with MetricServer(lambda seen: (401, {"error": "token expired"})) as server, pytest.raises(SourceError) as err:
        fetch(config(server.url + "/q"))
    assert str(err.value) == "HTTP 401: token expired"
    with MetricServer(lambda seen: (200, b"<html>Sign in</html>")) as server, pytest.raises(SourceError, match="not JSON"):
        fetch(config(server.url + "/q"))


@pytest.mark.parametrize(
    ("metric", "key", "reason"),
    [
        ({"url": "http://x/{service}/{sha}"}, "metrics[0].url", "unknown template fields ['sha']"),
        ({"jmespath": "data.[["}, "metrics[0].jmespath", "not a JMESPath expression"),
        ({"url": ""}, "metrics[0]", "needs url"),
        ({"query": "up"}, "metrics[0]", "query is not used"),
    ],
)
def test_config_names_a_bad_json_metric(metric, key, reason):
    from shiplane.settings import ConfigError, parse_config

    entry = {"name": "m", "source": "json", "url": "http://x/{service}", "jmespath": "p"} | metric
    with pytest.raises(ConfigError) as err:
        parse_config({"metrics": [entry]}, {}, "shiplane.toml")
    assert any(k == key and reason in r for k, r in err.value.problems), err.value.problems


def test_url_and_jmespath_belong_to_json_metrics_only():
    from shiplane.settings import ConfigError, parse_config

    with pytest.raises(ConfigError, match="url, jmespath only apply to source"):
        parse_config({"metrics": [{"name": "m", "source": "prometheus", "url": "http://x", "jmespath": "p"}]}, {}, "f")


# ---------------------------------------------------------------- through the lifecycle, on both databases


def test_a_json_metric_is_judged_and_a_wrong_shape_is_no_data_never_a_pass(db, db_url):
    def answer(seen: Seen):
        if seen.path == "/broken":
            return 200, {"data": {"series": [{"points": {"oops": 1}}]}}
        return 200, series(seen)

    with MetricServer(answer) as server:
        cfg = {
            "sources": {"json": {"headers": {"Authorization": "Bearer shared"}}},
            "metrics": [
                {"name": "latency", "source": "json", "url": server.url + "/ok?start={start}&end={end}&step={step}",
                 "jmespath": "data.series[0].points"},
                {"name": "errors", "source": "json", "url": server.url + "/broken", "jmespath": "data.series[0].points"},
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
    assert errors["health"] == "no_data"
    assert errors["reason"].startswith("error from json: jmespath 'data.series[0].points' yielded {'oops': 1}")
    assert health["state"] == "no_data"  # one of two metrics without data: never a pass
    assert {s.headers["authorization"] for s in server.seen} == {"Bearer shared"}


def test_the_worked_example_in_the_docs():
    """docs/integrations.md, "Any JSON API": the same template, answer and expression."""
    body = {"data": {"series": [
        {"name": "p95", "points": [[1772456400, 212.5], [1772456460, 208.0], [1772456520, None]]},
        {"name": "p50", "points": [[1772456400, 80.1]]},
    ]}}
    with MetricServer(lambda seen: (200, body)) as server:
        cfg = config(server.url + "/api/series/{service}?env={environment}&from={start}&to={end}&step={step}",
                     jmespath="data.series[?name=='p95'] | [0].points")
        points = fetch(cfg, start=T0 - timedelta(hours=1), end=T0)
    assert server.seen[0].raw_path == "/api/series/web?env=production&from=2026-03-02T13%3A00%3A00Z&to=2026-03-02T14%3A00%3A00Z&step=60"
    assert [(p.at, p.value) for p in points] == [(T0 - timedelta(hours=1), 212.5), (T0 - timedelta(minutes=59), 208.0)]


def test_sources_json_reads_back_from_a_dump():
    """``json`` is the file's key although BaseModel has a json(): a dump (as tests and tools make) reads back."""
    cfg = Config.model_validate({"sources": {"json": {"headers": {"X-Team": "payments"}}}})
    dumped = cfg.model_dump(mode="python")
    assert "json" in dumped["sources"]
    assert Config.model_validate(dumped).sources.json_.headers["X-Team"].get_secret_value() == "payments"
