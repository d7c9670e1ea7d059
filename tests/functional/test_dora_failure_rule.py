"""`[dora] failure = "incident"` (SPEC §8.9): only incidents fail a deploy, and only their
resolution recovers it, as Apache DevLake counts. Through the API, the drill-down, the page and
the Prometheus gauges, on both databases; the reference model covers it too
(tests/functional/test_dora_reference.py).
"""

from datetime import timedelta

import pytest

from shiplane import clock
from shiplane.auth import service as auth_service
from shiplane.dora import metrics
from shiplane.settings.config import Config
from shiplane.settings.loading import parse_config
from shiplane.settings.values import ConfigError
from tests.functional.test_dashboard import PASSWORD, _login
from tests.functional.test_dora_inputs import T0, H, deploy, dora, healthy, incident


@pytest.fixture
def config() -> Config:
    return Config.model_validate({"dora": {"failure": "incident"}})


def test_health_and_rollbacks_do_not_fail_a_deploy_incidents_do(bob, db):
    a = deploy(bob, 1, T0)
    b = deploy(bob, 2, T0 + timedelta(hours=1))  # unhealthy, then rolled back: not failed here
    r = deploy(bob, 1, T0 + timedelta(hours=1, minutes=10))
    c = deploy(bob, 3, T0 + timedelta(hours=5))
    healthy(db, a["id"], r["id"])
    healthy(db, b["id"], state="unhealthy")
    healthy(db, c["id"])
    assert bob.get(f"/api/v1/deploys/{b['id']}").json()["dora_failure"] == f"rolled back by #{r['id']}"
    incident(bob, "INC-7", "triggered", T0 + timedelta(hours=6), expect=201)  # attaches to c
    incident(bob, "INC-7", "resolved", T0 + timedelta(hours=8), expect=201)
    d = dora(bob)
    assert (d["change_failure_rate"]["failed"], d["change_failure_rate"]["total"]) == (1, 4)
    # c recovers when INC-7 is resolved (3 h after c went out), not by a later deploy.
    assert d["recovery_time"] == {"median_seconds": pytest.approx(3 * H), "band": "high", "open": 0}
    assert d["rework_rate"]["count"] == 1  # the rollback is still rework

    listed = bob.get("/api/v1/dora/deploys", params={"metric": "failed", "since": "2026-11-02", "until": "2026-11-09"})
    assert listed.status_code == 200, listed.text
    [item] = listed.json()["items"]
    assert item["id"] == c["id"]
    assert item["contribution"]["failed_because"] == ["incident INC-7"]
    assert item["contribution"]["recovered_by"] == "incident INC-7 resolved"


def test_a_later_deploy_does_not_recover_an_open_incident(bob, db):
    a = deploy(bob, 1, T0)
    healthy(db, a["id"])
    incident(bob, "INC-1", "triggered", T0 + timedelta(minutes=20), expect=201)
    b = deploy(bob, 2, T0 + timedelta(hours=1))  # healthy fix-forward, but the incident stays open
    healthy(db, b["id"])
    d = dora(bob)
    assert d["recovery_time"]["median_seconds"] is None and d["recovery_time"]["open"] == 1
    assert d["rework_rate"]["count"] == 1  # b was deployed while a was failing
    incident(bob, "INC-1", "resolved", T0 + timedelta(hours=2), expect=201)
    assert dora(bob)["recovery_time"]["median_seconds"] == pytest.approx(2 * H)


def test_a_persons_incident_verdict_is_not_an_incident(bob, db):
    a = deploy(bob, 1, T0)
    r = bob.post(f"/api/v1/deploys/{a['id']}/health", json={"state": "incident", "note": "paged"})
    assert r.status_code == 200, r.text
    d = dora(bob)
    assert d["change_failure_rate"]["failed"] == 0 and d["recovery_time"]["open"] == 0
    listed = bob.get("/api/v1/dora/deploys", params={"metric": "failed", "since": "2026-11-02", "until": "2026-11-09"})
    assert listed.json()["items"] == []


def test_the_page_says_which_rule_counts(bob, client, db):
    with db.write() as conn:
        auth_service.create_user(conn, "vic", "viewer", PASSWORD, clock.now())
    deploy(bob, 1, clock.now() - timedelta(hours=1))
    _login(client, "vic")
    page = client.get("/dora")
    assert page.status_code == 200
    assert 'data-failure-rule="incident"' in page.text and "Failed: deploys with an incident" in page.text


def test_the_rule_of_each_setting():
    assert metrics.failure_rule("health", ["unhealthy", "incident", "unhealthy"]) == ("incident", "unhealthy")
    assert metrics.failure_rule("incident", ["ailing"]) == (metrics.BY_INCIDENT, "incident")


def test_a_bad_value_names_the_file_key_and_reason():
    with pytest.raises(ConfigError) as e:
        parse_config({"dora": {"failure": "incidents"}}, {}, "shiplane.toml")
    assert "shiplane.toml" in str(e.value) and "dora.failure" in str(e.value)
