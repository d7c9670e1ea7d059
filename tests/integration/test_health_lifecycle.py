"""Deploy health end to end: samples → judge → verdict → auto-lock, rollback hook, release."""

from __future__ import annotations

import hashlib
import hmac
import json
import random
from datetime import timedelta

import anyio
import httpx
import pytest

from shiplane import clock
from shiplane.app import create_app
from shiplane.health.lifecycle import HealthJudge
from shiplane.settings import Config
from tests.conftest import BOB, SHARED, make_settings, sha
from tests.integration.prometheus import PrometheusServer


class Sink(httpx.AsyncBaseTransport):
    """Records what the rollback hook receives."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        await request.aread()
        self.requests.append(request)
        return httpx.Response(204)


CONFIG = {
    "metrics": [{"name": "checkout_errors", "source": "push", "regression": "increase", "critical": True}],
    "health": {
        "baseline": "60m",
        "window": "60m",
        "interval": "5m",
        "auto_lock": "unhealthy",
        "rollback_webhook": "https://hooks.example.com/rollback",
        "rollback_secret": "roll-secret",
    },
}


def harness(db, db_url, config):
    from fastapi.testclient import TestClient

    sink = Sink()
    app = create_app(make_settings(db_url, Config.model_validate(config)), db=db, worker=False, source_transport=sink)
    client = TestClient(app)
    return client, app.state.ctx, sink


def judge_once(config, db) -> None:
    """One worker tick of the judge, with its HTTP client closed afterwards."""
    judge = HealthJudge(config, db)

    async def once():
        try:
            await judge.tick()
        finally:
            await judge.close()

    anyio.run(once)


def api(client, method, url, **kw):
    return client.request(method, url, headers={"Authorization": f"Bearer {BOB}"}, **kw)


def push(client, start, minutes, values):
    samples = [
        {"metric": "checkout_errors", "environment": "production", "service": "web", "value": v,
         "at": (start + timedelta(minutes=minutes * i)).isoformat()}
        for i, v in enumerate(values)
    ]
    assert api(client, "POST", "/api/v1/metrics", json={"samples": samples}).status_code == 202


def test_an_unhealthy_deploy_is_judged_locked_and_rolled_back_then_released(db, db_url):
    client, ctx, sink = harness(db, db_url, CONFIG)
    rnd = random.Random(7)
    with client:
        t = clock.now().replace(microsecond=0) - timedelta(hours=5)
        push(client, t - timedelta(hours=1), 5, [rnd.randint(3, 7) for _ in range(12)])  # baseline
        push(client, t, 5, [rnd.randint(30, 40) for _ in range(12)])  # after the bad deploy
        bad = api(client, "POST", "/api/v1/deploys", json={"service": "web", "environment": "production", "sha": sha(1), "finished_at": t.isoformat()}).json()
        assert bad["health"]["state"] == "pending"

        judge = HealthJudge(ctx.settings.config, db, transport=sink)
        anyio.run(judge.tick)  # the window is long over: judged at once, finally
        d = api(client, "GET", f"/api/v1/deploys/{bad['id']}").json()
        assert (d["health"]["state"], d["health"]["final"]) == ("unhealthy", True)
        (metric,) = d["health"]["metrics"]
        assert metric["name"] == "checkout_errors" and metric["health"] == "unhealthy"
        assert metric["reason"]

        locks = api(client, "GET", "/api/v1/locks?active=true").json()["items"]
        (auto,) = [lk for lk in locks if lk["kind"] == "auto"]
        assert auto["reason"].startswith(f"web #{bad['id']}: checkout_errors +") and auto["deploy_id"] == bad["id"]
        assert "since deploy" in auto["reason"] and auto["service"] is None  # auto_lock_scope: environment (the default)
        kinds = {b["kind"] for b in api(client, "GET", "/api/v1/gate?environment=production&service=web").json()["blockers"]}
        assert kinds == {"lock", "unhealthy"}

        async def deliver():
            await judge.call_rollback(next(iter(_rollback_payloads(db))))

        anyio.run(deliver)
        (request,) = sink.requests
        body = request.content
        assert json.loads(body)["deploy_id"] == bad["id"]
        expected = "sha256=" + hmac.new(b"roll-secret", body, hashlib.sha256).hexdigest()
        assert request.headers["X-Shiplane-Signature"] == expected

        # A fix deploy goes out (through the lock, with an override) and is healthy: the auto-lock ends.
        t2 = t + timedelta(hours=2)
        push(client, t2 - timedelta(hours=1), 5, [rnd.randint(3, 7) for _ in range(12)])
        push(client, t2, 5, [rnd.randint(3, 7) for _ in range(12)])
        fix = api(client, "POST", "/api/v1/deploys", json={"service": "web", "environment": "production", "sha": sha(2), "finished_at": t2.isoformat(), "override_reason": "fix forward"}).json()
        anyio.run(judge.tick)
        assert api(client, "GET", f"/api/v1/deploys/{fix['id']}").json()["health"]["state"] == "healthy"
        assert [lk for lk in api(client, "GET", "/api/v1/locks?active=true").json()["items"] if lk["kind"] == "auto"] == []
        changes = [e["data"]["to"] for e in api(client, "GET", "/api/v1/events?kind=deploy_health_changed").json()["items"]]
        assert changes == ["unhealthy", "healthy"]
        anyio.run(judge.close)


def _rollback_payloads(db):
    from sqlalchemy import select

    from shiplane.tables.jobs import jobs

    with db.read() as conn:
        return [r.payload for r in conn.execute(select(jobs).where(jobs.c.kind == "rollback_webhook"))]


def test_a_deploy_inside_its_window_is_judged_again_until_the_window_closes(db, db_url):
    client, ctx, sink = harness(db, db_url, CONFIG)
    with client:
        t = clock.now().replace(microsecond=0) - timedelta(minutes=20)
        push(client, t - timedelta(hours=1), 5, [5] * 12)
        push(client, t, 5, [5] * 4)
        d = api(client, "POST", "/api/v1/deploys", json={"service": "web", "environment": "production", "sha": sha(1), "finished_at": t.isoformat()}).json()
        judge = HealthJudge(ctx.settings.config, db, transport=sink)
        anyio.run(judge.tick)
        health = api(client, "GET", f"/api/v1/deploys/{d['id']}").json()["health"]
        assert health["final"] is False  # 20 minutes into a 60-minute window
        anyio.run(judge.close)


def test_a_source_error_is_visible_and_never_a_pass(db, db_url):
    config = {"sources": {"prometheus": {"url": "http://127.0.0.1:9"}},
              "metrics": [{"name": "5xx", "source": "prometheus", "query": "sum(rate(x[1m]))"}]}
    client, ctx, sink = harness(db, db_url, config)
    with client:
        t = clock.now() - timedelta(hours=3)
        d = api(client, "POST", "/api/v1/deploys", json={"service": "web", "environment": "production", "sha": sha(1), "finished_at": t.isoformat()}).json()
        judge_once(ctx.settings.config, db)
        health = api(client, "GET", f"/api/v1/deploys/{d['id']}").json()["health"]
        assert health["state"] == "no_data"
        assert health["metrics"][0]["reason"].startswith("error from prometheus: ")


@pytest.fixture(scope="module")
def flat_prometheus(tmp_path_factory):
    series = SHARED / "data" / "series" / "nab" / "artificialNoAnomaly" / "art_flatline.csv"
    server = PrometheusServer(tmp_path_factory.mktemp("flat"), series, metric="web_latency_ms").start()
    yield server
    server.stop()


def test_a_prometheus_metric_is_judged_from_a_real_server(db, db_url, flat_prometheus):
    at, _ = flat_prometheus.points[2000]
    config = {
        "sources": {"prometheus": {"url": flat_prometheus.url}},
        "metrics": [{"name": "latency", "source": "prometheus", "query": 'sum(web_latency_ms{service="$service"})'}],
    }
    client, ctx, sink = harness(db, db_url, config)
    with client:
        d = api(client, "POST", "/api/v1/deploys", json={"service": "web", "environment": "production", "sha": sha(1), "finished_at": at.isoformat()}).json()
        judge = HealthJudge(ctx.settings.config, db)

        async def once():
            try:
                await judge.tick()
            finally:
                await judge.close()  # the client's connections belong to this event loop

        anyio.run(once)
        health = api(client, "GET", f"/api/v1/deploys/{d['id']}").json()["health"]
        assert (health["state"], health["final"]) == ("healthy", True)  # identical constant series



def test_a_real_prometheus_is_judged_at_a_one_minute_step(db, db_url, flat_prometheus):
    at, _ = flat_prometheus.points[2000]
    config = {
        "sources": {"prometheus": {"url": flat_prometheus.url}},
        "metrics": [{"name": "latency", "source": "prometheus", "query": 'sum(web_latency_ms{service="$service"})'}],
        "health": {"step": "1m", "history_days": 1},
    }
    client, ctx, sink = harness(db, db_url, config)
    with client:
        d = api(client, "POST", "/api/v1/deploys", json={"service": "web", "environment": "production", "sha": sha(1), "finished_at": at.isoformat()}).json()
        judge_once(ctx.settings.config, db)
        health = api(client, "GET", f"/api/v1/deploys/{d['id']}").json()["health"]
        (metric,) = health["metrics"]
        assert (len(metric["series"]["baseline"]), len(metric["series"]["current"]), metric["series"]["step"]) == (60, 60, 60)
        assert (health["state"], health["final"], metric["final"], metric["history_windows"]) == ("healthy", True, True, 1)
        assert "judged at the source" not in metric["reason"]


def test_a_coarser_source_is_judged_at_its_own_resolution_and_says_so(db, db_url):
    client, ctx, sink = harness(db, db_url, CONFIG | {"health": CONFIG["health"] | {"history_days": 0}})
    with client:
        t = clock.now().replace(microsecond=0) - timedelta(hours=3)
        push(client, t - timedelta(hours=1), 5, [5] * 12)  # one sample every 5 minutes; health.step is 1 minute
        push(client, t, 5, [5] * 12)
        d = api(client, "POST", "/api/v1/deploys", json={"service": "web", "environment": "production", "sha": sha(1), "finished_at": t.isoformat()}).json()
        judge_once(ctx.settings.config, db)
        (metric,) = api(client, "GET", f"/api/v1/deploys/{d['id']}").json()["health"]["metrics"]
        assert (len(metric["series"]["current"]), metric["series"]["step"]) == (12, 300)
        assert metric["reason"].endswith("ruled out after 40 minutes (judged at the source's 5-minute resolution)")


@pytest.mark.parametrize("history_days, expected", [(7, "healthy"), (0, "unhealthy")])
def test_the_same_hour_on_earlier_days_keeps_a_daily_peak_from_looking_like_a_regression(db, db_url, history_days, expected):
    """Every day at this hour the metric doubles (a daily peak). A deploy just before it is not to blame —
    which only the history (the same window on earlier days) can tell."""
    config = CONFIG | {"health": CONFIG["health"] | {"history_days": history_days, "auto_lock": "never"}}
    client, ctx, sink = harness(db, db_url, config)
    rnd = random.Random(11)
    with client:
        t = clock.now().replace(microsecond=0) - timedelta(hours=3)
        for day in range(0, 8):
            at = t - timedelta(days=day)
            push(client, at - timedelta(hours=1), 5, [rnd.uniform(9, 11) for _ in range(12)])  # the quiet hour before
            push(client, at, 5, [rnd.uniform(19, 22) for _ in range(12)])  # the daily peak
        deploy = api(client, "POST", "/api/v1/deploys", json={"service": "web", "environment": "production", "sha": sha(5), "finished_at": t.isoformat()}).json()
        judge = HealthJudge(ctx.settings.config, db, transport=sink)
        anyio.run(judge.tick)
        health = api(client, "GET", f"/api/v1/deploys/{deploy['id']}").json()["health"]
        assert health["state"] == expected, health
        (metric,) = health["metrics"]
        assert metric["history_windows"] == history_days


def test_a_baseline_pushed_late_is_read_at_the_next_look(db, db_url):
    client, ctx, sink = harness(db, db_url, CONFIG | {"health": CONFIG["health"] | {"history_days": 0, "auto_lock": "never"}})
    with client:
        t = clock.now().replace(second=0, microsecond=0) - timedelta(minutes=30)
        push(client, t, 1, [5.0 + (i % 3) for i in range(30)])  # the current, one sample a minute
        d = api(client, "POST", "/api/v1/deploys", json={"service": "web", "environment": "production", "sha": sha(1), "finished_at": t.isoformat()}).json()
        judge = HealthJudge(ctx.settings.config, db)

        async def looks():
            try:
                await judge.tick(t + timedelta(minutes=10))
                first = api(client, "GET", f"/api/v1/deploys/{d['id']}").json()["health"]
                push(client, t - timedelta(hours=1), 1, [5.0 + (i % 3) for i in range(60)])  # the baseline arrives late
                await judge.tick(t + timedelta(minutes=16))  # the next look: interval is 5 minutes here
                return first, api(client, "GET", f"/api/v1/deploys/{d['id']}").json()["health"]
            finally:
                await judge.close()

        first, second = anyio.run(looks)
        assert first["state"] == "no_data" and first["metrics"][0]["reason"].startswith("no data: baseline has 0 points")
        assert second["state"] == "healthy" and second["metrics"][0]["final"]
