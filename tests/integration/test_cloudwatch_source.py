"""The CloudWatch source against moto's standalone server: PutMetricData with boto3 as AWS users
do, then GetMetricData through Shiplane (botocore's wire format and SigV4, sent over the HTTP seam).
Credentials come from the standard chain, here the environment."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import anyio
import httpx
import pytest

from shiplane import clock, http
from shiplane.health.sources import cloudwatch
from shiplane.health.sources.base import SourceError
from shiplane.health.sources.cloudwatch import data_query, period
from shiplane.health.sources.registry import source_for
from shiplane.settings import Config
from tests.conftest import sha
from tests.integration.metric_server import MetricServer, Seen
from tests.integration.moto_server import MotoServer
from tests.integration.test_health_lifecycle import api, harness, judge_once

NOW = clock.now().replace(second=0, microsecond=0)
T0 = NOW - timedelta(hours=3)  # the data lie between T0 - 1 h and T0 + 1 h


@pytest.fixture(scope="module")
def moto():
    server = MotoServer().start()
    try:
        cw = server.client("cloudwatch")
        for service, base in (("web", 100.0), ("api", 5.0)):
            data = [
                {"MetricName": "Latency", "Dimensions": [{"Name": "Service", "Value": service}, {"Name": "Stage", "Value": "prod"}],
                 "Timestamp": T0 + timedelta(minutes=i), "Value": base + (i % 7), "Unit": "Milliseconds"}
                for i in range(-60, 60)
            ]
            for k in range(0, len(data), 500):
                cw.put_metric_data(Namespace="Shop", MetricData=data[k:k + 500])
        yield server
    finally:
        server.stop()  # also when putting the data failed


@pytest.fixture
def aws_env(monkeypatch, moto, tmp_path):
    """The standard chain sees only what the test sets: no files, no instance metadata."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", moto.key_id)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", moto.secret)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    for name in ("AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"):
        monkeypatch.delenv(name, raising=False)
    cloudwatch.forget()  # the chain is read once per region and endpoint
    yield monkeypatch
    cloudwatch.forget()


def fetch(query, start=T0, end=T0 + timedelta(minutes=30), step=60.0, *, region="eu-west-1", endpoint=None):
    cfg = Config.model_validate({"sources": {"cloudwatch": {"region": region, "endpoint_url": endpoint or ""}}})

    async def go():
        async with http.make_client() as client:
            return await source_for(cfg, "cloudwatch", client).fetch(query, start, end, step)

    return anyio.run(go)


def test_it_reads_back_what_was_put_for_one_service(moto, aws_env):
    points = fetch("Shop|Latency|Average|Service=web,Stage=prod", endpoint=moto.url)
    assert [(p.at, p.value) for p in points] == [(T0 + timedelta(minutes=i), 100.0 + i % 7) for i in range(30)]


def test_a_wider_step_asks_for_a_wider_period(moto, aws_env):
    points = fetch("Shop|Latency|Maximum|Service=api,Stage=prod", step=300.0, endpoint=moto.url)
    assert [p.at for p in points] == [T0 + timedelta(minutes=5 * i) for i in range(6)]
    assert [p.value for p in points] == [5.0 + max((5 * i + j) % 7 for j in range(5)) for i in range(6)]


def test_an_unknown_metric_is_empty_not_an_error(moto, aws_env):
    assert fetch("Shop|Latency|Average|Service=nobody", endpoint=moto.url) == []


def test_wrong_credentials_are_refused_with_awss_words(moto, aws_env):
    aws_env.setenv("AWS_ACCESS_KEY_ID", "AKIAWRONGWRONGWRONG1")
    with pytest.raises(SourceError) as err:
        fetch("Shop|Latency|Average|Service=web", endpoint=moto.url)
    assert "AWS refused the credentials" in str(err.value)
    assert "InvalidClientTokenId: The security token included in the request is invalid." in str(err.value)
    assert err.value.setting == "sources.cloudwatch"


def test_a_wrong_secret_does_not_sign(moto, aws_env):
    aws_env.setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret")
    with pytest.raises(SourceError, match="SignatureDoesNotMatch") as err:
        fetch("Shop|Latency|Average|Service=web", endpoint=moto.url)
    assert err.value.setting == "sources.cloudwatch"


def test_no_credentials_in_the_chain_is_said_plainly(moto, aws_env):
    aws_env.delenv("AWS_ACCESS_KEY_ID")
    aws_env.delenv("AWS_SECRET_ACCESS_KEY")
    with pytest.raises(SourceError, match="no AWS credentials found") as err:
        fetch("Shop|Latency|Average|Service=web", endpoint=moto.url)
    assert err.value.setting == "sources.cloudwatch"


def test_a_region_aws_does_not_have_is_refused_before_any_call(aws_env):
    with pytest.raises(SourceError, match="'eu-wset-1' is not an AWS region with CloudWatch") as err:
        fetch("Shop|Latency|Average|Service=web", region="eu-wset-1")
    assert err.value.setting == "sources.cloudwatch.region"


def test_an_unreachable_endpoint_names_it(aws_env):
    with pytest.raises(SourceError, match=r"cannot reach http://127\.0\.0\.1:9") as err:
        fetch("Shop|Latency|Average|Service=web", endpoint="http://127.0.0.1:9")
    assert err.value.setting == "sources.cloudwatch.endpoint_url"


def test_a_bad_metric_stat_query_is_an_error_about_the_query():
    with pytest.raises(SourceError, match="dimension 'Service' is not Name=Value") as err:
        data_query("Shop|Latency|Average|Service", 60)
    assert err.value.setting == "query"


def test_queries_become_a_metric_stat_or_an_expression():
    assert data_query("AWS/ApplicationELB|HTTPCode_Target_5XX_Count|Sum|LoadBalancer=app/web/1", 60) == {
        "Id": "shiplane", "ReturnData": True,
        "MetricStat": {"Metric": {"Namespace": "AWS/ApplicationELB", "MetricName": "HTTPCode_Target_5XX_Count",
                                  "Dimensions": [{"Name": "LoadBalancer", "Value": "app/web/1"}]}, "Period": 60, "Stat": "Sum"},
    }
    expression = "SUM(SEARCH('{AWS/Lambda,FunctionName} MetricName=\"Errors\"', 'Sum', 60))"
    assert data_query(expression, 120) == {"Id": "shiplane", "Expression": expression, "Period": 120, "ReturnData": True}


@pytest.mark.parametrize(
    ("step", "age_days", "expected"),
    [(10, 0, 60), (60, 1, 60), (90, 1, 120), (300, 1, 300), (60, 15, 60), (60, 16, 300), (360, 16, 600), (60, 64, 3600)],
)
def test_periods_are_whole_minutes_and_as_coarse_as_cloudwatch_keeps_old_data(step, age_days, expected):
    now = datetime(2026, 12, 2, tzinfo=UTC)
    assert period(step, now - timedelta(days=age_days), now) == expected


# ---------------------------------------------------------------- through the lifecycle, on both databases


def test_a_cloudwatch_metric_is_judged_and_refused_credentials_are_no_data(db, db_url, moto, aws_env):
    cfg = {
        "sources": {"cloudwatch": {"region": "eu-west-1", "endpoint_url": moto.url}},
        "metrics": [{"name": "latency", "source": "cloudwatch", "query": "Shop|Latency|Average|Service=$service,Stage=prod"}],
        "health": {"history_days": 0},
    }
    client, ctx, _ = harness(db, db_url, cfg)
    with client:
        good = api(client, "POST", "/api/v1/deploys",
                   json={"service": "web", "environment": "production", "sha": sha(1), "finished_at": T0.isoformat()}).json()
        judge_once(ctx.settings.config, db)
        aws_env.setenv("AWS_ACCESS_KEY_ID", "AKIAWRONGWRONGWRONG1")
        cloudwatch.forget()
        bad = api(client, "POST", "/api/v1/deploys",
                  json={"service": "api", "environment": "production", "sha": sha(2), "finished_at": T0.isoformat()}).json()
        judge_once(ctx.settings.config, db)
        good_health = api(client, "GET", f"/api/v1/deploys/{good['id']}").json()["health"]
        bad_health = api(client, "GET", f"/api/v1/deploys/{bad['id']}").json()["health"]
    (metric,) = good_health["metrics"]
    assert (len(metric["series"]["baseline"]), len(metric["series"]["current"])) == (60, 60)
    assert good_health["state"] == "healthy"
    assert bad_health["state"] == "no_data"
    assert bad_health["metrics"][0]["reason"].startswith("error from cloudwatch: AWS refused the credentials")


# ---------------------------------------------------------------- batching


class Counting(httpx.AsyncBaseTransport):
    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.bodies: list[dict] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.bodies.append(json.loads(await request.aread()))
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


def fetch_together(queries, *, endpoint, start=T0, end=T0 + timedelta(minutes=30)):
    cfg = Config.model_validate({"sources": {"cloudwatch": {"region": "eu-west-1", "endpoint_url": endpoint}}})
    transport = Counting()
    answers: dict[str, object] = {}

    async def go():
        async with http.make_client(transport=transport) as client:
            async def one(q):
                try:
                    answers[q] = await source_for(cfg, "cloudwatch", client).fetch(q, start, end, 60.0)
                except SourceError as exc:
                    answers[q] = exc

            async with anyio.create_task_group() as group:
                for q in queries:
                    group.start_soon(one, q)

    anyio.run(go)
    return answers, transport.bodies


def test_the_metrics_of_one_look_go_in_one_call(moto, aws_env):
    queries = ["Shop|Latency|Average|Service=web,Stage=prod", "Shop|Latency|Average|Service=api,Stage=prod",
               "Shop|Latency|Average|Service=nobody"]
    answers, bodies = fetch_together(queries, endpoint=moto.url)
    assert len(bodies) == 1 and [q["Id"] for q in bodies[0]["MetricDataQueries"]] == ["q0", "q1", "q2"]
    assert [p.value for p in answers[queries[0]]] == [100.0 + i % 7 for i in range(30)]
    assert [p.value for p in answers[queries[1]]] == [5.0 + i % 7 for i in range(30)]
    assert answers[queries[2]] == []


def test_a_call_refused_for_one_query_is_asked_again_query_by_query(aws_env):
    """AWS JSON 1.0 errors are {"__type", "message"}; one bad query fails the whole GetMetricData."""

    def answer(seen: Seen):
        body = seen.json()
        queries = body["MetricDataQueries"]
        if any(q["MetricStat"]["Metric"]["MetricName"] == "Broken" for q in queries):
            return 400, {"__type": "InvalidParameterValueException", "message": "The metric Broken is not valid here."}
        start = float(body["StartTime"])
        return 200, {"MetricDataResults": [
            {"Id": q["Id"], "Label": q["Id"], "StatusCode": "Complete", "Timestamps": [start, start + 60], "Values": [1.0, 2.0]}
            for q in queries], "Messages": []}

    with MetricServer(answer) as server:
        queries = ["Shop|Latency|Average", "Shop|Broken|Average", "Shop|Errors|Sum"]
        answers, bodies = fetch_together(queries, endpoint=server.url)
    assert [len(b["MetricDataQueries"]) for b in bodies] == [3, 1, 1, 1]
    assert [p.value for p in answers["Shop|Latency|Average"]] == [1.0, 2.0] == [p.value for p in answers["Shop|Errors|Sum"]]
    error = answers["Shop|Broken|Average"]
    assert isinstance(error, SourceError) and error.setting == "query"
    assert str(error) == "HTTP 400: InvalidParameterValueException: The metric Broken is not valid here."
