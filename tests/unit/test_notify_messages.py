"""What an event says to people (notify/messages.py): one table row per kind of news."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shiplane.notify.messages import CATEGORIES, build, clip, escape, quote, wanted, when
from shiplane.settings import NotifyConfig

PUBLIC = "https://ship.example.com/"


def event(kind: str, data: dict | None = None, **fields) -> dict:
    """An event as the relay reads it from the events table (events.service.to_dict)."""
    return {
        "id": 41,
        "at": "2026-11-24T18:00:00Z",
        "kind": kind,
        "actor": "alice",
        "environment": "production",
        "service": "web",
        "deploy_id": None,
        "lock_id": None,
        "data": data or {},
    } | fields


LOCK = {"reason": "DB migration", "kind": "manual", "expires_at": "2026-11-24T20:00:00Z"}
WINDOW_CLOSED = [{"kind": "window", "reason": "outside the deploy window", "until": "2026-11-25T17:00:00Z"}]
STILL_LOCKED = [{"kind": "lock", "reason": "DB migration", "by": "alice"}]
SHA = "abcdef0123456789abcdef0123456789abcdef01"
FROZEN = {"forge": "github", "forge_title": "GitHub", "repo": "acme/web", "branch": "main", "mode": "branch"}

# event → action, emoji, plain headline, detail lines, dashboard path
NEWS = [
    pytest.param(
        event("lock_created", LOCK, lock_id=3),
        "locked", ":lock:", "web in production locked by alice", ("DB migration", "Until 2026-11-24 20:00 UTC"), "/locks",
        id="manual lock with expiry",
    ),
    pytest.param(
        event("lock_created", {"reason": "deploy #12 unhealthy", "kind": "auto"}, service=None, actor="system"),
        "locked", ":lock:", "production locked automatically", ("deploy #12 unhealthy",), "/locks",
        id="automatic lock of an environment",
    ),
    pytest.param(
        event("lock_created", LOCK | {"starts_at": "2026-11-24T19:00:00Z"}, lock_id=3),
        "scheduled", ":calendar:", "web in production lock scheduled by alice",
        ("DB migration", "From 2026-11-24 19:00 UTC", "Until 2026-11-24 20:00 UTC"), "/locks",
        id="scheduled lock",
    ),
    pytest.param(
        event("lock_started", LOCK | {"by": "alice", "starts_at": "2026-11-24T18:00:00Z"}, actor="system", lock_id=3),
        "locked", ":lock:", "web in production locked (scheduled by alice)", ("DB migration", "Until 2026-11-24 20:00 UTC"), "/locks",
        id="scheduled lock starts",
    ),
    pytest.param(
        event(
            "lock_updated",
            {"kind": "manual", "changes": {"reason": {"old": "a", "new": "b"}, "expires_at": {"old": None, "new": "2026-11-24T20:00:00Z"}}},
            lock_id=3,
        ),
        "edited", ":pencil2:", "web in production lock edited by alice", ("Reason: a → b", "Until: none → 2026-11-24 20:00 UTC"), "/locks",
        id="lock edited",
    ),
    pytest.param(
        event(
            "rollback_allowed",
            {"passed": ["auto", "unhealthy"], "blockers": [{"kind": "lock", "lock_kind": "auto", "reason": "web #12 unhealthy", "by": "system"}]},
            deploy_id=13,
        ),
        "rollback_allowed", ":rewind:", "web rollback to production allowed through: auto, unhealthy",
        ("Passed lock: web #12 unhealthy (system)",), "/deploys/13",
        id="rollback allowed",
    ),
    pytest.param(
        event("lock_ended", {"reason": "DB migration", "note": "all done", "expired": False}, actor="bob"),
        "unlocked", ":unlock:", "web in production unlocked by bob", ("all done", "The lock was: DB migration"), "/locks",
        id="unlocked by someone",
    ),
    pytest.param(
        event("lock_ended", {"reason": "Launch freeze", "note": "launch moved", "expired": False, "cancelled": True}, actor="bob"),
        "cancelled", ":wastebasket:", "web in production: scheduled lock cancelled by bob", ("launch moved", "The lock was: Launch freeze"), "/locks",
        id="scheduled lock cancelled",
    ),
    pytest.param(
        event("lock_ended", {"reason": "DB migration", "note": "expired", "expired": True}, actor="system"),
        "unlocked", ":unlock:", "web in production: lock expired", ("The lock was: DB migration",), "/locks",
        id="lock expired",
    ),
    pytest.param(
        event("window_closed", {"blockers": WINDOW_CLOSED}, service=None, actor="system"),
        "window_closed", ":no_entry:", "production is outside its deploy window", ("Opens again 2026-11-25 17:00 UTC",), "/",
        id="window closed",
    ),
    pytest.param(
        event("window_opened", {"blockers": []}, service=None, actor="system"),
        "window_opened", ":large_green_circle:", "production: deploy window open", (), "/",
        id="window opened",
    ),
    pytest.param(
        event("window_opened", {"blockers": STILL_LOCKED}, service=None, actor="system"),
        "window_opened", ":large_green_circle:", "production: deploy window open",
        ("Still blocked by lock: DB migration (alice)",), "/",
        id="window opened but still locked",
    ),
    pytest.param(
        event("override", {"reason": "hotfix for INC-7", "blockers": STILL_LOCKED}, actor="bob", deploy_id=12),
        "override", ":warning:", "web deployed to production through a closed gate by bob",
        ("hotfix for INC-7", "Blocked by lock: DB migration (alice)"), "/deploys/12",
        id="override",
    ),
    pytest.param(
        event("deploy_health_changed", {"from": "pending", "to": "unhealthy", "reason": "p99 latency +80%"}, deploy_id=12),
        "unhealthy", ":red_circle:", "web deploy #12 in production is unhealthy", ("p99 latency +80%",), "/deploys/12",
        id="unhealthy",
    ),
    pytest.param(
        event("deploy_health_changed", {"from": "healthy", "to": "ailing", "reason": "errors +20%"}, deploy_id=12),
        "ailing", ":large_orange_circle:", "web deploy #12 in production is ailing", ("errors +20%",), "/deploys/12",
        id="ailing",
    ),
    pytest.param(
        event("deploy_health_changed", {"from": "ailing", "to": "unhealthy", "reason": "errors +60%"}, deploy_id=12),
        "unhealthy", ":red_circle:", "web deploy #12 in production is unhealthy", ("errors +60%",), "/deploys/12",
        id="worse again",
    ),
    pytest.param(
        event("deploy_health_changed", {"from": "unhealthy", "to": "healthy"}, deploy_id=12),
        "recovered", ":large_green_circle:", "web deploy #12 in production recovered: healthy again", (), "/deploys/12",
        id="recovered",
    ),
    pytest.param(
        event("incident", {"key": "INC-7", "state": "triggered", "title": "Checkout down", "url": "https://pd/INC-7"},
              deploy_id=12),
        "incident_triggered", ":rotating_light:", "Incident INC-7 in web in production",
        ("Checkout down", "Attached to deploy #12", "https://pd/INC-7"), "/deploys/12",
        id="incident on a deploy",
    ),
    pytest.param(
        event("incident", {"key": "INC-8", "state": "triggered"}),
        "incident_triggered", ":rotating_light:", "Incident INC-8 in web in production", ("No deploy to attach it to",), "/",
        id="incident without a deploy",
    ),
    pytest.param(
        event("incident", {"key": "INC-7", "state": "resolved"}, deploy_id=12),
        "incident_resolved", ":white_check_mark:", "Incident INC-7 in web in production resolved", (), "/deploys/12",
        id="incident resolved",
    ),
    pytest.param(
        event("deploy_registered", {"sha": SHA, "status": "succeeded", "during_lock": False}, deploy_id=12),
        "deploy_succeeded", ":rocket:", "web deployed to production (abcdef0, #12) by alice", (), "/deploys/12",
        id="deploy registered",
    ),
    pytest.param(
        event("deploy_registered", {"sha": SHA, "status": "started", "during_lock": True}, deploy_id=12),
        "deploy_started", ":hourglass_flowing_sand:", "web deploy #12 to production started (abcdef0) by alice",
        ("Registered while the gate was closed",), "/deploys/12",
        id="deploy started during a lock",
    ),
    pytest.param(
        event("deploy_registered", {"sha": SHA, "status": "failed"}, deploy_id=12),
        "deploy_failed", ":x:", "web deploy #12 to production failed (abcdef0) by alice", (), "/deploys/12",
        id="deploy registered as failed",
    ),
    pytest.param(
        event("deploy_registered", {"sha": SHA}, deploy_id=12),
        "deploy_succeeded", ":rocket:", "web deployed to production (abcdef0, #12) by alice", (), "/deploys/12",
        id="deploy registered without a status: succeeded",
    ),
    pytest.param(
        event("deploy_status_changed", {"from": "started", "to": "rolled_back"}, deploy_id=12),
        "deploy_rolled_back", ":leftwards_arrow_with_hook:", "web deploy #12 to production: started → rolled_back", (),
        "/deploys/12",
        id="deploy status changed",
    ),
    pytest.param(
        event("branch_frozen", {**FROZEN, "mode": "both", "statuses": {"done": 120, "total": 2000, "pulls": 2000}}, actor="system"),
        "branch_frozen", ":snowflake:", "Merge button closed for web (production)",
        ("branch frozen on GitHub; statuses 120/2,000", "acme/web main"), "/",
        id="branch frozen, statuses on their way",
    ),
    pytest.param(
        event("branch_frozen", {**FROZEN, "statuses": {"done": 0, "total": 0, "pulls": 2000}}, actor="system"),
        "branch_frozen", ":snowflake:", "Merge button closed for web (production)",
        ("branch frozen on GitHub; statuses 0/2,000", "acme/web main"), "/",
        id="branch frozen before the pull requests were listed",
    ),
    pytest.param(
        event("branch_frozen", FROZEN, actor="system"),
        "branch_frozen", ":snowflake:", "Merge button closed for web (production)", ("branch frozen on GitHub", "acme/web main"), "/",
        id="branch frozen (branch mode)",
    ),
    pytest.param(
        event("branch_frozen", {**FROZEN, "restored": True}, actor="system"),
        "branch_refrozen", ":snowflake:", "Merge freeze of web put back (production)",
        ("branch frozen on GitHub", "The freeze had been deleted or edited by hand.", "acme/web main"), "/",
        id="a freeze deleted by hand, put back",
    ),
    pytest.param(
        event("branch_unfrozen", FROZEN, actor="system"),
        "branch_unfrozen", ":sunny:", "Merge button open again for web (production)", ("branch unfrozen on GitHub", "acme/web main"), "/",
        id="branch unfrozen",
    ),
    pytest.param(
        event("branch_freeze_failed", {**FROZEN, "desired": "frozen", "error": "HTTP 403"}, actor="system"),
        "branch_freeze_failed", ":warning:", "Could not freeze main of web on GitHub",
        ("HTTP 403", "Statuses take over: each pull request carries the lock as a commit status."), "/",
        id="freeze failed",
    ),
    pytest.param(
        event("branch_freeze_failed", {**FROZEN, "desired": "open", "error": "HTTP 401"}, actor="system"),
        "branch_freeze_failed", ":warning:", "Could not unfreeze main of web on GitHub",
        ("HTTP 401", "The branch stays frozen until this is fixed."), "/",
        id="unfreeze failed",
    ),
    pytest.param(
        event("merge_group_dequeued", {"repo": "acme/web", "pulls": [104], "lock": "Production locked: DB migration (alice)"}, actor="system"),
        "merge_group_dequeued", ":warning:", "#104 left the merge queue of acme/web during the production lock",
        ("Production locked: DB migration (alice)", "GitHub removed it from the queue; add it to the queue again once the lock ends."), "/",
        id="merge group dropped during a lock",
    ),
    pytest.param(
        event("merge_exempted", {"number": 7, "label": "hotfix", "title": "Fix checkout", "url": "https://github.com/acme/web/pull/7"},
              actor="system"),
        "merge_exempted", ":ticket:", "#7 is exempt from the production lock (label hotfix)",
        ("Fix checkout", "https://github.com/acme/web/pull/7"), "/",
        id="pull request exempt from a lock",
    ),
]


@pytest.mark.parametrize("ev,action,emoji,headline,details,path", NEWS)
def test_it_tells_each_kind_of_news(ev, action, emoji, headline, details, path):
    message = build(ev, PUBLIC)
    assert (message.action, message.emoji, message.headline, message.details) == (action, emoji, headline, details)
    assert message.url == "https://ship.example.com" + path
    assert message.text == "\n".join((headline, *details))
    assert message.category == CATEGORIES[ev["kind"]]
    assert (message.event_id, message.event, message.at) == (41, ev["kind"], ev["at"])
    assert (message.environment, message.service, message.actor) == (ev["environment"], ev["service"], ev["actor"])
    assert (message.deploy_id, message.lock_id, message.data) == (ev["deploy_id"], ev["lock_id"], ev["data"])


def test_it_covers_every_kind_it_has_a_category_for():
    assert {p.values[0]["kind"] for p in NEWS} == set(CATEGORIES)


def test_it_offers_an_unlock_button_on_new_locks_only():
    assert build(event("lock_created", LOCK)).unlock_button is True
    assert build(event("lock_ended", {"reason": "x", "note": "done"})).unlock_button is False
    assert build(event("override", {"reason": "x"}, deploy_id=1)).unlock_button is False


@pytest.mark.parametrize("kind", ["gate_changed", "config_loaded", "manual_change", "forge_error"])
def test_it_has_nothing_to_say_about_bookkeeping_events(kind):
    assert build(event(kind, {"allowed": False})) is None


@pytest.mark.parametrize(
    "before,after",
    [
        ("pending", "healthy"),  # the normal outcome: not news
        ("pending", "no_data"),
        ("healthy", "incident"),  # the incident message tells it
        ("incident", "unhealthy"),  # the incident's resolution tells it
        ("no_data", "healthy"),
    ],
)
def test_it_stays_quiet_on_health_changes_that_are_not_news(before, after):
    assert build(event("deploy_health_changed", {"from": before, "to": after}, deploy_id=12)) is None


def test_it_links_nowhere_without_a_public_url():
    assert build(event("lock_created", LOCK), public_url="").url is None


def test_it_escapes_user_text_for_slack_and_bolds_the_slugs():
    ev = event("lock_created", LOCK, actor="<!channel> & <@U123>", environment="prod<1>", service="a&b")
    message = build(ev, PUBLIC)
    assert message.headline == "a&b in prod<1> locked by <!channel> & <@U123>"
    assert message.headline_mrkdwn == "*a&amp;b in prod&lt;1&gt;* locked by &lt;!channel&gt; &amp; &lt;@U123&gt;"


def test_it_escapes_the_values_not_the_template():
    message = build(event("deploy_status_changed", {"from": "started", "to": "failed"}, deploy_id=12, service="<web>"))
    assert message.headline_mrkdwn == "*&lt;web&gt;* deploy #12 to *production*: started → failed"


def test_it_renders_a_missing_value_as_nothing_rather_than_none():
    message = build(event("lock_created", LOCK, actor=None))
    assert "None" not in message.headline
    assert "None" not in message.headline_mrkdwn


@pytest.mark.parametrize(
    "text,escaped",
    [
        ("plain", "plain"),
        ("a & b", "a &amp; b"),
        ("<!here>", "&lt;!here&gt;"),
        ("&lt;", "&amp;lt;"),  # already-escaped text is text too: it must show as typed
        ("*bold* _it_ `code`", "*bold* _it_ `code`"),  # formatting is the writer's to use
    ],
)
def test_it_escapes_slacks_three_control_characters(text, escaped):
    assert escape(text) == escaped


@pytest.mark.parametrize(
    "text,limit,clipped",
    [
        ("short", 10, "short"),
        ("exactly10!", 10, "exactly10!"),
        ("abcdefghijk", 10, "abcdefghi…"),
        ("ab &amp; cd", 6, "ab …"),  # never half an entity
        ("&lt;&lt;&lt;", 6, "&lt;…"),
        ("ab &amp; cd", 9, "ab &amp;…"),  # a whole entity stays
    ],
)
def test_it_clips_without_breaking_an_entity(text, limit, clipped):
    assert clip(text, limit) == clipped


ENTITY = re.compile(r"&(?!amp;|lt;|gt;)")


@given(st.text(alphabet="ab<>& \n", max_size=60), st.integers(min_value=1, max_value=70))
def test_it_never_exceeds_the_limit_nor_leaves_a_broken_entity(text, limit):
    clipped = clip(escape(text), limit)
    assert len(clipped) <= limit
    assert not ENTITY.search(clipped)


def test_it_quotes_every_line_of_user_text():
    assert quote("first <line>\nsecond & last") == "&gt;first &lt;line&gt;\n&gt;second &amp; last"


def test_it_clips_a_quote_before_quoting_it():
    quoted = quote("x" * 50 + "\n" + "y" * 50, limit=20)
    assert quoted == "&gt;" + "x" * 19 + "…"


@pytest.mark.parametrize(
    "value,shown",
    [
        ("2026-11-24T18:05:09Z", "2026-11-24 18:05 UTC"),
        ("2026-11-24T18:05:09.123456+00:00", "2026-11-24 18:05 UTC"),
        ("2026-11-24T18:05:09", "2026-11-24 18:05 UTC"),  # naive: UTC, as everywhere
        ("next Tuesday", "next Tuesday"),  # not a timestamp: shown as given
        ("", None),
        (None, None),
    ],
)
def test_it_shows_times_in_utc_to_the_minute(value, shown):
    assert when(value) == shown


def target(**kw) -> NotifyConfig:
    return NotifyConfig(kind="slack", url="https://hooks.slack.com/services/T/B/x", **kw)


@pytest.mark.parametrize(
    "config,ev,wanted_",
    [
        (target(), event("lock_created", LOCK), True),
        (target(), event("deploy_registered", {"sha": SHA}, deploy_id=1), False),  # deploys are opt-in
        (target(events=["deploy"]), event("deploy_registered", {"sha": SHA}, deploy_id=1), True),
        (target(events=["health"]), event("lock_created", LOCK), False),
        (target(environments=["staging"]), event("lock_created", LOCK), False),
        (target(environments=["production"]), event("lock_created", LOCK), True),
        (target(services=["api"]), event("lock_created", LOCK), False),
        (target(services=["web"]), event("lock_created", LOCK), True),
        # An environment-wide event concerns every service, so a services filter lets it through.
        (target(services=["api"]), event("lock_created", LOCK, service=None), True),
        (target(environments=["staging"], services=["api"]), event("lock_created", LOCK, service=None), False),
    ],
)
def test_it_sends_a_target_only_what_it_asked_for(config, ev, wanted_):
    assert wanted(config, build(ev)) is wanted_
