"""GET /api/v1/dora/deploys: the deploys behind each figure, with their contribution and reason (SPEC §8.9)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import update

from shiplane.dora import explain
from shiplane.dora import service as dora
from shiplane.dora.metrics import percentile
from shiplane.tables.deploys import deploys
from tests.conftest import sha, wipe
from tests.functional.test_dora_reference import DAYS, START, write_history

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
RANGE = {"since": "2026-11-02", "until": "2026-11-09"}


def post(api, n, at, **extra):
    body = {"service": "web", "environment": "production", "sha": sha(n), "finished_at": at.isoformat(), **extra}
    r = api.post("/api/v1/deploys", json=body)
    assert r.status_code in (200, 201), r.text
    return r.json()


def set_health(db, state, *ids):
    with db.write() as conn:
        conn.execute(update(deploys).where(deploys.c.id.in_(ids)).values(health_state=state))


def listing(api, metric, **params):
    r = api.get("/api/v1/dora/deploys", params=RANGE | {"metric": metric} | params)
    assert r.status_code == 200, r.text
    return r.json()


def test_each_deploy_says_why_it_counts(bob, db):
    a = post(bob, 1, T0, commits=[{"revision": sha("c1"), "date": (T0 - timedelta(hours=2)).isoformat()}, {"revision": sha("c2")}])
    b = post(bob, 2, T0 + timedelta(hours=1))
    c = post(bob, 3, T0 + timedelta(hours=2))
    r = post(bob, 1, T0 + timedelta(hours=3))  # rolls back b and c: c was live
    d = post(bob, 4, T0 + timedelta(hours=5))
    set_health(db, "healthy", a["id"], b["id"], r["id"])
    set_health(db, "unhealthy", d["id"])
    assert bob.post("/api/v1/incidents", json={"environment": "production", "service": "web", "key": "PD-7", "state": "triggered",
                                               "at": (T0 + timedelta(hours=2, minutes=30)).isoformat()}).status_code == 201

    failed = listing(bob, "failed")
    assert [i["id"] for i in failed["items"]] == [d["id"], c["id"]]  # newest first
    why = {i["id"]: i["contribution"]["failed_because"] for i in failed["items"]}
    assert why[d["id"]] == ["health: unhealthy"]
    assert why[c["id"]] == ["incident PD-7", f"rolled back by #{r['id']}"]

    recovery = {i["id"]: i["contribution"] for i in listing(bob, "recovery")["items"]}
    assert recovery[c["id"]]["recovery_seconds"] == 3600 and recovery[c["id"]]["recovered_by"] == f"deploy #{r['id']}"
    assert recovery[d["id"]]["open"] is True and recovery[d["id"]]["recovery_seconds"] is None

    rework = listing(bob, "rework")["items"]
    assert [(i["id"], i["contribution"]["rework_because"]) for i in rework] == [(r["id"], f"rollback of #{a['id']}")]

    lead = listing(bob, "lead_time")["items"]
    assert [i["id"] for i in lead] == [a["id"]]
    assert lead[0]["contribution"]["lead_times"] == [
        {"sha": sha("c1"), "committed_at": (T0 - timedelta(hours=2)).isoformat().replace("+00:00", "Z"), "seconds": 7200.0}
    ]
    assert lead[0]["contribution"]["unknown_commits"] == 1
    assert len(listing(bob, "deploys")["items"]) == 5


@pytest.mark.parametrize("tz", ["UTC", "America/New_York"])
def test_the_lists_add_up_to_every_figure(db, tz, monkeypatch):
    """Walk every page of every list over a seeded history: the items are the figure, exactly."""
    monkeypatch.setattr(explain, "FIRST_WINDOW", timedelta(minutes=20))  # several windows per page
    wipe(db)
    rng = random.Random(5)
    write_history(db, rng, 120)
    with db.read() as conn:
        for service in (None, "web"):
            for since, until in ((START, START + timedelta(days=DAYS)), (START + timedelta(days=3, hours=5), START + timedelta(days=9))):
                kw = dict(environment="production", service=service, since=since, until=until, tz=tz)
                report = dora.report(conn, **kw)
                lists = {}
                for metric in explain.METRICS:
                    items, cursor = [], None
                    while True:
                        page = explain.deploys_behind(conn, metric=metric, limit=4, cursor=cursor, **kw)
                        items += page["items"]
                        cursor = page["next_cursor"]
                        if cursor is None:
                            break
                    keys = [(i["deployed_at"], i["id"]) for i in items]
                    assert keys == sorted(keys, reverse=True) and len(set(keys)) == len(keys)
                    lists[metric] = [i["contribution"] for i in items]
                assert len(lists["deploys"]) == report["deploy_frequency"]["count"]
                assert len(lists["failed"]) == report["change_failure_rate"]["failed"]
                assert len(lists["rework"]) == report["rework_rate"]["count"]
                leads = [x["seconds"] for c in lists["lead_time"] for x in c["lead_times"]]
                assert percentile(leads, 50) == report["lead_time"]["median_seconds"]
                assert percentile(leads, 90) == report["lead_time"]["p90_seconds"]
                assert sum(c["unknown_commits"] for c in lists["lead_time"]) == report["lead_time"]["unknown_commits"]
                recoveries = [c["recovery_seconds"] for c in lists["recovery"] if c["recovery_seconds"] is not None]
                assert percentile(recoveries, 50) == report["recovery_time"]["median_seconds"]
                assert sum(c["open"] for c in lists["recovery"]) == report["recovery_time"]["open"]
                assert all(c["failed_because"] for c in lists["failed"])


def test_bad_parameters_are_422_and_unknown_scopes_404(bob):
    assert bob.get("/api/v1/dora/deploys", params={"metric": "speed"}).status_code == 422
    assert bob.get("/api/v1/dora/deploys", params={"cursor": "nonsense!"}).status_code in (404, 422)
    assert bob.get("/api/v1/dora/deploys", params={"environment": "nowhere"}).json()["error"] == "unknown_environment"
    post(bob, 1, T0)
    assert bob.get("/api/v1/dora/deploys", params={"cursor": "nonsense!", **RANGE}).status_code == 422
    assert bob.get("/api/v1/dora/deploys", params={"limit": 0}).status_code == 422
