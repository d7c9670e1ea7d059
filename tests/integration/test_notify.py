"""Notifications end to end: events → relay → durable jobs → a real HTTP server on 127.0.0.1.

The sink records what Shiplane's one outbound seam (shiplane.http) actually delivers to Slack and
generic webhooks, and can be told to fail first.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace
from urllib.parse import urlencode

import anyio
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from shiplane import clock
from shiplane.app import create_app
from shiplane.events import service as events
from shiplane.health import service as health_service
from shiplane.jobs.worker import Worker
from shiplane.notify import commands
from shiplane.notify import relay as relay_mod
from shiplane.notify.relay import GAP_GRACE, Notifier
from shiplane.settings import Config
from shiplane.tables.jobs import jobs
from shiplane.tables.notify import notify_cursor
from tests.conftest import BOB, make_settings, sha

SIGNING = "slack-signing-secret"
HOOK_SECRET = "hook-secret"
PUBLIC = "https://shiplane.example.com"


class Sink:
    """A real HTTP server in a thread: records every POST, answers from a script (default 200 ok)."""

    def __init__(self) -> None:
        self.requests: list[SimpleNamespace] = []
        self.script: dict[str, list[tuple[int, dict[str, str], bytes]]] = {}
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                sink.requests.append(SimpleNamespace(path=self.path, headers=dict(self.headers), body=body))
                queued = sink.script.get(self.path) or []
                status, headers, reply = queued.pop(0) if queued else (200, {}, b"ok")
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def at(self, path: str) -> list[SimpleNamespace]:
        return [r for r in self.requests if r.path == path]

    def json(self, path: str) -> list[dict]:
        return [json.loads(r.body) for r in self.at(path)]


@pytest.fixture
def sink() -> Iterator[Sink]:
    s = Sink()
    s.thread.start()
    yield s
    s.server.shutdown()
    s.server.server_close()


def config_for(sink: Sink, *targets: dict, **extra) -> Config:
    return Config.model_validate(
        {
            "server": {"public_url": PUBLIC},
            "environments": [{"slug": "production"}, {"slug": "staging"}],
            "services": [{"slug": "web"}, {"slug": "api"}],
            # Replies go only where response_url_prefixes allow: here the local sink.
            "slack": {"signing_secret": SIGNING, "response_url_prefixes": [sink.url + "/"]},
            "notify": [t | {"url": sink.url + t["url"]} for t in targets],
        }
        | extra
    )


SLACK = {"kind": "slack", "url": "/slack"}
HOOK = {"kind": "webhook", "url": "/hook", "secret": HOOK_SECRET}


class Harness:
    def __init__(self, db, db_url, config: Config) -> None:
        self.db = db
        self.settings = make_settings(db_url, config)
        self.client = TestClient(create_app(self.settings, db=db, worker=False))

    def api(self, method: str, url: str, **kw):
        return self.client.request(method, url, headers={"Authorization": f"Bearer {BOB}"}, **kw)

    def deliver(self, rounds: int = 8) -> None:
        """What the worker does: relay, then deliver what is due, until nothing is left to do now."""

        async def run() -> None:
            notifier = Notifier(self.settings, self.db)
            worker = Worker(self.settings, self.db, handlers=notifier.handlers(), periodic=(notifier.tick,))
            for _ in range(rounds):
                if await worker.tick() > 0:
                    break
            await notifier.close()

        anyio.run(run)

    def jobs(self, kind: str = "notify") -> list:
        with self.db.read() as conn:
            return conn.execute(select(jobs).where(jobs.c.kind == kind).order_by(jobs.c.id)).all()


@pytest.fixture
def harness_for(db, db_url):
    made = []

    def make(config: Config) -> Harness:
        h = Harness(db, db_url, config)
        h.client.__enter__()
        made.append(h)
        return h

    yield make
    for h in made:
        h.client.__exit__(None, None, None)


def section(message: dict) -> str:
    return message["blocks"][0]["text"]["text"]


def buttons(message: dict) -> dict[str, dict]:
    actions = [b for b in message["blocks"] if b["type"] == "actions"]
    return {e["action_id"]: e for e in actions[0]["elements"]} if actions else {}


# ---------------------------------------------------------------- Slack


def test_it_posts_lock_and_unlock_to_slack_with_reason_by_and_a_dashboard_link(sink, harness_for):
    h = harness_for(config_for(sink, SLACK))
    lock = h.api("POST", "/api/v1/locks", json={"environment": "production", "reason": "DB <migration> & co"}).json()
    h.api("DELETE", f"/api/v1/locks/{lock['id']}", params={"note": "done"})
    h.deliver()

    locked, unlocked = sink.json("/slack")
    assert sink.at("/slack")[0].headers["Content-Type"].startswith("application/json")
    assert section(locked).startswith(":lock: *production* locked by token:bob")
    assert "&gt;DB &lt;migration&gt; &amp; co" in section(locked)
    assert "<migration>" not in json.dumps(locked)
    unlock, open_ = buttons(locked)["shiplane_unlock"], buttons(locked)["shiplane_open"]
    assert unlock["value"] == str(lock["id"]) and unlock["confirm"]
    assert open_["url"] == f"{PUBLIC}/locks"
    assert locked["text"].startswith("production locked by token:bob")

    assert section(unlocked).startswith(":unlock: *production* unlocked by token:bob")
    assert "&gt;done" in section(unlocked)
    assert "shiplane_unlock" not in buttons(unlocked) and buttons(unlocked)["shiplane_open"]["url"] == f"{PUBLIC}/locks"


def test_messages_stay_within_block_kit_limits(sink, harness_for):
    h = harness_for(config_for(sink, SLACK))
    h.api("POST", "/api/v1/locks", json={"environment": "production", "reason": "&" * 1000})
    h.deliver()
    (message,) = sink.json("/slack")
    assert len(section(message)) <= 3000 and len(message["text"]) <= 3000
    assert section(message).endswith("…") and "&amp;" in section(message)
    assert not section(message).rstrip("…").endswith(("&", "&a", "&am", "&amp"))


def test_the_unlock_button_of_a_delivered_message_unlocks(sink, harness_for):
    h = harness_for(config_for(sink, SLACK))
    h.api("POST", "/api/v1/locks", json={"environment": "production", "service": "web", "reason": "flaky"})
    h.deliver()
    (locked,) = sink.json("/slack")
    value = buttons(locked)["shiplane_unlock"]["value"]

    payload = {
        "type": "block_actions",
        "user": {"id": "U1", "username": "carol", "name": "carol"},
        "response_url": sink.url + "/response",
        "actions": [{"action_id": "shiplane_unlock", "value": value, "type": "button"}],
    }
    body = urlencode({"payload": json.dumps(payload)})
    ts = str(int(time.time()))
    signature = "v0=" + hmac.new(SIGNING.encode(), f"v0:{ts}:{body}".encode(), hashlib.sha256).hexdigest()
    r = h.client.post(
        "/hooks/slack/actions",
        content=body,
        headers={"Content-Type": "application/x-www-form-urlencoded", "X-Slack-Request-Timestamp": ts,
                 "X-Slack-Signature": signature},
    )
    assert r.status_code == 200
    assert h.api("GET", "/api/v1/locks?active=true").json()["items"] == []
    h.deliver()

    (reply,) = sink.json("/response")  # the clicker's answer, through response_url
    assert "unlocked by slack:carol" in reply["text"] and reply["replace_original"] is False
    _, unlocked = sink.json("/slack")  # and the channel hears of it like any unlock
    assert section(unlocked).startswith(":unlock: *web in production* unlocked by slack:carol")


def test_a_response_url_outside_slack_gets_no_reply(db, db_url, sink):
    """A signed payload may name any response_url; the reply goes only under response_url_prefixes."""
    config = config_for(sink, SLACK).model_copy(
        update={"slack": Config.model_validate({"slack": {"signing_secret": SIGNING}}).slack}
    )  # the default: https://hooks.slack.com/ only
    h = Harness(db, db_url, config)
    with db.write() as conn:
        commands.respond_later(conn, sink.url + "/response", {"text": "hi"}, clock.now())
    h.deliver()
    assert sink.at("/response") == []
    (job,) = h.jobs("slack_response")
    assert job.state == "dead" and "is not under https://hooks.slack.com/" in job.last_error


# ---------------------------------------------------------------- generic webhooks


def test_generic_webhooks_are_signed_over_the_exact_body(sink, harness_for):
    h = harness_for(config_for(sink, HOOK))
    lock = h.api("POST", "/api/v1/locks", json={"environment": "staging", "reason": "load test"}).json()
    h.deliver()

    (request,) = sink.at("/hook")
    expected = "sha256=" + hmac.new(HOOK_SECRET.encode(), request.body, hashlib.sha256).hexdigest()
    assert request.headers["X-Shiplane-Signature"] == expected
    assert request.headers["X-Shiplane-Event"] == "lock_created"
    event = json.loads(request.body)
    assert request.headers["X-Shiplane-Delivery"].startswith(f"{event['id']}.")
    assert (event["event"], event["category"], event["action"]) == ("lock_created", "lock", "locked")
    assert (event["environment"], event["actor"], event["lock_id"]) == ("staging", "token:bob", lock["id"])
    assert event["data"]["reason"] == "load test"
    assert event["url"] == f"{PUBLIC}/locks"
    assert event["text"] == "staging locked by token:bob\nload test"


def test_a_webhook_without_a_secret_is_sent_unsigned(sink, harness_for):
    h = harness_for(config_for(sink, {"kind": "webhook", "url": "/plain"}))
    h.api("POST", "/api/v1/locks", json={"environment": "staging", "reason": "x"})
    h.deliver()
    (request,) = sink.at("/plain")
    assert "X-Shiplane-Signature" not in request.headers


# ---------------------------------------------------------------- which events, to whom


def test_targets_filter_by_environment_service_and_event_kind(sink, harness_for):
    h = harness_for(
        config_for(
            sink,
            {"kind": "webhook", "url": "/prod-locks", "environments": ["production"], "events": ["lock"]},
            {"kind": "webhook", "url": "/api-team", "services": ["api"], "events": ["lock", "override"]},
            {"kind": "webhook", "url": "/deploys", "events": ["deploy"]},
        )
    )
    h.api("POST", "/api/v1/locks", json={"environment": "production", "reason": "env wide"})
    h.api("POST", "/api/v1/locks", json={"environment": "staging", "service": "web", "reason": "web only"})
    h.api("POST", "/api/v1/locks", json={"environment": "staging", "service": "api", "reason": "api only"})
    h.api("POST", "/api/v1/deploys", json={"service": "api", "environment": "production", "sha": sha(1),
                                           "status": "started", "override_reason": "hotfix"})
    h.deliver()

    def said(path):
        return [(m["event"], m["environment"], m["service"]) for m in sink.json(path)]

    assert said("/prod-locks") == [("lock_created", "production", None)]
    # An environment-wide lock concerns every service, so a services filter lets it through.
    assert said("/api-team") == [
        ("lock_created", "production", None), ("lock_created", "staging", "api"), ("override", "production", "api")
    ]
    assert said("/deploys") == [("deploy_registered", "production", "api")]


def test_health_messages_are_one_per_state_change(sink, harness_for, db):
    h = harness_for(config_for(sink, HOOK, health={"auto_lock": "never"}))
    deploy = h.api("POST", "/api/v1/deploys", json={"service": "web", "environment": "production", "sha": sha(2)}).json()
    now = clock.now()
    with db.write() as conn:
        for state in ("healthy", "healthy", "ailing", "ailing", "unhealthy", "unhealthy", "healthy", "healthy", "no_data"):
            # the judge re-judging every interval: the same state again records nothing
            health_service.set_health(conn, deploy["id"], state, reason=f"judged {state}", actor="judge", now=now, final=False)
    h.deliver()
    actions = [m["action"] for m in sink.json("/hook") if m["category"] == "health"]
    assert actions == ["ailing", "unhealthy", "recovered"]
    (unhealthy,) = [m for m in sink.json("/hook") if m["action"] == "unhealthy"]
    assert unhealthy["url"] == f"{PUBLIC}/deploys/{deploy['id']}" and "judged unhealthy" in unhealthy["text"]


def test_windows_overrides_and_incidents_are_told(sink, harness_for, db):
    h = harness_for(config_for(sink, SLACK, HOOK))
    now = clock.now()
    opens = (now + timedelta(hours=3)).isoformat()
    with db.write() as conn:
        # What the gate watcher records when a window closes and opens (its own tests cover when).
        events.record(conn, "window_closed", now, actor="system", environment="production",
                      data={"blockers": [{"kind": "window", "reason": "outside the deploy window", "until": opens}]})
        events.record(conn, "window_opened", now, actor="system", environment="production", data={"blockers": []})
    h.api("POST", "/api/v1/locks", json={"environment": "production", "reason": "closed"})
    deploy = h.api("POST", "/api/v1/deploys", json={"service": "web", "environment": "production", "sha": sha(3),
                                                    "override_reason": "hotfix for <checkout>"}).json()
    h.api("POST", "/api/v1/incidents", json={"environment": "production", "key": "PD-7", "state": "triggered",
                                             "title": "Checkout down"})
    h.deliver()

    hooks = {m["action"]: m for m in sink.json("/hook")}
    assert set(hooks) >= {"window_closed", "window_opened", "locked", "override", "incident_triggered"}
    assert "Opens again" in hooks["window_closed"]["text"]
    assert hooks["override"]["url"] == f"{PUBLIC}/deploys/{deploy['id']}"
    assert "hotfix for <checkout>" in hooks["override"]["text"] and "lock: closed" in hooks["override"]["text"]
    assert hooks["incident_triggered"]["deploy_id"] == deploy["id"]
    assert "Attached to deploy" in hooks["incident_triggered"]["text"]
    slack_texts = [section(m) for m in sink.json("/slack")]
    assert any(t.startswith(":warning: *web* deployed to *production* through a closed gate") for t in slack_texts)
    assert any("hotfix for &lt;checkout&gt;" in t for t in slack_texts)
    assert any(t.startswith(":rotating_light: Incident PD-7") for t in slack_texts)


# ---------------------------------------------------------------- delivery: at least once, never twice


def _later(monkeypatch, delta: timedelta) -> None:
    real = clock.now
    monkeypatch.setattr(clock, "now", lambda: real() + delta)


def test_it_retries_5xx_and_429_with_backoff_and_posts_once_when_through(sink, harness_for, monkeypatch):
    sink.script["/slack"] = [(500, {}, b"internal_error"), (429, {"Retry-After": "120"}, b"rate_limited")]
    h = harness_for(config_for(sink, SLACK))
    h.api("POST", "/api/v1/locks", json={"environment": "production", "reason": "retry me"})

    h.deliver()
    assert len(sink.at("/slack")) == 1
    (job,) = h.jobs()
    assert (job.state, job.attempts) == ("pending", 1) and "HTTP 500" in job.last_error
    h.deliver()  # not due yet: backoff
    assert len(sink.at("/slack")) == 1

    _later(monkeypatch, timedelta(seconds=10))
    h.deliver()
    (job,) = h.jobs()
    assert len(sink.at("/slack")) == 2 and job.state == "pending" and "HTTP 429" in job.last_error
    assert job.run_at >= clock.now() + timedelta(seconds=100)  # Retry-After honoured

    _later(monkeypatch, timedelta(seconds=200))
    h.deliver()
    h.deliver()
    (job,) = h.jobs()
    assert job.state == "done" and len(sink.at("/slack")) == 3
    bodies = {r.body for r in sink.at("/slack")}
    assert len(bodies) == 1  # every attempt carried the same message


def test_a_4xx_from_slack_is_not_retried(sink, harness_for, monkeypatch):
    sink.script["/slack"] = [(404, {}, b"no_service")]
    h = harness_for(config_for(sink, SLACK))
    h.api("POST", "/api/v1/locks", json={"environment": "production", "reason": "gone"})
    h.deliver()
    _later(monkeypatch, timedelta(hours=2))
    h.deliver()
    (job,) = h.jobs()
    assert job.state == "dead" and "no_service" in job.last_error
    assert len(sink.at("/slack")) == 1


def test_an_unreachable_target_is_retried(harness_for, sink):
    h = harness_for(config_for(sink, SLACK))
    h.settings = make_settings(h.settings.database_url, config_for(SimpleNamespace(url="http://127.0.0.1:9"), SLACK))
    h.api("POST", "/api/v1/locks", json={"environment": "production", "reason": "nobody home"})
    h.deliver()
    (job,) = h.jobs()
    assert job.state == "pending" and job.last_error


def test_relaying_again_never_queues_an_event_twice(sink, harness_for):
    h = harness_for(config_for(sink, SLACK, SLACK | {"environments": ["production"]}))
    h.api("POST", "/api/v1/locks", json={"environment": "production", "reason": "once"})
    h.deliver()
    h.deliver()
    anyio.run(Notifier(h.settings, h.db).tick)  # a second worker process, say
    h.deliver()
    # Two entries posting to the same URL are one destination: one message.
    assert len(sink.at("/slack")) == 1 and len(h.jobs()) == 1


def test_concurrent_relays_queue_each_event_once(harness_for, sink, db):
    h = harness_for(config_for(sink, HOOK))
    now = clock.now()
    with db.write() as conn:
        for i in range(200):
            events.record(conn, "lock_created", now, actor="x", environment="production", lock_id=i,
                          data={"reason": f"r{i}", "kind": "manual"})
    targets = relay_mod.targets_of(h.settings)
    results: list[object] = []

    def run() -> None:
        try:
            with db.write() as conn:
                results.append(relay_mod.relay(conn, targets, PUBLIC, now, limit=50))
        except relay_mod.Lost as exc:
            results.append(exc)

    for _ in range(6):
        threads = [threading.Thread(target=run) for _ in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    event_ids = [job.payload["event_id"] for job in h.jobs()]
    assert len(event_ids) == 200 and len(set(event_ids)) == 200


def test_a_new_target_does_not_get_the_history(sink, harness_for, db):
    quiet = harness_for(config_for(sink))
    quiet.api("POST", "/api/v1/locks", json={"environment": "production", "reason": "before notifications"})
    quiet.deliver()  # no targets: the cursor keeps up anyway
    with db.read() as conn:
        assert conn.execute(select(notify_cursor.c.last_event_id)).scalar() > 0

    h = harness_for(config_for(sink, HOOK))
    h.api("POST", "/api/v1/locks", json={"environment": "staging", "reason": "after"})
    h.deliver()
    assert [m["environment"] for m in sink.json("/hook")] == ["staging"]


# ---------------------------------------------------------------- the relay's gap rule (pure)


def _rows(*ids):
    return [SimpleNamespace(id=i) for i in ids]


T0 = datetime(2026, 11, 26, 12, 0, tzinfo=clock.now().tzinfo)


@pytest.mark.parametrize(
    "ids,gap_since,now,taken,new_gap",
    [
        ((11, 12, 13), None, T0, (11, 12, 13), None),
        ((11, 13), None, T0, (11,), T0),  # 12 may be a transaction still open: wait
        ((12, 13), T0, T0 + GAP_GRACE / 2, (), T0),  # still waiting
        ((12, 13), T0, T0 + GAP_GRACE, (12, 13), None),  # long enough: 11 was rolled back
        ((11, 12), T0, T0, (11, 12), None),  # the hole filled in
        ((), None, T0, (), None),
    ],
)
def test_a_hole_in_the_event_ids_is_waited_for_then_skipped(ids, gap_since, now, taken, new_gap):
    got, gap = relay_mod._contiguous(_rows(*ids), 10, gap_since, now)
    assert tuple(r.id for r in got) == taken and gap == new_gap
