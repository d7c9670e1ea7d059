"""Microsoft Teams through a Workflows webhook: an Adaptive Card 1.4 (pure) and its delivery.

Teams' Office 365 connectors retire in favour of the Workflows app's "When a Teams
webhook request is received" trigger, which posts what it is sent as a message:
``{"type": "message", "attachments": [{"contentType":
"application/vnd.microsoft.card.adaptive", "content": <card>}]}``
(https://learn.microsoft.com/en-us/connectors/teams/?tabs=text1#microsoft-teams-webhook).
Teams renders Adaptive Cards up to version 1.5 in channels; 1.4 is what every client shows.

Text people wrote (a lock reason, a note) goes into ``TextRun``s, which render no
markdown, so a reason cannot turn into a link or a mention.
"""

from __future__ import annotations

from typing import Any

import httpx

from shiplane import http
from shiplane.notify.messages import REASON_CHARS, Message, when
from shiplane.text import visible_bidi

CARD_VERSION = "1.4"
CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"
TEXT_CHARS = 2000  # per text run: a card stays well under Teams' 28 KB message limit
COLORS = {"locked": "attention", "unhealthy": "attention", "incident_triggered": "attention", "ailing": "warning",
          "override": "warning", "unlocked": "good", "recovered": "good", "incident_resolved": "good"}


def _clip(value: str, limit: int) -> str:
    value = visible_bidi(value)
    return value if len(value) <= limit else value[: limit - 1] + "…"


def _text(value: str, **style: Any) -> dict[str, Any]:
    return {"type": "RichTextBlock", "inlines": [{"type": "TextRun", "text": value, **style}]}


def card(message: Message) -> dict[str, Any]:
    """The Adaptive Card: the headline, the details, the facts, and "Open dashboard"."""
    headline = {"weight": "bolder", "size": "medium"}
    if message.action in COLORS:
        headline["color"] = COLORS[message.action]
    body: list[dict[str, Any]] = [_text(_clip(message.headline, TEXT_CHARS), **headline)]
    body += [_text(_clip(detail, REASON_CHARS)) for detail in message.details]
    facts = [
        ("Event", message.event),
        ("Environment", message.environment),
        ("Service", message.service),
        ("By", message.actor),
        ("At", when(message.at) or message.at),
    ]
    body.append(
        {
            "type": "FactSet",
            "facts": [{"title": title, "value": _clip(str(value), 500)} for title, value in facts if value],
        }
    )
    out: dict[str, Any] = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": CARD_VERSION,
        "fallbackText": _clip(message.text, TEXT_CHARS),
        "body": body,
    }
    if message.url:
        out["actions"] = [{"type": "Action.OpenUrl", "title": "Open dashboard", "url": message.url}]
    return out


def payload(message: Message) -> dict[str, Any]:
    """The JSON body posted to the Workflows webhook."""
    return {"type": "message", "attachments": [{"contentType": CONTENT_TYPE, "contentUrl": None, "content": card(message)}]}


async def send(client: httpx.AsyncClient, url: str, body: dict[str, Any]) -> None:
    """Post once: 429, 5xx and network failures are retried with backoff, other 4xx are permanent
    (a deleted flow or a wrong URL answers 4xx and retrying cannot help)."""
    try:
        await http.send(client, "POST", url, "teams webhook", json=body)
    except http.PermanentError as exc:
        raise http.PermanentError(f"{exc} (check the Workflows webhook URL and that its flow is on)") from exc
