"""Manual verdicts, incidents and pushed samples through the API, on both databases."""

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from shiplane.tables.health import metric_samples
from tests.conftest import sha


def deploy(api, n, at=None, service="web"):
    body = {"service": service, "environment": "production", "sha": sha(n)}
    if at:
        body["finished_at"] = at.isoformat()
    return api.post("/api/v1/deploys", json=body).json()


def gate(api):
    return api.get("/api/v1/gate", params={"environment": "production", "service": "web"}).json()


def test_a_human_verdict_overrides_and_is_recorded(bob):
    d = deploy(bob, 1)
    r = bob.post(f"/api/v1/deploys/{d['id']}/health", json={"state": "unhealthy", "note": "checkout broken"})
    assert r.status_code == 200
    health = r.json()["health"]
    assert (health["state"], health["final"]) == ("unhealthy", True)
    assert health["reason"] == "set unhealthy by token:bob: checkout broken"
    (e,) = bob.get("/api/v1/events?kind=deploy_health_changed").json()["items"]
    assert (e["deploy_id"], e["data"]["from"], e["data"]["to"]) == (d["id"], "no_data", "unhealthy")
    (b,) = gate(bob)["blockers"]
    assert (b["kind"], b["deploy_id"]) == ("unhealthy", d["id"])
    assert "checkout broken" in b["reason"]


def test_viewers_cannot_give_verdicts(charlie, bob):
    d = deploy(bob, 1)
    assert charlie.post(f"/api/v1/deploys/{d['id']}/health", json={"state": "healthy"}).status_code == 403


def test_incidents_attach_to_the_latest_deploy_before_them_and_are_idempotent(bob):
    t = datetime(2026, 11, 20, 12, tzinfo=UTC)
    first = deploy(bob, 1, t - timedelta(hours=2))
    second = deploy(bob, 2, t - timedelta(hours=1))
    deploy(bob, 3, t + timedelta(hours=1))  # after the incident began: not its cause
    body = {"environment": "production", "service": "web", "key": "INC-7", "state": "triggered", "at": t.isoformat(), "title": "5xx spike"}
    r = bob.post("/api/v1/incidents", json=body)
    assert r.status_code == 201 and r.json()["deploy_id"] == second["id"]
    assert bob.post("/api/v1/incidents", json=body).status_code == 200
    assert bob.get(f"/api/v1/deploys/{second['id']}").json()["health"]["state"] == "incident"
    assert bob.get(f"/api/v1/deploys/{first['id']}").json()["health"]["state"] == "no_data"
    resolved = bob.post("/api/v1/incidents", json=body | {"state": "resolved", "at": (t + timedelta(minutes=40)).isoformat()})
    assert resolved.status_code == 201 and resolved.json()["state"] == "resolved"
    assert bob.post("/api/v1/incidents", json=body | {"state": "resolved"}).status_code == 200
    assert bob.get(f"/api/v1/deploys/{second['id']}").json()["health"]["state"] == "no_data"
    kinds = [e["data"]["state"] for e in bob.get("/api/v1/events?kind=incident").json()["items"]]
    assert kinds == ["triggered", "resolved"]
    dora = bob.get("/api/v1/dora", params={"since": "2026-11-19", "until": "2026-11-22"}).json()
    assert dora["change_failure_rate"]["failed"] == 1
    assert dora["recovery_time"]["median_seconds"] is not None


def test_pushed_samples_are_stored(bob, db):
    r = bob.post("/api/v1/metrics", json={"samples": [
        {"metric": "checkout_errors", "environment": "production", "value": 3},
        {"metric": "checkout_errors", "environment": "production", "service": "web", "value": 4.5, "at": "2026-11-20T12:00:00Z"},
    ]})
    assert r.status_code == 202 and r.json() == {"accepted": 2}
    with db.read() as conn:
        rows = conn.execute(select(metric_samples.c.service, metric_samples.c.value).order_by(metric_samples.c.value)).all()
    assert [tuple(r) for r in rows] == [(None, 3.0), ("web", 4.5)]


@pytest.mark.parametrize(
    "url,body,field",
    [
        ("/api/v1/metrics", {"samples": []}, "samples"),
        ("/api/v1/metrics", {"samples": [{"metric": "m", "environment": "production", "value": "NaN"}]}, "samples.0.value"),
        ("/api/v1/incidents", {"environment": "production", "key": "K", "state": "exploded"}, "state"),
        ("/api/v1/incidents", {"environment": "production", "state": "triggered"}, "key"),
    ],
)
def test_bad_health_input_is_422(bob, url, body, field):
    r = bob.post(url, json=body)
    assert r.status_code == 422 and field in r.json()["fields"], r.json()


# ------------------------------------------------------------------ POST /api/v1/judge

BEFORE = [1.0, 1.2, 0.9, 1.1, 1.0, 1.3, 0.8, 1.1, 1.0, 1.2, 0.9, 1.0]
AFTER = [2.1, 2.4, 1.9, 2.2, 2.5, 2.0, 2.3, 2.2, 2.1, 2.6, 2.0, 2.4]


def test_the_judge_answers_any_role_with_the_sequential_decision(charlie):
    r = charlie.post("/api/v1/judge", json={"metrics": [
        {"name": "5xx rate", "critical": True, "baseline": BEFORE, "current": AFTER, "step": 60},
        {"name": "latency", "baseline": BEFORE, "current": BEFORE[::-1]},
    ]})
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["health"], body["final"]) == ("unhealthy", True)
    five, latency = body["metrics"]
    assert (five["health"], five["final"], five["decided_at"]) == ("unhealthy", True, 8)
    assert "the evidence passed the always-valid threshold after 8 minutes" in five["reason"]
    assert (latency["health"], latency["final"]) == ("healthy", True)


def test_the_judge_takes_history_windows_of_any_length(charlie):
    # every earlier day doubled at this hour too: a daily peak, not a regression
    history = [[v * 2.05 for v in BEFORE], [v * 1.95 for v in BEFORE[:9]], [v * 2 for v in BEFORE] + [2.0] * 5, [1.0] * 3]
    r = charlie.post("/api/v1/judge", json={"metrics": [{"name": "rps", "baseline": BEFORE, "current": AFTER, "history": history}]})
    assert r.status_code == 200, r.text
    (metric,) = r.json()["metrics"]
    assert (metric["health"], metric["history_windows"]) == ("healthy", 3)  # the 3-point window is too short to count
    assert "history (3 windows)" in metric["reason"]


@pytest.mark.parametrize(
    "metric, field",
    [
        ({"current": [*AFTER[:3], "NaN", *AFTER[4:]]}, "metrics.0.current.3"),
        ({"baseline": ["-Infinity", *BEFORE[1:]]}, "metrics.0.baseline.0"),
        ({"history": [BEFORE, [1.0, "Infinity"]]}, "metrics.0.history.1.1"),
        ({"step": 0}, "metrics.0.step"),
    ],
)
def test_non_finite_numbers_are_422_naming_the_field(charlie, metric, field):
    # JSON has no NaN or Infinity; Python's json (and others) write them as bare words
    raw = json.dumps({"metrics": [{"name": "m", "baseline": BEFORE, "current": AFTER} | metric]}).replace('"NaN"', "NaN")
    raw = raw.replace('"Infinity"', "Infinity").replace('"-Infinity"', "-Infinity")
    r = charlie.post("/api/v1/judge", content=raw, headers={"Content-Type": "application/json"})
    assert r.status_code == 422 and field in r.json()["fields"], r.json()


def test_the_judge_counts_history_points_against_the_limit(charlie):
    window = [1.0] * 50_000
    r = charlie.post("/api/v1/judge", json={"metrics": [{"name": "m", "baseline": BEFORE, "current": AFTER,
                                                           "history": [window] * 5}]})
    assert r.status_code == 422 and "metrics" in r.json()["fields"], r.json()
