"""Notifications (``[[notify]]``): events become durable delivery jobs for Slack and generic webhooks."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from shiplane.db import Database
from shiplane.settings import Settings


class Notifier:
    """The worker's side of notifications. (Filled in by the notifications work.)"""

    def __init__(self, settings: Settings, db: Database, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.settings = settings
        self.db = db
        self.transport: Any = transport

    def handlers(self) -> dict[str, Callable[[dict[str, Any]], Awaitable[None]]]:
        return {}

    async def tick(self) -> int:
        return 0
