"""Slack incoming webhooks: the Block Kit payload of a message (pure) and its delivery.

Delivery goes through ``shiplane.http`` like every outbound call; a failed
post is settled on the durable job row, retried with backoff like every delivery.
"""

from __future__ import annotations

from typing import Any

import httpx
from slack_sdk.models.blocks import (
    ActionsBlock,
    ButtonElement,
    ConfirmObject,
    ContextBlock,
    MarkdownTextObject,
    PlainTextObject,
    SectionBlock,
)

from shiplane import http
from shiplane.notify.messages import Message, clip, escape, quote, scope, when

UNLOCK_ACTION = "shiplane_unlock"
OPEN_ACTION = "shiplane_open"  # a link button; Slack still reports the click, which we acknowledge
SECTION_CHARS = 3000  # SectionBlock.text_max_length


def payload(message: Message) -> dict[str, Any]:
    """The JSON body posted to the incoming webhook: fallback ``text`` plus blocks."""
    lines = [f"{message.emoji} {message.headline_mrkdwn}"]
    budget = max(100, (SECTION_CHARS - len(lines[0])) // max(len(message.details), 1) - 2)
    lines += [quote(detail, budget) for detail in message.details]
    blocks: list[Any] = [SectionBlock(text=MarkdownTextObject(text=clip("\n".join(lines), SECTION_CHARS)))]
    context = [escape(when(message.at) or message.at)]
    if message.actor and message.actor not in message.headline:
        context.append(clip(escape(f"by {message.actor}"), 200))
    blocks.append(ContextBlock(elements=[MarkdownTextObject(text=" · ".join(context))]))
    buttons = []
    if message.unlock_button and message.lock_id is not None:
        buttons.append(
            ButtonElement(
                text=PlainTextObject(text="Unlock"),
                action_id=UNLOCK_ACTION,
                value=str(message.lock_id),
                style="danger",
                confirm=ConfirmObject(
                    title="Unlock?",
                    text=clip(f"End this lock on {scope(message.environment, message.service)}?", 300),
                    confirm="Unlock",
                    deny="Keep it",
                ),
            )
        )
    if message.url and len(message.url) <= ButtonElement.url_max_length:
        buttons.append(ButtonElement(text=PlainTextObject(text="Open in Shiplane"), action_id=OPEN_ACTION, url=message.url))
    if buttons:
        blocks.append(ActionsBlock(elements=buttons))
    # to_dict() runs slack_sdk's validators: a payload beyond Block Kit's limits fails here, not at Slack.
    return {"text": clip(escape(message.text), SECTION_CHARS), "blocks": [b.to_dict() for b in blocks]}


async def send(client: httpx.AsyncClient, url: str, body: dict[str, Any], what: str = "slack webhook") -> None:
    """Post once through the outbound seam: 429, 5xx and network failures are transient, other 4xx permanent.

    Slack answers errors with a short plain-text code (no_service, invalid_payload, ...),
    which the error message keeps.
    """
    await http.send(client, "POST", url, what, json=body)
