"""Automatic locks people understand: what they cover (auto_lock_scope) and a person's healthy verdict ending them."""

from __future__ import annotations

import random
from datetime import timedelta

import anyio

from shiplane import clock
from shiplane.health.lifecycle import HealthJudge
from tests.conftest import sha
from tests.integration.test_health_lifecycle import CONFIG, api, harness, push


def _bad_deploy(client, ctx, db, sink):
    rnd = random.Random(11)
    t = clock.now().replace(microsecond=0) - timedelta(hours=5)
    push(client, t - timedelta(hours=1), 5, [rnd.randint(3, 7) for _ in range(12)])
    push(client, t, 5, [rnd.randint(30, 40) for _ in range(12)])
    api(client, "POST", "/api/v1/deploys", json={"service": "api", "environment": "production", "sha": sha(9), "finished_at": t.isoformat()})
    bad = api(client, "POST", "/api/v1/deploys", json={"service": "web", "environment": "production", "sha": sha(1), "finished_at": t.isoformat()}).json()
    judge = HealthJudge(ctx.settings.config, db, transport=sink)
    anyio.run(judge.tick)
    anyio.run(judge.close)
    (auto,) = [lk for lk in api(client, "GET", "/api/v1/locks?active=true").json()["items"] if lk["kind"] == "auto"]
    return bad, auto


def test_it_locks_only_the_service_when_the_scope_is_service(db, db_url):
    config = CONFIG | {"metrics": [CONFIG["metrics"][0] | {"services": ["web"], "unit": "errors/min"}],
                       "health": CONFIG["health"] | {"auto_lock_scope": "service"}}
    client, ctx, sink = harness(db, db_url, config)
    with client:
        bad, auto = _bad_deploy(client, ctx, db, sink)
        assert (auto["service"], auto["deploy_id"]) == ("web", bad["id"])
        assert "errors/min" in auto["reason"]  # the metric's unit labels the reason
        web = api(client, "GET", "/api/v1/gate?environment=production&service=web").json()
        other = api(client, "GET", "/api/v1/gate?environment=production&service=api").json()
        assert not web["allowed"] and "lock" in {b["kind"] for b in web["blockers"]}
        assert other["allowed"], other  # the rest of production stays open
        assert api(client, "GET", "/api/v1/gate?environment=production").json()["allowed"]


def test_a_persons_healthy_verdict_ends_the_auto_locks_that_deploy_caused(db, db_url):
    client, ctx, sink = harness(db, db_url, CONFIG)
    with client:
        bad, auto = _bad_deploy(client, ctx, db, sink)
        assert auto["service"] is None  # the default scope: the whole environment
        r = api(client, "POST", f"/api/v1/deploys/{bad['id']}/health", json={"state": "healthy", "note": "known noisy metric"})
        assert r.status_code == 200, r.text
        assert [lk for lk in api(client, "GET", "/api/v1/locks?active=true").json()["items"] if lk["kind"] == "auto"] == []
        ended = api(client, "GET", "/api/v1/locks?active=false").json()["items"]
        (lock,) = [lk for lk in ended if lk["id"] == auto["id"]]
        events = api(client, "GET", "/api/v1/events?kind=lock_ended").json()["items"]
        (event,) = [e for e in events if e.get("lock_id") == auto["id"] or (e.get("data") or {}).get("lock_id") == auto["id"]]
        assert event["actor"] == lock["ended_by"] != "system"
        assert f"#{bad['id']}" in lock["end_note"]
        assert api(client, "GET", "/api/v1/gate?environment=production&service=web").json()["allowed"]
