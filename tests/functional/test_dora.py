"""GET /api/v1/dora over deploys registered through the API, on both databases."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import update

from shiplane.clock import parse_iso as clock_parse
from shiplane.tables.deploys import deploys
from tests.conftest import sha

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)  # a Monday


def register(api, n, at, service="web", commits_at=(), status="succeeded"):
    commits = [{"revision": sha(f"c{n}{i}"), "message": f"change {i}", "date": c.isoformat()} for i, c in enumerate(commits_at)]
    body = {"service": service, "environment": "production", "sha": sha(n), "status": status, "finished_at": at.isoformat(), "commits": commits}
    r = api.post("/api/v1/deploys", json=body)
    assert r.status_code == 201, r.text
    return r.json()["id"]


def set_health(db, deploy_id, state):
    with db.write() as conn:
        conn.execute(update(deploys).where(deploys.c.id == deploy_id).values(health_state=state))


def test_the_four_keys_and_rework_over_a_week(bob, db):
    ids = [
        register(bob, 1, T0, commits_at=[T0 - timedelta(hours=2)]),
        register(bob, 2, T0 + timedelta(days=1), commits_at=[T0 + timedelta(days=1) - timedelta(hours=4)]),
        register(bob, 3, T0 + timedelta(days=2), commits_at=[T0 + timedelta(days=2) - timedelta(hours=6)]),
        register(bob, 4, T0 + timedelta(days=2, hours=1)),  # a fix-forward, 1 h after the failure
        register(bob, 5, T0 + timedelta(days=3), service="api"),
    ]
    for i in (0, 1, 4):
        set_health(db, ids[i], "healthy")
    set_health(db, ids[2], "unhealthy")
    set_health(db, ids[3], "healthy")
    r = bob.get("/api/v1/dora", params={"since": "2026-11-02", "until": "2026-11-09"})
    assert r.status_code == 200, r.text
    d = r.json()
    assert d["environment"] == "production"
    assert d["deploy_frequency"]["count"] == 5
    assert d["deploy_frequency"]["per_day"] == pytest.approx(5 / 7)
    assert d["lead_time"]["median_seconds"] == 4 * 3600
    assert d["change_failure_rate"] == {"rate": 0.2, "failed": 1, "total": 5, "band": d["change_failure_rate"]["band"]}
    assert d["recovery_time"]["median_seconds"] == 3600
    assert d["rework_rate"]["count"] == 1
    assert [b["deploys"] for b in d["series"]] == [1, 1, 2, 1, 0, 0, 0]
    assert d["series"][0]["start"] == "2026-11-02T00:00:00Z"
    one = bob.get("/api/v1/dora", params={"since": "2026-11-02", "until": "2026-11-09", "service": "api"}).json()
    assert one["deploy_frequency"]["count"] == 1


@pytest.mark.parametrize(
    "params,field",
    [
        ({"since": "2026-11-09", "until": "2026-11-02"}, "until"),
        ({"since": "yesterday"}, "since"),
        ({"bucket": "year"}, "bucket"),
        ({"since": "2020-01-01", "until": "2026-01-01"}, "since"),
    ],
)
def test_bad_ranges_and_buckets_are_422(bob, params, field):
    r = bob.get("/api/v1/dora", params=params)
    assert r.status_code == 422 and field in r.json()["fields"], r.json()


def test_unknown_scopes_are_404(bob):
    assert bob.get("/api/v1/dora", params={"environment": "nowhere"}).json()["error"] == "unknown_environment"


def test_metrics_exposes_dora_gauges_and_queue_depth(bob, anon):
    """Why 5: the API's default range and the gauges use one window, the last 30 days."""
    register(bob, 0, datetime.now(UTC) - timedelta(days=40))  # tracking began before the window
    register(bob, 1, datetime.now(UTC) - timedelta(days=1))
    text = anon.get("/metrics").text
    assert "shiplane_jobs_pending " in text
    line = next(ln for ln in text.splitlines() if ln.startswith("shiplane_dora_deploys_per_day "))
    assert float(line.split()[1]) == pytest.approx(1 / 30)
    default = bob.get("/api/v1/dora").json()
    assert default["deploy_frequency"]["per_day"] == pytest.approx(1 / 30)
    assert clock_parse(default["until"]) - clock_parse(default["since"]) == timedelta(days=30)
    assert "shiplane_http_request_duration_seconds_bucket" in text
