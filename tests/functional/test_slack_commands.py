"""/shiplane slash commands and the Unlock button, signed as Slack signs them, on both databases.

Signatures are built here with hmac, independently of the product's code.
Personas: alice and bob are Slack members; mallory has the wrong secret.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from urllib.parse import urlencode

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shiplane.app import create_app
from shiplane.settings import Config
from tests.conftest import make_settings

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
BASE = {
    "slack": {"signing_secret": SECRET},
    "environments": [{"slug": "production"}, {"slug": "staging"}],
    "services": [{"slug": "web"}, {"slug": "api"}],
}


@pytest.fixture
def config() -> Config:
    return Config.model_validate(BASE)


def sign(body: str, ts: str, secret: str = SECRET) -> str:
    return "v0=" + hmac.new(secret.encode(), f"v0:{ts}:{body}".encode(), hashlib.sha256).hexdigest()


def post(client, path, fields, *, secret=SECRET, ts=None, signature=None, body=None):
    body = urlencode(fields) if body is None else body
    ts = str(int(time.time())) if ts is None else str(ts)
    headers = {"Content-Type": "application/x-www-form-urlencoded", "X-Slack-Request-Timestamp": ts}
    if signature is not False:
        headers["X-Slack-Signature"] = signature or sign(body, ts, secret)
    return client.post(path, content=body, headers=headers)


def command(client, text, user="alice", **kw):
    fields = {
        "token": "legacy-verification-token", "team_id": "T0001", "team_domain": "acme", "channel_id": "C1",
        "channel_name": "deploys", "user_id": f"U-{user}", "user_name": user, "command": "/shiplane",
        "text": text, "response_url": "https://hooks.slack.com/commands/T0001/1/abc", "trigger_id": "1.2.3",
    }
    return post(client, "/hooks/slack/commands", fields, **kw)


def click(client, lock_id, user="alice", action_id="shiplane_unlock", **kw):
    payload = {
        "type": "block_actions",
        "user": {"id": f"U-{user}", "username": user, "name": user, "team_id": "T0001"},
        "team": {"id": "T0001", "domain": "acme"},
        "response_url": "https://hooks.slack.com/actions/T0001/1/xyz",
        "actions": [{"action_id": action_id, "block_id": "b1", "type": "button", "value": str(lock_id)}],
    }
    return post(client, "/hooks/slack/actions", {"payload": json.dumps(payload)}, **kw)


def active_locks(api):
    return api.get("/api/v1/locks?active=true").json()["items"]


def lock_events(api):
    return [e for e in api.get("/api/v1/events").json()["items"] if e["kind"].startswith("lock")]


# ---------------------------------------------------------------- lock


def test_it_locks_an_environment_from_slack(client, alice):
    r = command(client, "lock production DB migration in progress")
    assert r.status_code == 200
    assert r.json()["response_type"] == "in_channel"
    assert "*production* locked by slack:alice" in r.json()["text"]
    (lk,) = active_locks(alice)
    assert (lk["environment"], lk["service"], lk["reason"], lk["created_by"]) == (
        "production", None, "DB migration in progress", "slack:alice",
    )
    (event,) = lock_events(alice)
    assert (event["kind"], event["actor"]) == ("lock_created", "slack:alice")
    gate = alice.get("/api/v1/gate", params={"environment": "production"}).json()
    assert gate["allowed"] is False and gate["blockers"][0]["by"] == "slack:alice"


def test_the_word_after_the_environment_is_a_service_only_if_one_has_that_slug(client, alice):
    assert command(client, "lock production web   checkout is flaky").status_code == 200
    assert command(client, "lock staging webby things break").status_code == 200
    by_env = {lk["environment"]: lk for lk in active_locks(alice)}
    assert (by_env["production"]["service"], by_env["production"]["reason"]) == ("web", "checkout is flaky")
    assert (by_env["staging"]["service"], by_env["staging"]["reason"]) == (None, "webby things break")


def test_a_second_lock_on_the_same_scope_is_refused_in_private(client, alice):
    command(client, "lock production first")
    r = command(client, "lock production second", user="bob")
    assert r.status_code == 200 and r.json()["response_type"] == "ephemeral"
    assert "already locked by slack:alice" in r.json()["text"]
    assert [lk["reason"] for lk in active_locks(alice)] == ["first"]


@pytest.mark.parametrize(
    "text,says",
    [
        ("lock", "Usage"),
        ("lock production", "Give a reason"),
        ("lock production web", "Give a reason"),
        ("lock prodution oops", "Unknown environment `prodution`"),
        ("lock production " + "x" * 1001, "1000 at most"),
    ],
)
def test_bad_lock_commands_answer_privately_and_record_nothing(client, alice, text, says):
    r = command(client, text)
    assert r.status_code == 200 and r.json()["response_type"] == "ephemeral"
    assert says in r.json()["text"]
    assert active_locks(alice) == [] and lock_events(alice) == []


def test_user_text_is_escaped_for_slack(client, alice):
    r = command(client, "lock production <!channel> & <https://evil.example|click>")
    text = r.json()["text"]
    assert "&lt;!channel&gt; &amp; &lt;https://evil.example|click&gt;" in text
    assert "<!channel>" not in text
    assert active_locks(alice)[0]["reason"] == "<!channel> & <https://evil.example|click>"


# ---------------------------------------------------------------- unlock


def test_it_unlocks_from_slack(client, alice):
    command(client, "lock production web deploy freeze")
    command(client, "lock production env wide")
    r = command(client, "unlock production web", user="bob")
    assert r.status_code == 200 and r.json()["response_type"] == "in_channel"
    assert "unlocked by slack:bob" in r.json()["text"]
    (left,) = active_locks(alice)
    assert left["service"] is None
    ended = alice.get("/api/v1/locks?active=false").json()["items"][0]
    assert (ended["service"], ended["ended_by"]) == ("web", "slack:bob")
    assert [(e["kind"], e["actor"]) for e in lock_events(alice)][-1] == ("lock_ended", "slack:bob")


def test_unlocking_what_is_not_locked_says_so(client, alice):
    command(client, "lock production web deploy freeze")
    r = command(client, "unlock production")
    assert r.json()["response_type"] == "ephemeral"
    assert "not locked" in r.json()["text"] and "*web* in *production*" in r.json()["text"]
    assert len(active_locks(alice)) == 1


def test_a_misspelt_service_does_not_unlock_the_environment(client, alice):
    command(client, "lock production env wide")
    r = command(client, "unlock production wbe")
    assert "Unknown service `wbe`" in r.json()["text"]
    assert len(active_locks(alice)) == 1


# ---------------------------------------------------------------- status and help


def test_status_shows_each_gate_and_its_blockers(client):
    command(client, "lock production DB & co")
    command(client, "lock staging api just the api")
    r = command(client, "status", user="bob")
    text = r.json()["text"]
    assert r.json()["response_type"] == "ephemeral"
    assert ":red_circle: *production* is closed" in text and "lock: DB &amp; co (slack:alice)" in text
    assert ":large_green_circle: *staging* is open" in text and "*api* locked by slack:alice: just the api" in text
    only = command(client, "status staging").json()["text"]
    assert "production" not in only and "staging" in only


@pytest.mark.parametrize("text", ["", "help", "deploy now"])
def test_anything_else_gets_the_usage(client, text):
    r = command(client, text)
    assert r.status_code == 200 and "/shiplane lock <environment> [service] <reason>" in r.json()["text"]


# ---------------------------------------------------------------- who may


def test_allowed_users_restrict_lock_and_unlock_but_not_status(db, db_url):
    config = Config.model_validate(BASE | {"slack": {"signing_secret": SECRET, "allowed_users": ["alice"]}})
    app = create_app(make_settings(db_url, config), db=db, worker=False)
    with TestClient(app) as client:
        r = command(client, "lock production by bob", user="bob")
        assert r.status_code == 200 and r.json()["response_type"] == "ephemeral"
        assert "only the Slack users in Shiplane's `[slack] allowed_users`" in r.json()["text"]
        assert command(client, "status", user="bob").json()["text"].startswith(":large_green_circle:")
        assert command(client, "lock production by alice").json()["response_type"] == "in_channel"
        assert "allowed_users" in command(client, "unlock production", user="bob").json()["text"]
        lock_id = client.get("/api/v1/locks?active=true", headers={"Authorization": "Bearer bob-deployer-token"}).json()["items"][0]["id"]
        assert "allowed_users" in click(client, lock_id, user="bob").json()["text"]
        assert len(client.get("/api/v1/locks?active=true", headers={"Authorization": "Bearer bob-deployer-token"}).json()["items"]) == 1


# ---------------------------------------------------------------- signatures


@pytest.mark.parametrize(
    "case",
    ["unsigned", "wrong secret", "older than five minutes", "from the future", "tampered body", "garbage timestamp",
     "no timestamp", "not v0"],
)
def test_badly_signed_requests_are_401_and_record_nothing(client, alice, case):
    fields = {"user_name": "mallory", "text": "lock production pwned", "command": "/shiplane"}
    body = urlencode(fields)
    now = int(time.time())
    if case == "unsigned":
        r = post(client, "/hooks/slack/commands", fields, signature=False)
    elif case == "wrong secret":
        r = post(client, "/hooks/slack/commands", fields, secret="not-the-secret")
    elif case == "older than five minutes":
        r = post(client, "/hooks/slack/commands", fields, ts=now - 400)  # margins: a loaded machine may take seconds to answer
    elif case == "from the future":
        r = post(client, "/hooks/slack/commands", fields, ts=now + 400)
    elif case == "tampered body":
        r = post(client, "/hooks/slack/commands", fields, signature=sign(body, str(now)), body=body + "x", ts=now)
    elif case == "garbage timestamp":
        r = post(client, "/hooks/slack/commands", fields, ts="soon", signature=sign(body, "soon"))
    elif case == "no timestamp":
        r = client.post("/hooks/slack/commands", content=body, headers={"X-Slack-Signature": sign(body, str(now))})
    else:
        r = post(client, "/hooks/slack/commands", fields, signature="v1=" + sign(body, str(now))[3:], ts=now)
    assert r.status_code == 401
    assert r.json()["error"] == "invalid_signature"
    assert active_locks(alice) == [] and lock_events(alice) == []


def test_a_request_just_under_five_minutes_old_is_accepted(client, alice):
    r = command(client, "lock production late but fine", ts=int(time.time()) - 290)
    assert r.status_code == 200 and len(active_locks(alice)) == 1


def test_without_a_signing_secret_everything_is_401(db, db_url):
    app = create_app(make_settings(db_url, Config.model_validate({"services": [{"slug": "web"}]})), db=db, worker=False)
    with TestClient(app) as client:
        r = command(client, "lock production no secret")
        assert r.status_code == 401 and "signing_secret is not configured" in r.json()["detail"]
        assert click(client, 1).status_code == 401
        events = client.get("/api/v1/events", headers={"Authorization": "Bearer alice-admin-token"}).json()["items"]
        assert [e for e in events if e["kind"].startswith("lock")] == []


def test_actions_are_verified_too(client, alice):
    command(client, "lock production keep me")
    lock_id = active_locks(alice)[0]["id"]
    assert click(client, lock_id, secret="not-the-secret").status_code == 401
    assert click(client, lock_id, ts=int(time.time()) - 600).status_code == 401
    assert len(active_locks(alice)) == 1


# ---------------------------------------------------------------- the Unlock button


def _reply_jobs(db):
    from sqlalchemy import select

    from shiplane.tables.jobs import jobs

    with db.read() as conn:
        return [row.payload for row in conn.execute(select(jobs).where(jobs.c.kind == "slack_response").order_by(jobs.c.id))]


def test_the_unlock_button_ends_the_lock_and_replies_through_response_url(client, alice, db):
    command(client, "lock production from slack")
    lock_id = active_locks(alice)[0]["id"]
    r = click(client, lock_id, user="bob")
    assert r.status_code == 200 and "unlocked by slack:bob" in r.json()["text"]
    assert active_locks(alice) == []
    ended = alice.get("/api/v1/locks?active=false").json()["items"][0]
    assert (ended["ended_by"], ended["end_note"]) == ("slack:bob", "unlocked from Slack")
    (reply,) = _reply_jobs(db)
    assert reply["url"] == "https://hooks.slack.com/actions/T0001/1/xyz"
    assert reply["body"]["response_type"] == "in_channel" and reply["body"]["replace_original"] is False

    again = click(client, lock_id)
    assert again.status_code == 200 and "already ended by slack:bob" in again.json()["text"]
    assert [e["kind"] for e in lock_events(alice)] == ["lock_created", "lock_ended"]


@pytest.mark.parametrize(
    "value,action_id,says",
    [("999999", "shiplane_unlock", "no lock #999999"), ("abc", "shiplane_unlock", "does not name a lock"),
     ("1", "something_else", "does not know the action")],
)
def test_odd_clicks_change_nothing(client, alice, value, action_id, says):
    command(client, "lock production stays")
    r = click(client, value, action_id=action_id)
    assert r.status_code == 200 and says in r.json()["text"]
    assert len(active_locks(alice)) == 1


def test_the_open_button_is_only_acknowledged(client, alice):
    r = click(client, "", action_id="shiplane_open")
    assert r.status_code == 200 and r.content == b""


@pytest.mark.parametrize("payload", ["", "not json", "[]", '{"actions": "x"}', '{"actions": [1]}'])
def test_signed_garbage_is_400(client, payload):
    r = post(client, "/hooks/slack/actions", {"payload": payload})
    assert r.status_code == 400 and r.json()["error"] == "invalid_payload"


def test_a_signed_command_without_a_user_is_400(client, alice):
    r = post(client, "/hooks/slack/commands", {"text": "lock production x"})
    assert r.status_code == 400
    assert active_locks(alice) == []


# ---------------------------------------------------------------- whatever Slack (or a holder of the secret) sends

_words = st.sampled_from(["lock", "unlock", "status", "LOCK", "help", ""])
_envs = st.sampled_from(["production", "staging", "web", "", "x" * 300])
_texts = st.one_of(
    st.text(max_size=200),
    st.builds(lambda w, e, s, r: f"{w} {e} {s} {r}", _words, _envs, st.sampled_from(["web", "api", "nope", ""]), st.text(max_size=50)),
)


@given(text=_texts, user=st.text(max_size=100))
@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), database=None)
def test_signed_commands_never_fail_the_server(client, text, user):
    r = command(client, text, user=user)
    assert r.status_code in (200, 400), r.text


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=10), children, max_size=3),
    max_leaves=10,
)
_payloads = st.one_of(
    _json,
    st.fixed_dictionaries(
        {"actions": st.lists(st.fixed_dictionaries({"action_id": _json | st.just("shiplane_unlock"), "value": _json}), max_size=2),
         "user": _json | st.fixed_dictionaries({"username": st.text(max_size=90)}),
         "response_url": _json | st.just("https://hooks.slack.com/x") | st.text(max_size=30).map(lambda t: "https://h/" + t)}
    ),
)


@given(payload=_payloads)
@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), database=None)
def test_signed_actions_never_fail_the_server(client, payload):
    r = post(client, "/hooks/slack/actions", {"payload": json.dumps(payload)})
    assert r.status_code in (200, 400), r.text


def test_nul_and_lone_surrogates_in_a_payload_are_stored_safely(client, db):
    payload = {
        "user": {"username": "eve\x00\ud800"},
        "response_url": "https://hooks.slack.com/\x00\ud800",
        "actions": [{"action_id": "odd\x00\ud800", "value": "1"}],
    }
    r = post(client, "/hooks/slack/actions", {"payload": json.dumps(payload)})
    assert r.status_code == 200 and "does not know the action" in r.json()["text"]
    (reply,) = _reply_jobs(db)
    assert "\x00" not in reply["url"] and "\x00" not in reply["body"]["text"]
