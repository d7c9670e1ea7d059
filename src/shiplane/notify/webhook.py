"""Generic JSON webhooks: the body of a message (pure) and its signed delivery."""

from __future__ import annotations

import json
from typing import Any

import httpx

from shiplane import http
from shiplane.notify.messages import Message
from shiplane.signing import HEADER, signature


def body(message: Message) -> dict[str, Any]:
    return {
        "id": message.event_id,
        "event": message.event,
        "category": message.category,
        "action": message.action,
        "at": message.at,
        "environment": message.environment,
        "service": message.service,
        "actor": message.actor,
        "text": message.text,
        "url": message.url,
        "lock_id": message.lock_id,
        "deploy_id": message.deploy_id,
        "data": message.data,
    }


def encode(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()


async def send(
    client: httpx.AsyncClient, url: str, payload: dict[str, Any], *, secret: str | None, delivery: str
) -> None:
    """POST the JSON body; signed over the exact bytes sent when the target has a ``secret``."""
    content = encode(payload)
    headers = {
        "Content-Type": "application/json",
        "X-Shiplane-Event": str(payload.get("event", "")),
        "X-Shiplane-Delivery": delivery,  # the same on every retry: receivers de-duplicate on it
    }
    if secret:
        headers[HEADER] = signature(secret, content)
    await http.send(client, "POST", url, "notify webhook", content=content, headers=headers)
