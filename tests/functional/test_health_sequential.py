"""Sequential verdicts end to end: samples pushed every minute, the worker's judge, the gate, on both databases."""

from __future__ import annotations

import random
from datetime import timedelta

import anyio
import pytest

from shiplane import clock
from shiplane.health.lifecycle import HealthJudge
from shiplane.settings import Config
from tests.conftest import sha


@pytest.fixture
def config() -> Config:
    return Config.model_validate({
        "metrics": [{"name": "checkout_errors", "source": "push", "regression": "increase", "critical": True}],
        "health": {"baseline": "60m", "window": "60m", "auto_lock": "unhealthy"},  # step 1m, interval = step
    })


def push_minutes(api, start, values):
    samples = [
        {"metric": "checkout_errors", "environment": "production", "service": "web", "value": v,
         "at": (start + timedelta(minutes=i, seconds=20)).isoformat()}
        for i, v in enumerate(values)
    ]
    assert api.post("/api/v1/metrics", json={"samples": samples}).status_code == 202


def tick(app, db, now=None) -> None:
    judge = HealthJudge(app.state.ctx.settings.config, db)

    async def once():
        try:
            await judge.tick(now)
        finally:
            await judge.close()

    anyio.run(once)


def deploy_ten_minutes_ago(bob, factor):
    rnd = random.Random(3)
    deployed = clock.now().replace(second=0, microsecond=0) - timedelta(minutes=10)
    push_minutes(bob, deployed - timedelta(minutes=60), [rnd.uniform(40, 60) for _ in range(60)])  # the hour before
    push_minutes(bob, deployed, [factor * rnd.uniform(40, 60) for _ in range(10)])  # ten minutes since
    d = bob.post("/api/v1/deploys", json={"service": "web", "environment": "production", "sha": sha(1),
                                          "finished_at": deployed.isoformat()}).json()
    return d, deployed


def test_a_doubled_critical_metric_is_unhealthy_and_locks_within_one_tick(app, db, bob):
    d, _ = deploy_ten_minutes_ago(bob, 2.0)
    tick(app, db)
    health = bob.get(f"/api/v1/deploys/{d['id']}").json()["health"]
    assert (health["state"], health["final"]) == ("unhealthy", True)
    (metric,) = health["metrics"]
    assert (metric["health"], metric["final"], metric["decided_at"]) == ("unhealthy", True, 8)
    assert "the evidence passed the always-valid threshold after 8 minutes" in metric["reason"]
    (lock,) = [lk for lk in bob.get("/api/v1/locks?active=true").json()["items"] if lk["kind"] == "auto"]
    assert lock["deploy_id"] == d["id"]
    assert {b["kind"] for b in bob.get("/api/v1/gate?environment=production&service=web").json()["blockers"]} == {"lock", "unhealthy"}


def test_an_unchanged_deploy_is_never_flagged_and_final_healthy_before_its_window_ends(app, db, bob):
    d, deployed = deploy_ten_minutes_ago(bob, 1.0)
    for minute in (8, 9, 10):  # the worker looks every step once 8 points exist
        tick(app, db, deployed + timedelta(minutes=minute, seconds=30))
        health = bob.get(f"/api/v1/deploys/{d['id']}").json()["health"]
        assert health["state"] == "healthy"
        if health["final"]:
            break
    assert health["final"] is True  # 50 minutes before the window ends
    (metric,) = health["metrics"]
    assert metric["final"] and "a rise of 20% or more ruled out after" in metric["reason"]
    changes = [e["data"]["to"] for e in bob.get("/api/v1/events?kind=deploy_health_changed").json()["items"]]
    assert changes == ["healthy"]
    assert [lk for lk in bob.get("/api/v1/locks?active=true").json()["items"] if lk["kind"] == "auto"] == []
