"""Slack incoming webhooks: the Block Kit payload of a message (pure) and its delivery.

Delivery uses ``slack_sdk``'s ``WebhookClient`` (urllib, no extra dependency)
in a worker thread. Its own retries are switched off: a failed post is
settled on the durable job row, retried with backoff like every delivery.
"""

from __future__ import annotations

from typing import Any

import anyio
from slack_sdk.errors import SlackRequestError
from slack_sdk.models.blocks import (
    ActionsBlock,
    ButtonElement,
    ConfirmObject,
    ContextBlock,
    MarkdownTextObject,
    PlainTextObject,
    SectionBlock,
)
from slack_sdk.webhook import WebhookClient

from shiplane import __version__
from shiplane.http import PermanentError, TransientError
from shiplane.notify.messages import Message, clip, escape, quote, scope, when

UNLOCK_ACTION = "shiplane_unlock"
OPEN_ACTION = "shiplane_open"  # a link button; Slack still reports the click, which we acknowledge
SECTION_CHARS = 3000  # SectionBlock.text_max_length
TIMEOUT = 10  # seconds


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


def _client(url: str) -> WebhookClient:
    return WebhookClient(url, timeout=TIMEOUT, retry_handlers=[], user_agent_prefix=f"shiplane/{__version__}")


def _retry_after(headers: Any) -> float | None:
    for name, value in (headers or {}).items():
        if name.lower() == "retry-after":
            raw = value[0] if isinstance(value, list) else value
            try:
                return max(0.0, float(raw))
            except (TypeError, ValueError):
                return None
    return None


async def send(url: str, body: dict[str, Any], what: str = "slack webhook") -> None:
    """Post once; raise ``TransientError`` (429, 5xx, network) or ``PermanentError`` (other 4xx)."""
    try:
        response = await anyio.to_thread.run_sync(_client(url).send_dict, body)
    except SlackRequestError as exc:  # e.g. not an http(s) URL
        raise PermanentError(f"{what}: {exc}") from exc
    except OSError as exc:  # URLError, timeouts, refused connections
        raise TransientError(f"{what}: {type(exc).__name__}: {getattr(exc, 'reason', exc)}") from exc
    status = response.status_code
    if 200 <= status < 300:
        return
    # Slack answers errors with a short plain-text code (no_service, invalid_payload, ...).
    message = f"{what}: HTTP {status}: {(response.body or '').strip()[:300]}"
    if status == 429 or status >= 500 or status == 408:
        raise TransientError(message, retry_after=_retry_after(response.headers))
    raise PermanentError(message)
