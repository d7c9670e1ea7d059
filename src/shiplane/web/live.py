"""Live updates for open dashboards: "something changed" fanned out to every page.

Every state change records an event in the same transaction. On SQLite (one
process) the commit itself publishes to the in-process bus; on PostgreSQL a
trigger NOTIFYs ``shiplane_events`` on commit, and each server process LISTENs
and publishes to its own bus — so a lock taken through any process reaches
pages served by every process. Pages re-read what they show; the message only
says which kind of event happened.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

log = logging.getLogger("shiplane.live")

CHANNEL = "shiplane_events"


class Bus:
    def __init__(self, pg_url: str | None = None) -> None:
        self.pg_url = pg_url
        self.subscribers: set[tuple[asyncio.AbstractEventLoop, asyncio.Queue[str]]] = set()
        self.listener: asyncio.Task[None] | None = None
        self.listening = asyncio.Event()

    def publish(self, kind: str) -> None:
        """Thread-safe: writes may commit on a worker thread."""
        for loop, queue in list(self.subscribers):
            loop.call_soon_threadsafe(_offer, queue, kind)

    def subscribe(self) -> asyncio.Queue[str]:
        queue: asyncio.Queue[str] = asyncio.Queue(maxsize=16)
        self.subscribers.add((asyncio.get_running_loop(), queue))
        if self.pg_url and self.listener is None:
            self.listener = asyncio.get_running_loop().create_task(self._listen())
        return queue

    def unsubscribe(self, queue: asyncio.Queue[str]) -> None:
        self.subscribers = {(loop, q) for loop, q in self.subscribers if q is not queue}

    async def close(self) -> None:
        if self.listener is not None:
            self.listener.cancel()
            try:
                await self.listener
            except (asyncio.CancelledError, Exception):  # noqa: BLE001 - shutting down
                pass
            self.listener = None

    async def _listen(self) -> None:
        import psycopg

        url = self.pg_url.replace("postgresql+psycopg://", "postgresql://")  # type: ignore[union-attr]
        delay = 1.0
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
                    await conn.execute(f"LISTEN {CHANNEL}")
                    self.listening.set()
                    delay = 1.0
                    async for note in conn.notifies():
                        self.publish(note.payload)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - reconnect: a dropped connection must not end live updates
                self.listening.clear()
                log.warning("live updates: LISTEN connection lost (%s); retrying in %.0f s", exc, delay)
                # Pages may have missed changes while we were away: tell them to re-read.
                self.publish("reconnect")
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)


def _offer(queue: asyncio.Queue[str], kind: str) -> None:
    # A page that is behind needs one "changed", not all of them.
    if not queue.full():
        queue.put_nowait(kind)


def attach(db: Any) -> Bus:
    if db.bus is None:
        db.bus = Bus(None if db.is_sqlite else db.url)
    return db.bus
