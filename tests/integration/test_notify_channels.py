"""Teams and Discord through the outbox and the job table, to a real HTTP server on 127.0.0.1.

Teams cards are validated against the official Adaptive Cards 1.4 JSON schema
(tests/fixtures/adaptive_cards/adaptive-card-1.4.json, from github.com/microsoft/AdaptiveCards
``schemas/1.4.0/adaptive-card.json``, MIT; served as https://adaptivecards.io/schemas/1.4.0/adaptive-card.json).
Discord's limits: https://discord.com/developers/docs/resources/message#embed-object-embed-limits.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import jsonschema
import pytest

from shiplane import clock
from shiplane.notify import discord, teams
from shiplane.notify.messages import CATEGORIES, build
from tests.conftest import sha
from tests.integration.test_notify import PUBLIC, Harness, Sink, _later, config_for

SCHEMA = json.loads((Path(__file__).parents[1] / "fixtures" / "adaptive_cards" / "adaptive-card-1.4.json").read_text())
CARDS = jsonschema.Draft6Validator(SCHEMA)
TEAMS = {"kind": "teams", "url": "/teams"}
DISCORD = {"kind": "discord", "url": "/discord"}


@pytest.fixture
def sink() -> Iterator[Sink]:
    s = Sink()
    s.thread.start()
    yield s
    s.server.shutdown()
    s.server.server_close()


@pytest.fixture
def harness_for(db, db_url):
    made = []

    def make(config) -> Harness:
        h = Harness(db, db_url, config)
        h.client.__enter__()
        made.append(h)
        return h

    yield make
    for h in made:
        h.client.__exit__(None, None, None)


def card_of(message: dict) -> dict:
    assert message["type"] == "message"
    (attachment,) = message["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    return attachment["content"]


def texts(card: dict) -> list[str]:
    out = []
    for block in card["body"]:
        if block["type"] == "RichTextBlock":
            out += [run["text"] for run in block["inlines"]]
    return out


def facts(card: dict) -> dict[str, str]:
    (fact_set,) = [b for b in card["body"] if b["type"] == "FactSet"]
    return {f["title"]: f["value"] for f in fact_set["facts"]}


# ---------------------------------------------------------------- Teams


def test_it_posts_a_lock_to_teams_as_a_valid_adaptive_card_with_the_slack_facts(sink, harness_for):
    h = harness_for(config_for(sink, TEAMS))
    h.api("POST", "/api/v1/locks", json={"environment": "production", "service": "web", "reason": "DB migration [see](http://evil.example)"})
    h.deliver()
    (message,) = sink.json("/teams")
    assert sink.at("/teams")[0].headers["Content-Type"].startswith("application/json")
    card = card_of(message)
    CARDS.validate(card)
    assert card["version"] == "1.4"
    assert texts(card)[0] == "web in production locked by token:bob"
    # The reason is a TextRun, which renders no markdown: the link stays text.
    assert "DB migration [see](http://evil.example)" in texts(card)
    assert facts(card) | {"At": "?"} == {
        "Event": "lock_created", "Environment": "production", "Service": "web", "By": "token:bob", "At": "?",
    }
    (action,) = card["actions"]
    assert action == {"type": "Action.OpenUrl", "title": "Open dashboard", "url": f"{PUBLIC}/locks"}


def test_the_schema_check_is_real():
    card = teams.card(build(_event("lock_created"), PUBLIC))
    CARDS.validate(card)
    for broken in (
        card | {"actions": [{"type": "Action.OpenUrl", "title": "Open dashboard"}]},  # no url
        card | {"body": [{"type": "TextBlock"}]},  # no text
        card | {"body": [{"type": "FactSet", "facts": [{"title": "Event"}]}]},  # a fact without value
        card | {"colour": "red"},  # not a property of a card
    ):
        with pytest.raises(jsonschema.ValidationError):
            CARDS.validate(broken)


def _event(kind: str, **data) -> dict:
    return {
        "id": 7, "kind": kind, "at": "2026-12-02T14:00:00Z", "actor": "alice", "environment": "production",
        "service": "web", "deploy_id": 12, "lock_id": 3,
        "data": {"reason": "x" * 3000, "from": "healthy", "to": "unhealthy", "key": "INC-1", "title": "t", "status": "failed",
                 "sha": sha(1), "blockers": [{"kind": "lock", "reason": "r"}], "forge": "github", "repo": "acme/web",
                 "branch": "main", "pulls": [1, 2], "number": 4, "label": "hotfix"} | data,
    }


@pytest.mark.parametrize("kind", sorted(CATEGORIES))
def test_every_message_makes_a_valid_card_and_a_discord_message_within_limits(kind):
    message = build(_event(kind), PUBLIC)
    assert message is not None  # this data makes every kind worth a message
    CARDS.validate(teams.card(message))
    assert len(json.dumps(teams.payload(message)).encode()) < 28 * 1024  # Teams' message size limit
    body = discord.payload(message)
    assert_within_discord_limits(body)


def assert_within_discord_limits(body: dict) -> None:
    assert len(body["content"]) <= 2000 and 1 <= len(body["embeds"]) <= 10
    assert body["allowed_mentions"] == {"parse": []}
    for embed in body["embeds"]:
        assert len(embed["title"]) <= 256 and len(embed.get("description", "")) <= 4096
        assert len(embed["fields"]) <= 25
        assert all(len(f["name"]) <= 256 and len(f["value"]) <= 1024 for f in embed["fields"])
        assert len(embed.get("footer", {}).get("text", "")) <= 2048
        total = len(embed["title"]) + len(embed.get("description", "")) + len(embed.get("footer", {}).get("text", ""))
        total += sum(len(f["name"]) + len(f["value"]) for f in embed["fields"])
        assert total <= 6000


def test_a_4xx_from_teams_is_permanent_and_says_what_to_check(sink, harness_for, monkeypatch):
    sink.script["/teams"] = [(400, {}, b'{"error":{"code":"WorkflowTriggerIsNotEnabled"}}')]
    h = harness_for(config_for(sink, TEAMS))
    h.api("POST", "/api/v1/locks", json={"environment": "production", "reason": "flow off"})
    h.deliver()
    _later(monkeypatch, timedelta(hours=2))
    h.deliver()
    (job,) = h.jobs()
    assert job.state == "dead" and len(sink.at("/teams")) == 1
    assert "teams webhook: HTTP 400" in job.last_error and "WorkflowTriggerIsNotEnabled" in job.last_error
    assert "Workflows webhook URL" in job.last_error


def test_teams_5xx_is_retried_with_the_same_card(sink, harness_for, monkeypatch):
    sink.script["/teams"] = [(502, {}, b"bad gateway")]
    h = harness_for(config_for(sink, TEAMS))
    h.api("POST", "/api/v1/locks", json={"environment": "production", "reason": "again"})
    h.deliver()
    (job,) = h.jobs()
    assert job.state == "pending" and "HTTP 502" in job.last_error
    _later(monkeypatch, timedelta(minutes=10))
    h.deliver()
    (job,) = h.jobs()
    assert job.state == "done" and len({r.body for r in sink.at("/teams")}) == 1 and len(sink.at("/teams")) == 2


# ---------------------------------------------------------------- Discord


def test_it_posts_to_discord_with_an_embed_and_no_mentions(sink, harness_for):
    h = harness_for(config_for(sink, DISCORD))
    h.api("POST", "/api/v1/locks", json={"environment": "production", "reason": "@everyone **freeze** <@123>"})
    h.deliver()
    (message,) = sink.json("/discord")
    assert message["content"] == "production locked by token:bob"
    (embed,) = message["embeds"]
    assert embed["title"] == "production locked by token:bob" and embed["url"] == f"{PUBLIC}/locks"
    assert embed["description"] == r"@everyone \*\*freeze\*\* <@123\>"  # markdown made literal
    assert message["allowed_mentions"] == {"parse": []}  # and nobody is pinged
    assert {f["name"]: f["value"] for f in embed["fields"]} == {"Event": r"lock\_created", "Environment": "production"}
    assert embed["footer"] == {"text": "by token:bob"}
    assert_within_discord_limits(message)


def test_discord_limits_hold_for_a_huge_reason(sink, harness_for):
    h = harness_for(config_for(sink, DISCORD))
    h.api("POST", "/api/v1/locks", json={"environment": "production", "reason": "*" * 1000})  # the longest reason
    h.deliver()
    (message,) = sink.json("/discord")
    assert_within_discord_limits(message)
    assert message["embeds"][0]["description"] == "\\*" * 1000  # every one escaped, none cut
    # Longer text than the API takes (an event from elsewhere) is cut within the limits,
    # never leaving a lone escaping backslash.
    for tail in ("", "\\"):
        body = discord.payload(build(_event("lock_created", reason="*" * 4000 + tail), PUBLIC))
        assert_within_discord_limits(body)
        description = body["embeds"][0]["description"]
        assert description.endswith("…") and 4095 <= len(description) <= 4096
        backslashes = len(description[:-1]) - len(description[:-1].rstrip("\\"))
        assert backslashes % 2 == 0


def test_a_discord_429_waits_its_retry_after_then_posts_once(sink, harness_for, monkeypatch):
    rate_limited = b'{"message": "You are being rate limited.", "retry_after": 64.57, "global": false}'
    sink.script["/discord"] = [(429, {"Content-Type": "application/json"}, rate_limited)]
    h = harness_for(config_for(sink, DISCORD))
    h.api("POST", "/api/v1/locks", json={"environment": "production", "reason": "slow down"})
    h.deliver()
    (job,) = h.jobs()
    assert job.state == "pending" and "HTTP 429" in job.last_error
    assert job.run_at >= clock.now() + timedelta(seconds=60)  # retry_after from the body, not the short backoff
    _later(monkeypatch, timedelta(seconds=30))
    h.deliver()
    assert len(sink.at("/discord")) == 1
    _later(monkeypatch, timedelta(seconds=70))
    h.deliver()
    (job,) = h.jobs()
    assert job.state == "done" and len(sink.at("/discord")) == 2


def test_a_4xx_from_discord_is_permanent(sink, harness_for, monkeypatch):
    sink.script["/discord"] = [(404, {"Content-Type": "application/json"}, b'{"message": "Unknown Webhook", "code": 10015}')]
    h = harness_for(config_for(sink, DISCORD))
    h.api("POST", "/api/v1/locks", json={"environment": "production", "reason": "gone"})
    h.deliver()
    _later(monkeypatch, timedelta(hours=2))
    h.deliver()
    (job,) = h.jobs()
    assert job.state == "dead" and "Unknown Webhook" in job.last_error and "discord webhook: HTTP 404" in job.last_error


# ---------------------------------------------------------------- the outbox: filters and de-duplication


def test_channels_keep_their_filters_and_each_gets_each_event_once(sink, harness_for):
    h = harness_for(config_for(
        sink,
        TEAMS | {"events": ["incident"]},
        DISCORD | {"services": ["api"]},
        DISCORD,  # the same URL twice: one message, not two
    ))
    h.api("POST", "/api/v1/locks", json={"environment": "production", "service": "web", "reason": "web only"})
    h.api("POST", "/api/v1/incidents", json={"environment": "production", "key": "PD-9", "state": "triggered"})
    h.deliver()
    h.deliver()
    assert [card_of(m)["body"][0]["inlines"][0]["text"] for m in sink.json("/teams")] == ["Incident PD-9 in production"]
    assert [m["content"] for m in sink.json("/discord")] == ["web in production locked by token:bob", "Incident PD\\-9 in production"]
