"""PagerDuty and Opsgenie webhooks become incidents like POST /api/v1/incidents, on both databases.

The payloads are the vendors' own documented examples (tests/fixtures/incidents/SOURCES.md):
PagerDuty https://developer.pagerduty.com/docs/webhooks/v3-overview and
https://developer.pagerduty.com/docs/webhooks/webhook-signatures; Opsgenie
https://support.atlassian.com/opsgenie/docs/opsgenie-edge-connector-alert-action-data/.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path

import pytest
from sqlalchemy import func, select

from shiplane.health.incidents.pagerduty import signature_matches
from shiplane.settings import Config
from shiplane.tables.health import incidents
from tests.conftest import sha

FIXTURES = Path(__file__).parents[1] / "fixtures" / "incidents"
PD_SECRET = "pd-webhook-secret-1"
PD_NEXT_SECRET = "pd-webhook-secret-2"
OG_TOKEN = "opsgenie-token-0123456789"


@pytest.fixture
def config() -> Config:
    return Config.model_validate(
        {
            "environments": [{"slug": "staging"}, {"slug": "production", "production": True}],
            "incidents": {
                "pagerduty": {"webhook_secret": PD_SECRET, "services": {"PF9KMXH": "api"}},
                "opsgenie": {"token": OG_TOKEN, "environment": "staging"},
            },
        }
    )


def fixture(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


def pagerduty(event_type: str, **data) -> dict:
    """The documented v3 incident payload, as the event type named (see SOURCES.md)."""
    payload = fixture("incident.priority_updated.json")
    payload["event"]["event_type"] = event_type
    payload["event"]["data"]["status"] = event_type.removeprefix("incident.")
    payload["event"]["data"].update(data)
    return payload


def sign(body: bytes, *secrets: str) -> str:
    return ",".join("v1=" + hmac.new(s.encode(), body, hashlib.sha256).hexdigest() for s in secrets)


def post_pd(anon, payload: dict, *secrets: str, signature: str | None = None):
    body = json.dumps(payload).encode()
    headers = {"Content-Type": "application/json"}
    if signature is not None or secrets:
        headers["X-PagerDuty-Signature"] = signature if signature is not None else sign(body, *secrets)
    return anon.post("/hooks/pagerduty", content=body, headers=headers)


def post_og(anon, payload: dict, token: str | None = OG_TOKEN):
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return anon.post("/hooks/opsgenie", content=json.dumps(payload).encode(), headers=headers)


def count(db) -> int:
    with db.read() as conn:
        return conn.execute(select(func.count()).select_from(incidents)).scalar()


def deploy(bob, n, service="api", environment="production", at="2020-10-02T18:00:00Z"):
    body = {"service": service, "environment": environment, "sha": sha(n), "finished_at": at}
    r = bob.post("/api/v1/deploys", json=body)
    assert r.status_code == 201, r.text
    return r.json()


# ---------------------------------------------------------------- PagerDuty


def test_it_records_a_pagerduty_incident_against_the_mapped_service_and_resolves_it(anon, bob, db):
    d = deploy(bob, 1)
    r = post_pd(anon, pagerduty("incident.triggered"), PD_SECRET)
    assert r.status_code == 200, r.text
    (incident,) = r.json()["incidents"]
    assert (incident["key"], incident["service"], incident["environment"]) == ("PGR0VU2", "api", "production")
    assert (incident["deploy_id"], incident["recorded"], incident["title"]) == (d["id"], True, "A little bump in the road")
    assert incident["url"] == "https://acme.pagerduty.com/incidents/PGR0VU2"
    assert incident["started_at"] == "2020-10-02T18:45:22.169000Z"
    assert bob.get(f"/api/v1/deploys/{d['id']}").json()["health"]["state"] == "incident"

    resolved = pagerduty("incident.resolved")
    resolved["event"]["occurred_at"] = "2020-10-02T19:15:22Z"
    r = post_pd(anon, resolved, PD_SECRET)
    assert r.status_code == 200 and r.json()["incidents"][0]["resolved_at"] == "2020-10-02T19:15:22Z"
    events = bob.get("/api/v1/events?kind=incident").json()["items"]
    assert [(e["actor"], e["data"]["state"]) for e in events] == [("pagerduty", "triggered"), ("pagerduty", "resolved")]
    # Counted by DORA like an incident from the API: a failed change, restored when the
    # incident resolved, 1 h 15 min 22 s after the deploy (18:00:00 → 19:15:22).
    dora = bob.get("/api/v1/dora", params={"since": "2020-10-01", "until": "2020-10-04"}).json()
    assert dora["change_failure_rate"]["failed"] == 1
    assert dora["recovery_time"]["median_seconds"] == 4522


def test_a_retried_pagerduty_delivery_records_nothing_twice(anon, db):
    payload = pagerduty("incident.triggered")
    assert post_pd(anon, payload, PD_SECRET).json()["incidents"][0]["recorded"] is True
    again = post_pd(anon, payload, PD_SECRET)
    assert again.status_code == 200 and again.json()["incidents"][0]["recorded"] is False
    assert count(db) == 1


def test_one_matching_signature_is_enough_while_the_secret_rotates(anon, db, app):
    # PagerDuty signs with every secret of the subscription during a rotation; the
    # configured one may be either of them, in either place.
    assert post_pd(anon, pagerduty("incident.triggered"), PD_NEXT_SECRET, PD_SECRET).status_code == 200
    assert post_pd(anon, pagerduty("incident.resolved"), PD_SECRET, PD_NEXT_SECRET).status_code == 200
    assert count(db) == 1
    body = b'{"event": {}}'
    assert signature_matches(PD_SECRET, body, sign(body, "old") + ", " + sign(body, PD_SECRET).upper().replace("V1=", "v1="))
    assert not signature_matches(PD_SECRET, body, sign(body, PD_SECRET).replace("v1=", "v0="))


@pytest.mark.parametrize(
    "signature",
    [None, "", "v1=", "v1=deadbeef", "sha256=" + "0" * 64, "garbage,,,"],
)
def test_a_bad_or_missing_pagerduty_signature_is_401_and_records_nothing(anon, db, signature):
    r = post_pd(anon, pagerduty("incident.triggered"), signature=signature)
    assert r.status_code == 401 and r.json()["error"] == "unauthenticated"
    assert count(db) == 0


def test_a_signature_over_other_bytes_is_refused(anon, db):
    payload = pagerduty("incident.triggered")
    signed_for = json.dumps(pagerduty("incident.triggered", title="something else")).encode()
    r = post_pd(anon, payload, signature=sign(signed_for, PD_SECRET))
    assert r.status_code == 401 and count(db) == 0


def test_other_pagerduty_event_types_are_ignored(anon, db):
    for name in ("incident.priority_updated.json", "service.updated.json"):
        r = post_pd(anon, fixture(name), PD_SECRET)
        assert r.status_code == 200 and r.json()["status"] == "ignored", r.text
    r = post_pd(anon, pagerduty("incident.acknowledged"), PD_SECRET)
    assert r.json() == {"status": "ignored", "reason": "event_type incident.acknowledged"}
    assert count(db) == 0


def test_an_unmapped_pagerduty_service_concerns_the_whole_environment(anon, db):
    payload = pagerduty("incident.triggered")
    payload["event"]["data"]["service"]["id"] = "PUNKNOWN"
    (incident,) = post_pd(anon, payload, PD_SECRET).json()["incidents"]
    assert (incident["service"], incident["environment"]) == (None, "production")


@pytest.mark.parametrize(
    "change, field",
    [
        (lambda p: p["event"]["data"].pop("id"), "event.data.id"),
        (lambda p: p["event"]["data"].update(id=["PGR0VU2"]), "event.data.id"),
        (lambda p: p["event"].pop("event_type"), "event.event_type"),
        (lambda p: p["event"].update(occurred_at="yesterday"), "event.occurred_at"),
        (lambda p: p.pop("event"), "event"),
        (lambda p: p["event"]["data"].update(title={"nested": True}), "event.data.title"),
    ],
)
def test_a_signed_pagerduty_payload_that_cannot_be_read_is_400_naming_the_field(anon, db, change, field):
    payload = pagerduty("incident.triggered")
    change(payload)
    r = post_pd(anon, payload, PD_SECRET)
    assert r.status_code == 400, r.text
    assert field in r.json()["fields"] and field in r.json()["detail"]
    assert count(db) == 0


def test_signed_bytes_that_are_not_json_are_400(anon, db):
    body = b"\xff not json"
    r = anon.post("/hooks/pagerduty", content=body, headers={"X-PagerDuty-Signature": sign(body, PD_SECRET)})
    assert r.status_code == 400 and r.json()["error"] == "invalid_payload"


# ---------------------------------------------------------------- Opsgenie


def test_it_records_an_opsgenie_alert_by_alias_with_the_service_tag(anon, bob, db):
    d = deploy(bob, 1, service="checkout", environment="staging", at="2015-01-05T09:00:00Z")
    create = fixture("opsgenie.create.json")
    create["alert"]["tags"].append("service:checkout")
    r = post_og(anon, create)
    assert r.status_code == 200, r.text
    (incident,) = r.json()["incidents"]
    assert (incident["key"], incident["service"], incident["environment"]) == ("aliastest", "checkout", "staging")
    assert (incident["title"], incident["deploy_id"]) == ("test alert", d["id"])
    assert incident["started_at"] == "2015-01-05T10:03:11.104000Z"  # alert.createdAt, epoch milliseconds

    close = fixture("opsgenie.acknowledge.json") | {"action": "Close"}
    r = post_og(anon, close)
    assert r.status_code == 200 and r.json()["incidents"][0]["state"] == "resolved"
    assert post_og(anon, close).json()["incidents"][0]["recorded"] is False
    assert count(db) == 1


def test_without_an_alias_the_alert_id_is_the_key(anon, db):
    create = fixture("opsgenie.create.json")
    del create["alert"]["alias"]
    (incident,) = post_og(anon, create).json()["incidents"]
    assert incident["key"] == "052652ac-5d1c-464a-812a-7dd18bbfba8c"
    assert incident["service"] is None  # no service: tag


def test_an_opsgenie_alert_with_neither_alias_nor_alert_id_is_400_naming_the_field(anon, db):
    create = fixture("opsgenie.create.json")
    del create["alert"]["alias"], create["alert"]["alertId"]
    r = post_og(anon, create)
    assert r.status_code == 400
    assert "alert.alias" in r.json()["fields"] and "alertId" in r.json()["detail"]
    assert count(db) == 0


@pytest.mark.parametrize("token", [None, "", "wrong-token-0123456789", OG_TOKEN + "x"])
def test_a_bad_or_missing_opsgenie_token_is_401_and_records_nothing(anon, db, token):
    assert post_og(anon, fixture("opsgenie.create.json"), token=token).status_code == 401
    r = anon.post("/hooks/opsgenie", json=fixture("opsgenie.create.json"), headers={"Authorization": f"Basic {OG_TOKEN}"})
    assert r.status_code == 401
    assert count(db) == 0


def test_other_opsgenie_actions_are_ignored_and_bad_tags_named(anon, db):
    r = post_og(anon, fixture("opsgenie.acknowledge.json"))
    assert r.json() == {"status": "ignored", "reason": "action Acknowledge"}
    create = fixture("opsgenie.create.json")
    create["alert"]["tags"] = ["service:Not A Slug"]
    r = post_og(anon, create)
    assert r.status_code == 400 and "alert.tags" in r.json()["fields"]
    assert count(db) == 0


def test_a_long_alias_keeps_two_alerts_apart(anon, db):
    keys = set()
    for suffix in ("a", "b"):
        create = fixture("opsgenie.create.json")
        create["alert"]["alias"] = "x" * 300 + suffix
        (incident,) = post_og(anon, create).json()["incidents"]
        keys.add(incident["key"])
        assert len(incident["key"]) <= 200
    assert len(keys) == 2 and count(db) == 2


# ---------------------------------------------------------------- not configured


def test_an_unconfigured_hook_is_404(db, db_url):
    from fastapi.testclient import TestClient

    from shiplane.app import create_app
    from tests.conftest import make_settings

    with TestClient(create_app(make_settings(db_url, Config()), db=db, worker=False)) as client:
        for name in ("pagerduty", "opsgenie"):
            r = client.post(f"/hooks/{name}", content=b"{}")
            assert r.status_code == 404 and f"[incidents.{name}]" in r.json()["detail"]


def test_config_check_names_a_bad_incident_key():
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="webhook_secret"):
        Config.model_validate({"incidents": {"pagerduty": {"webhook_secret": ""}}})
    with pytest.raises(ValidationError, match="at least 16"):
        Config.model_validate({"incidents": {"opsgenie": {"token": "short"}}})
    with pytest.raises(ValidationError, match="services"):
        Config.model_validate({"incidents": {"pagerduty": {"webhook_secret": "s", "services": {"P1": "Not A Slug"}}}})


def test_config_check_names_the_key_and_never_echoes_a_secret(tmp_path):
    from shiplane.settings import ConfigError, load_config_file

    path = tmp_path / "shiplane.toml"
    path.write_text(
        '[incidents.opsgenie]\ntoken = "hunter2-short"\n'
        '[incidents.pagerduty]\nwebhook_secret = "s3cret"\nenvironment = "Prod Env"\nservices = { "P1" = "Bad Slug" }\n'
    )
    with pytest.raises(ConfigError) as caught:
        load_config_file(str(path))
    lines = caught.value.lines()
    assert any(line.startswith(f"{path}: incidents.opsgenie.token: must be at least 16 characters") for line in lines)
    assert any(line.startswith(f"{path}: incidents.pagerduty.services.P1: ") and "Bad Slug" in line for line in lines)
    assert any(line.startswith(f"{path}: incidents.pagerduty.environment: ") for line in lines)
    assert "hunter2" not in "\n".join(lines)
