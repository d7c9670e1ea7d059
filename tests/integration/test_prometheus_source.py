"""The Prometheus source against a real Prometheus server holding a real NAB series."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import anyio
import pytest

from shiplane import http
from shiplane.health.sources.base import SourceError, expand
from shiplane.health.sources.prometheus import Prometheus
from tests.conftest import SHARED
from tests.integration.prometheus import PrometheusServer

SERIES = SHARED / "data" / "series" / "nab" / "realAWSCloudwatch" / "ec2_cpu_utilization_24ae8d.csv"


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory):
    server = PrometheusServer(tmp_path_factory.mktemp("prom"), SERIES).start()
    yield server
    server.stop()


def fetch(server, query, start, end, step=300):
    async def go():
        async with http.make_client() as client:
            return await Prometheus(server.url, client).fetch(query, start, end, step)

    return anyio.run(go)


def test_it_reads_back_the_series_at_its_timestamps(prometheus):
    start, _ = prometheus.points[100]
    end, _ = prometheus.points[111]
    query = expand('sum(web_latency_ms{service="$service",environment="$environment"})', "web", "production")
    points = fetch(prometheus, query, start, end)
    expected = {at: v for at, v in prometheus.points[100:112]}
    assert len(points) == 12
    for p in points:
        assert p.value == pytest.approx(expected[p.at])


def test_a_bad_query_is_an_error_with_prometheus_message(prometheus):
    start, _ = prometheus.points[0]
    with pytest.raises(SourceError, match="parse error"):
        fetch(prometheus, "sum(rate(web_latency_ms[5m]", start, start + timedelta(hours=1))


def test_an_unreachable_source_is_an_error():
    async def go():
        async with http.make_client() as client:
            await Prometheus("http://127.0.0.1:9", client).fetch("up", datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 1, 1, tzinfo=UTC), 60)

    with pytest.raises(SourceError):
        anyio.run(go)


def test_it_answers_at_a_one_minute_step(prometheus):
    """The lifecycle fetches at health.step (1 minute by default): a 5-minute series comes back once a minute,
    each point the latest sample at that instant."""
    start, _ = prometheus.points[200]
    points = fetch(prometheus, 'sum(web_latency_ms{service="web"})', start, start + timedelta(hours=1), step=60)
    assert len(points) == 61 and [p.at - start for p in points[:3]] == [timedelta(0), timedelta(minutes=1), timedelta(minutes=2)]
    samples = dict(prometheus.points[200:213])
    for p in points:
        latest = max(at for at in samples if at <= p.at)
        assert p.value == pytest.approx(samples[latest])
