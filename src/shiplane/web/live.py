"""Live updates for open dashboards: "something changed" fanned out to every page.

Every state change records an event in its transaction; once that transaction has
committed, the event's kind is *announced* (``Database.write`` runs the callback).

- SQLite (one process): the announcement goes straight to this process's pages.
- PostgreSQL (any number of processes): announcements are coalesced for up to
  ``COALESCE`` seconds and sent as one ``NOTIFY shiplane_events`` per distinct kind
  from a small background thread. Every server process LISTENs and fans out to its
  own pages, so a lock taken through any process reaches pages served by all of them.

Why not a NOTIFY inside the writing transaction (a trigger)? PostgreSQL serialises
the commits of transactions that NOTIFY on a global lock; measured here, 16
writers committed ~40% fewer transactions a second with a listener attached. Sent
after the commit instead, a burst of 500 registrations a second costs a handful of
NOTIFYs, and listeners still only ever hear of committed changes. The price: if
the process dies between commit and NOTIFY, open pages learn of that change at
their next refresh (at most a minute later).

Pages re-read what they show; the message only says which kind of event happened.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any

log = logging.getLogger("shiplane.live")

CHANNEL = "shiplane_events"
COALESCE = 0.05  # seconds: announcements within this are sent as one NOTIFY per kind


class Bus:
    def __init__(self, pg_url: str | None = None) -> None:
        self.pg_url = pg_url.replace("postgresql+psycopg://", "postgresql://") if pg_url else None
        self.subscribers: set[tuple[asyncio.AbstractEventLoop, asyncio.Queue[str]]] = set()
        self.listener: asyncio.Task[None] | None = None
        self.listening = asyncio.Event()
        self._pending: set[str] = set()
        self._wake = threading.Condition()
        self._sender: threading.Thread | None = None

    # ------------------------------------------------------------ this process's pages

    def publish(self, kind: str) -> None:
        """To this process's pages. Thread-safe: commits happen on worker threads."""
        for loop, queue in list(self.subscribers):
            try:
                loop.call_soon_threadsafe(_offer, queue, kind)
            except RuntimeError:  # that page's loop is gone
                self.subscribers.discard((loop, queue))

    def subscribe(self) -> asyncio.Queue[str]:
        queue: asyncio.Queue[str] = asyncio.Queue(maxsize=16)
        self.subscribers.add((asyncio.get_running_loop(), queue))
        if self.pg_url and self.listener is None:
            self.listener = asyncio.get_running_loop().create_task(self._listen())
        return queue

    def unsubscribe(self, queue: asyncio.Queue[str]) -> None:
        self.subscribers = {(loop, q) for loop, q in self.subscribers if q is not queue}

    # ------------------------------------------------------------ committed changes

    def announce(self, kind: str) -> None:
        """A change of this kind was committed (called after commit, from any thread)."""
        if self.pg_url is None:
            self.publish(kind)
            return
        with self._wake:
            self._pending.add(kind)
            if self._sender is None:
                self._sender = threading.Thread(target=self._send_forever, name="shiplane-notify", daemon=True)
                self._sender.start()
            self._wake.notify()

    def _send_forever(self) -> None:
        import time

        import psycopg

        conn: Any = None
        while True:
            with self._wake:
                while not self._pending:
                    self._wake.wait()
            time.sleep(COALESCE)  # let a burst gather
            with self._wake:
                kinds, self._pending = sorted(self._pending), set()
            try:
                if conn is None or conn.closed:
                    conn = psycopg.connect(self.pg_url, autocommit=True)
                conn.execute(f"SELECT pg_notify('{CHANNEL}', k) FROM unnest(%s::text[]) AS k", (kinds,))
            except Exception as exc:  # noqa: BLE001 - live updates must never break writes
                log.warning("live updates: NOTIFY failed (%s); pages catch up at their next refresh", exc)
                conn = None
                time.sleep(1.0)

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

        delay = 1.0
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(self.pg_url, autocommit=True) as conn:
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
