"""Discord webhooks: ``content`` plus one embed (pure), within Discord's limits, and delivery.

Limits from https://discord.com/developers/docs/resources/message#embed-object-embed-limits
and https://discord.com/developers/docs/resources/webhook#execute-webhook: content ≤ 2,000
characters, at most 10 embeds, title ≤ 256, description ≤ 4,096, field value ≤ 1,024,
footer ≤ 2,048, and ≤ 6,000 characters across an embed. A 429 carries ``retry_after``
(seconds) in its JSON body (https://discord.com/developers/docs/topics/rate-limits),
which the retry honours. ``allowed_mentions`` is empty: text people wrote never pings anyone.
"""

from __future__ import annotations

import re
from typing import Any

import httpx

from shiplane import http
from shiplane.notify.messages import Message
from shiplane.text import visible_bidi

CONTENT_CHARS = 2000
TITLE_CHARS = 256
DESCRIPTION_CHARS = 4096
FIELD_CHARS = 1024
EMBED_CHARS = 6000
MAX_EMBEDS = 10
COLORS = {"attention": 0xD13438, "warning": 0xF7A600, "good": 0x2EA043, "neutral": 0x5865F2}
_ATTENTION = ("locked", "unhealthy", "incident_triggered", "deploy_failed", "branch_freeze_failed")
_WARNING = ("ailing", "override", "window_closed", "merge_group_dequeued")
_GOOD = ("unlocked", "recovered", "incident_resolved", "window_opened", "deploy_succeeded", "branch_unfrozen")
_MARKDOWN = re.compile(r"([\\*_~`|>\[\]()#-])")


def escape(text: str) -> str:
    """Discord markdown made literal (a backslash before each markup character), bidi controls visible."""
    return _MARKDOWN.sub(r"\\\1", visible_bidi(text))


def clip(text: str, limit: int) -> str:
    """Cut escaped text to ``limit`` characters without leaving a lone escaping backslash."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    trailing = len(cut) - len(cut.rstrip("\\"))
    if trailing % 2:
        cut = cut[:-1]
    return cut + "…"


def _color(action: str) -> int:
    for name, actions in (("attention", _ATTENTION), ("warning", _WARNING), ("good", _GOOD)):
        if action in actions:
            return COLORS[name]
    return COLORS["neutral"]


def payload(message: Message) -> dict[str, Any]:
    # Embed titles render no links or escapes: the plain headline (slugs and names, no user text).
    embed: dict[str, Any] = {
        "title": clip(visible_bidi(message.headline), TITLE_CHARS),
        "color": _color(message.action),
        "timestamp": message.at,
        "fields": [
            {"name": name, "value": clip(escape(str(value)), FIELD_CHARS), "inline": True}
            for name, value in (("Event", message.event), ("Environment", message.environment), ("Service", message.service))
            if value
        ],
    }
    # The title, fields and footer are bounded above; the description gets what is left of 6,000.
    used = len(embed["title"]) + sum(len(f["name"]) + len(f["value"]) for f in embed["fields"])
    if message.actor:
        embed["footer"] = {"text": clip(escape(f"by {message.actor}"), 200)}
        used += len(embed["footer"]["text"])
    if message.details:
        description = "\n".join(escape(d) for d in message.details)
        embed["description"] = clip(description, min(DESCRIPTION_CHARS, EMBED_CHARS - used))
    if message.url:
        embed["url"] = message.url  # the title links to the dashboard
    content = clip(escape(message.headline), CONTENT_CHARS)
    return {"content": content, "embeds": [embed][:MAX_EMBEDS], "allowed_mentions": {"parse": []}}


async def send(client: httpx.AsyncClient, url: str, body: dict[str, Any]) -> None:
    """Post once: a 429's ``retry_after`` sets the next attempt; other 4xx are permanent."""
    try:
        await http.send(client, "POST", url, "discord webhook", json=body)
    except http.PermanentError as exc:
        raise http.PermanentError(f"{exc} (check the Discord webhook URL; Discord deletes webhooks with their channel)") from exc
