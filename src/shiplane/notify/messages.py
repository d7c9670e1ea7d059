"""What an event says to people (pure): event → ``Message``, and which targets want it.

Only state changes are recorded as events (a deploy re-judged every interval
records nothing until its state changes), so one event is one message.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from shiplane.clock import parse_iso
from shiplane.settings import NotifyConfig
from shiplane.text import visible_bidi

# Event kind → the `[[notify]] events` word that selects it.
CATEGORIES = {
    "lock_created": "lock",
    "lock_ended": "lock",
    "lock_started": "lock",
    "lock_updated": "lock",
    "window_opened": "window",
    "window_closed": "window",
    "override": "override",
    "rollback_allowed": "override",
    "deploy_health_changed": "health",
    "incident": "incident",
    "deploy_registered": "deploy",
    "deploy_status_changed": "deploy",
    # How a lock reached the merge button (recorded by merge blocking with what the message needs).
    "branch_frozen": "lock",
    "branch_unfrozen": "lock",
    "branch_freeze_failed": "lock",
    "merge_group_dequeued": "lock",
    "merge_exempted": "override",
}

ALERTING_HEALTH = ("ailing", "unhealthy")  # a verdict worth a message when health gets worse
REASON_CHARS = 1500  # of the escaped text: leaves room for the headline within Slack's 3000


@dataclass(frozen=True)
class Message:
    event_id: int
    event: str  # the event kind, e.g. lock_created
    category: str  # lock | window | override | health | incident | deploy
    action: str  # e.g. locked, unlocked, unhealthy, recovered
    at: str
    environment: str | None
    service: str | None
    actor: str | None
    emoji: str
    headline: str  # plain text
    headline_mrkdwn: str  # escaped for Slack, slugs in bold
    details: tuple[str, ...] = ()  # plain text lines (reason, note, ...)
    url: str | None = None  # the dashboard page about it
    lock_id: int | None = None
    deploy_id: int | None = None
    unlock_button: bool = False
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def text(self) -> str:
        return "\n".join((self.headline, *self.details))


# ---------------------------------------------------------------- Slack mrkdwn


def escape(text: str) -> str:
    """Slack's three control characters (https://api.slack.com/reference/surfaces/formatting#escaping),
    with bidi controls made visible first (so their ``<U+202E>`` is escaped too)."""
    return visible_bidi(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def clip(text: str, limit: int) -> str:
    """Cut escaped text to ``limit`` characters without splitting an ``&amp;``-style entity."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    amp = cut.rfind("&")
    if amp != -1 and ";" not in cut[amp:]:
        cut = cut[:amp]
    return cut + "…"


def quote(text: str, limit: int = REASON_CHARS) -> str:
    """User text as a Slack block quote: escaped, clipped, every line quoted."""
    return "\n".join("&gt;" + line for line in clip(escape(text), limit).split("\n"))


# ---------------------------------------------------------------- events → messages

_BOLD = ("env", "service", "scope")


def _say(template: str, **values: Any) -> tuple[str, str]:
    """The line as plain text, and as mrkdwn with the values escaped (slugs in bold)."""

    def rich(key: str, value: Any) -> str:
        if value is None:
            return ""
        return f"*{escape(str(value))}*" if key in _BOLD else escape(str(value))

    plain = template.format(**{k: "" if v is None else str(v) for k, v in values.items()})
    return plain, template.format(**{k: rich(k, v) for k, v in values.items()})


def scope(environment: str | None, service: str | None) -> str:
    return f"{service} in {environment}" if service else str(environment)


def when(value: str | None) -> str | None:
    if not value:
        return None
    try:
        return parse_iso(value).strftime("%Y-%m-%d %H:%M UTC")
    except ValueError:
        return value


def _blockers(blockers: list[dict[str, Any]]) -> str:
    parts = []
    for b in blockers or []:
        part = f"{b.get('kind')}: {b.get('reason')}"
        if b.get("by"):
            part += f" ({b['by']})"
        parts.append(part)
    return "; ".join(parts)


def dashboard(public_url: str, path: str) -> str | None:
    return public_url.rstrip("/") + path if public_url else None


@dataclass(frozen=True)
class _Draft:
    action: str
    emoji: str
    said: tuple[str, str]  # plain, mrkdwn
    details: list[str | None]
    path: str  # on the dashboard
    unlock_button: bool = False


def build(event: dict[str, Any], public_url: str = "") -> Message | None:
    """The message for one event, or None when the event is not worth a message."""
    kind = event["kind"]
    if kind not in CATEGORIES:
        return None
    draft = _RENDERERS[kind](event, event.get("data") or {})
    if draft is None:
        return None
    return Message(
        event_id=event["id"],
        event=kind,
        category=CATEGORIES[kind],
        action=draft.action,
        at=event["at"],
        environment=event.get("environment"),
        service=event.get("service"),
        actor=event.get("actor"),
        emoji=draft.emoji,
        headline=draft.said[0],
        headline_mrkdwn=draft.said[1],
        details=tuple(str(d) for d in draft.details if d),
        url=dashboard(public_url, draft.path),
        lock_id=event.get("lock_id"),
        deploy_id=event.get("deploy_id"),
        unlock_button=draft.unlock_button,
        data=event.get("data") or {},
    )


def _deploy_page(e: dict) -> str:
    return f"/deploys/{e['deploy_id']}" if e.get("deploy_id") else "/"


def _scheduled(e: dict, d: dict) -> bool:
    starts = d.get("starts_at")
    return bool(starts) and parse_iso(starts) > parse_iso(e["at"])


def _lock_created(e: dict, d: dict) -> _Draft:
    where = scope(e["environment"], e["service"])
    until = when(d.get("expires_at"))
    if _scheduled(e, d):
        said = _say("{scope} lock scheduled by {by}", scope=where, by=e.get("actor"))
        details = [d.get("reason"), f"From {when(d.get('starts_at'))}", f"Until {until}" if until else None]
        return _Draft("scheduled", ":calendar:", said, details, "/locks")
    if d.get("kind") == "auto":
        said = _say("{scope} locked automatically", scope=where)
    else:
        said = _say("{scope} locked by {by}", scope=where, by=e.get("actor"))
    details = [d.get("reason"), f"Until {until}" if until else None]
    return _Draft("locked", ":lock:", said, details, "/locks", unlock_button=True)


def _lock_started(e: dict, d: dict) -> _Draft:
    """A scheduled lock's start, recorded by the worker at ``starts_at``."""
    said = _say("{scope} locked (scheduled by {by})", scope=scope(e["environment"], e["service"]), by=d.get("by"))
    until = when(d.get("expires_at"))
    return _Draft("locked", ":lock:", said, [d.get("reason"), f"Until {until}" if until else None], "/locks", unlock_button=True)


def _lock_updated(e: dict, d: dict) -> _Draft:
    said = _say("{scope} lock edited by {by}", scope=scope(e["environment"], e["service"]), by=e.get("actor"))
    lines = []
    for name, change in (d.get("changes") or {}).items():
        old, new = change.get("old"), change.get("new")
        if name in ("starts_at", "expires_at"):
            old, new = when(old) or "none", when(new) or "none"
        label = {"starts_at": "Start", "expires_at": "Until", "reason": "Reason"}.get(name, name)
        lines.append(f"{label}: {old} → {new}")
    return _Draft("edited", ":pencil2:", said, lines, "/locks")


def _lock_ended(e: dict, d: dict) -> _Draft:
    where = scope(e["environment"], e["service"])
    was = f"The lock was: {d['reason']}" if d.get("reason") else None
    if d.get("expired"):
        return _Draft("unlocked", ":unlock:", _say("{scope}: lock expired", scope=where), [was], "/locks")
    if d.get("cancelled"):
        said = _say("{scope}: scheduled lock cancelled by {by}", scope=where, by=e.get("actor"))
        return _Draft("cancelled", ":wastebasket:", said, [d.get("note"), was], "/locks")
    said = _say("{scope} unlocked by {by}", scope=where, by=e.get("actor"))
    return _Draft("unlocked", ":unlock:", said, [d.get("note"), was], "/locks")


def _window(e: dict, d: dict) -> _Draft:
    where = scope(e["environment"], e["service"])
    blockers = d.get("blockers") or []
    if e["kind"] == "window_closed":
        window = next((b for b in blockers if b.get("kind") == "window"), {})
        opens = when(window.get("until"))
        said = _say("{scope} is outside its deploy window", scope=where)
        return _Draft("window_closed", ":no_entry:", said, [f"Opens again {opens}" if opens else None], "/")
    still = _blockers(blockers)
    said = _say("{scope}: deploy window open", scope=where)
    return _Draft("window_opened", ":large_green_circle:", said, [f"Still blocked by {still}" if still else None], "/")


def _override(e: dict, d: dict) -> _Draft:
    said = _say(
        "{service} deployed to {env} through a closed gate by {by}",
        service=e.get("service"), env=e["environment"], by=e.get("actor"),
    )
    blocked = _blockers(d.get("blockers") or [])
    details = [d.get("reason"), f"Blocked by {blocked}" if blocked else None]
    return _Draft("override", ":warning:", said, details, _deploy_page(e))


def _rollback_allowed(e: dict, d: dict) -> _Draft:
    said = _say(
        "{service} rollback to {env} allowed through: {passed}",
        service=e.get("service"), env=e["environment"], passed=", ".join(d.get("passed") or []),
    )
    blocked = _blockers(d.get("blockers") or [])
    return _Draft("rollback_allowed", ":rewind:", said, [f"Passed {blocked}" if blocked else None], _deploy_page(e))


def _health(e: dict, d: dict) -> _Draft | None:
    before, after = d.get("from"), d.get("to")
    args = dict(service=e.get("service"), id=e.get("deploy_id"), env=e["environment"])
    if after in ALERTING_HEALTH and before != "incident":
        # From an incident back to a bad verdict is the incident's resolution, told by the incident message.
        said = _say("{service} deploy #{id} in {env} is " + after, **args)
        emoji = ":red_circle:" if after == "unhealthy" else ":large_orange_circle:"
        return _Draft(after, emoji, said, [d.get("reason")], _deploy_page(e))
    if after == "healthy" and before in ALERTING_HEALTH:
        said = _say("{service} deploy #{id} in {env} recovered: healthy again", **args)
        return _Draft("recovered", ":large_green_circle:", said, [d.get("reason")], _deploy_page(e))
    return None  # pending → healthy, → no_data, → incident (its own message): not news


def _incident(e: dict, d: dict) -> _Draft:
    where = scope(e["environment"], e["service"])
    key = d.get("key")
    if d.get("state") == "resolved":
        said = _say("Incident {key} in {scope} resolved", key=key, scope=where)
        return _Draft("incident_resolved", ":white_check_mark:", said, [], _deploy_page(e))
    said = _say("Incident {key} in {scope}", key=key, scope=where)
    attached = f"Attached to deploy #{e['deploy_id']}" if e.get("deploy_id") else "No deploy to attach it to"
    return _Draft("incident_triggered", ":rotating_light:", said, [d.get("title"), attached, d.get("url")], _deploy_page(e))


_DEPLOY_EMOJI = {
    "started": ":hourglass_flowing_sand:",
    "succeeded": ":rocket:",
    "failed": ":x:",
    "cancelled": ":heavy_minus_sign:",
    "rolled_back": ":leftwards_arrow_with_hook:",
}
_REGISTERED = {
    "started": "{service} deploy #{id} to {env} started ({sha}) by {by}",
    "succeeded": "{service} deployed to {env} ({sha}, #{id}) by {by}",
    "failed": "{service} deploy #{id} to {env} failed ({sha}) by {by}",
}


def _deploy(e: dict, d: dict) -> _Draft:
    args = dict(service=e.get("service"), env=e["environment"], id=e.get("deploy_id"))
    if e["kind"] == "deploy_registered":
        status = d.get("status", "succeeded")
        template = _REGISTERED.get(status, _REGISTERED["succeeded"])
        said = _say(template, sha=(d.get("sha") or "")[:7], by=e.get("actor"), **args)
        details = ["Registered while the gate was closed" if d.get("during_lock") else None]
    else:
        status = d.get("to", "")
        said = _say("{service} deploy #{id} to {env}: {before} → {after}", before=d.get("from"), after=status, **args)
        details = []
    return _Draft(f"deploy_{status}", _DEPLOY_EMOJI.get(status, ":package:"), said, details, _deploy_page(e))


def _count(value: Any) -> str:
    return f"{value:,}" if isinstance(value, int) else "?"


def closed_how(d: dict) -> str:
    """How the merge button was closed: "branch frozen on GitHub; statuses 120/2,000"."""
    text = f"branch frozen on {d.get('forge_title') or d.get('forge')}"
    progress = d.get("statuses")
    if isinstance(progress, dict):
        text += f"; statuses {_count(progress.get('done'))}/{_count(progress.get('total') or progress.get('pulls'))}"
    return text


def _freeze(e: dict, d: dict) -> _Draft:
    service, env = e.get("service"), e.get("environment")
    where = f"{d.get('repo')} {d.get('branch')}"
    if e["kind"] == "branch_unfrozen":
        said = _say("Merge button open again for {service} ({env})", service=service, env=env)
        return _Draft("branch_unfrozen", ":sunny:", said, [f"branch unfrozen on {d.get('forge_title') or d.get('forge')}", where], "/")
    if d.get("restored"):
        said = _say("Merge freeze of {service} put back ({env})", service=service, env=env)
        details = [closed_how(d), "The freeze had been deleted or edited by hand.", where]
        return _Draft("branch_refrozen", ":snowflake:", said, details, "/")
    said = _say("Merge button closed for {service} ({env})", service=service, env=env)
    return _Draft("branch_frozen", ":snowflake:", said, [closed_how(d), where], "/")


def _freeze_failed(e: dict, d: dict) -> _Draft:
    forge = d.get("forge_title") or d.get("forge")
    args = dict(service=e.get("service"), forge=forge, branch=d.get("branch"))
    if d.get("desired") == "open":
        said = _say("Could not unfreeze {branch} of {service} on {forge}", **args)
        details = [d.get("error"), "The branch stays frozen until this is fixed."]
    else:
        said = _say("Could not freeze {branch} of {service} on {forge}", **args)
        details = [d.get("error"), "Statuses take over: each pull request carries the lock as a commit status."]
    return _Draft("branch_freeze_failed", ":warning:", said, details, "/")


def _dequeued(e: dict, d: dict) -> _Draft:
    pulls = ", ".join(f"#{n}" for n in d.get("pulls") or []) or "a pull request"
    said = _say("{pulls} left the merge queue of {repo} during the {env} lock", pulls=pulls, repo=d.get("repo"), env=e.get("environment"))
    details = [d.get("lock"), "GitHub removed it from the queue; add it to the queue again once the lock ends."]
    return _Draft("merge_group_dequeued", ":warning:", said, details, "/")


def _exempted(e: dict, d: dict) -> _Draft:
    said = _say("#{number} is exempt from the {env} lock (label {label})", number=d.get("number"), env=e.get("environment"), label=d.get("label"))
    return _Draft("merge_exempted", ":ticket:", said, [d.get("title"), d.get("url")], "/")


_RENDERERS: dict[str, Callable[[dict, dict], _Draft | None]] = {
    "lock_created": _lock_created,
    "lock_ended": _lock_ended,
    "lock_started": _lock_started,
    "lock_updated": _lock_updated,
    "window_opened": _window,
    "window_closed": _window,
    "override": _override,
    "rollback_allowed": _rollback_allowed,
    "deploy_health_changed": _health,
    "incident": _incident,
    "deploy_registered": _deploy,
    "deploy_status_changed": _deploy,
    "branch_frozen": _freeze,
    "branch_unfrozen": _freeze,
    "branch_freeze_failed": _freeze_failed,
    "merge_group_dequeued": _dequeued,
    "merge_exempted": _exempted,
}


def wanted(target: NotifyConfig, message: Message) -> bool:
    """Does this ``[[notify]]`` entry want this message? An environment-wide event
    (no service) concerns every service, so a ``services`` filter lets it through."""
    if message.category not in target.events:
        return False
    if target.environments and message.environment not in target.environments:
        return False
    if target.services and message.service is not None and message.service not in target.services:
        return False
    return True
