"""``shiplane config check --online`` for metric sources: each remote metric fetched once against real
local servers (moto for CloudWatch, local HTTP servers for NerdGraph and a JSON API); each problem as
``key: reason`` on the key to fix, said once per source-wide cause."""

from __future__ import annotations

import anyio
import pytest

from shiplane.health import online
from shiplane.settings import Config
from tests.conftest import make_settings
from tests.integration.metric_server import MetricServer
from tests.integration.moto_server import MotoServer
from tests.integration.test_cloudwatch_source import aws_env  # noqa: F401 - the fixture
from tests.integration.test_json_source import series
from tests.integration.test_newrelic_source import nerdgraph

NRQL = "SELECT average(duration) FROM Transaction WHERE appName = '$service'"


@pytest.fixture(scope="module")
def moto():
    server = MotoServer().start()
    yield server
    server.stop()


def problems(config: dict) -> list[str]:
    settings = make_settings("sqlite://", Config.model_validate(config))
    return anyio.run(lambda: online.problems(settings))


def test_sources_that_answer_have_no_problems(moto, aws_env):  # noqa: F811
    with MetricServer(nerdgraph()) as nr, MetricServer(lambda seen: (200, series(seen))) as api:
        assert problems({
            "services": [{"slug": "web"}],
            "sources": {"newrelic": {"url": nr.url, "account_id": 1234567, "api_key": "NRAK-test"},
                        "cloudwatch": {"region": "eu-west-1", "endpoint_url": moto.url}},
            "metrics": [
                {"name": "latency", "source": "newrelic", "query": NRQL},
                {"name": "cpu", "source": "cloudwatch", "query": "AWS/EC2|CPUUtilization|Average|AutoScalingGroupName=$service"},
                {"name": "queue", "source": "json", "url": api.url + "/q?start={start}&end={end}&step={step}",
                 "jmespath": "data.series[0].points"},
                {"name": "deploys", "source": "push"},  # not remote: nothing to ask
            ],
        }) == []
    assert "appName = 'web'" in nr.seen[0].json()["variables"]["nrql"]  # checked for the first service


def test_each_problem_names_the_key_to_fix(moto, aws_env):  # noqa: F811
    aws_env.setenv("AWS_ACCESS_KEY_ID", "AKIAWRONGWRONGWRONG1")
    with MetricServer(nerdgraph()) as nr, MetricServer(lambda seen: (200, {"data": {"series": []}})) as api:
        found = problems({
            "sources": {"newrelic": {"url": nr.url, "account_id": 1234567, "api_key": "NRAK-test"},
                        "cloudwatch": {"region": "eu-west-1", "endpoint_url": moto.url}},
            "metrics": [
                {"name": "latency", "source": "newrelic", "query": NRQL},
                {"name": "errors", "source": "newrelic", "query": "SELECT count(*)"},
                {"name": "cpu", "source": "cloudwatch", "query": "AWS/EC2|CPUUtilization|Average"},
                {"name": "5xx", "source": "cloudwatch", "query": "AWS/ApplicationELB|HTTPCode_Target_5XX_Count|Sum"},
                {"name": "queue", "source": "json", "url": api.url + "/q", "jmespath": "data.series[0].points"},
                {"name": "p95", "source": "prometheus", "query": "up"},
            ],
        })
    assert found == [
        "metrics[1].query: error from newrelic: NRQL Syntax error: Error at line 1 position 7, unexpected 'count'",
        "sources.cloudwatch: error from cloudwatch: AWS refused the credentials (from the standard chain) for region "
        "'eu-west-1': HTTP 403: InvalidClientTokenId: The security token included in the request is invalid.",
        "metrics[4].jmespath: error from json: jmespath 'data.series[0].points' matched nothing (null); expected [[t, v], ...]",
        "sources.prometheus: error from prometheus: the prometheus source is not configured (add [sources.prometheus])",
    ]  # the refused credentials once, for two metrics


def test_a_wrong_region_and_a_wrong_api_key(aws_env):  # noqa: F811
    with MetricServer(nerdgraph()) as nr:
        found = problems({
            "sources": {"newrelic": {"url": nr.url, "account_id": 1234567, "api_key": "NRAK-wrong"},
                        "cloudwatch": {"region": "eu-wset-1"}},
            "metrics": [
                {"name": "latency", "source": "newrelic", "query": NRQL},
                {"name": "cpu", "source": "cloudwatch", "query": "AWS/EC2|CPUUtilization|Average"},
            ],
        })
    assert found == [
        "sources.newrelic.api_key: error from newrelic: Invalid API key",
        "sources.cloudwatch.region: error from cloudwatch: 'eu-wset-1' is not an AWS region with CloudWatch (as botocore knows them)",
    ]


def test_config_check_online_prints_file_key_reason_and_exits_1(tmp_path):
    from tests.integration.test_cli import run

    with MetricServer(nerdgraph()) as nr:
        path = tmp_path / "shiplane.toml"
        path.write_text(
            f'[sources.newrelic]\nurl = "{nr.url}"\naccount_id = 1234567\napi_key = "${{NEW_RELIC_KEY}}"\n'
            f'[[metrics]]\nname = "latency"\nsource = "newrelic"\nquery = "{NRQL}"\n'
        )
        env = {"SHIPLANE_DATABASE_URL": f"sqlite:///{tmp_path}/none.db", "NEW_RELIC_KEY": "NRAK-wrong"}
        r = run("config", "check", "--config", str(path), "--online", env=env)
        assert r.returncode == 1, r.stdout + r.stderr
        assert r.stderr.strip() == f"{path}: sources.newrelic.api_key: error from newrelic: Invalid API key"
        assert "NRAK-wrong" not in r.stderr  # the key itself is never printed
        assert run("config", "check", "--config", str(path), "--online", env=env | {"NEW_RELIC_KEY": "NRAK-test"}).returncode == 0
