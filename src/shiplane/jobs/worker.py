"""The background worker loop (embedded in ``serve`` or run alone by ``shiplane worker``)."""

from __future__ import annotations

import logging

import anyio

from shiplane.db import Database
from shiplane.settings import Settings

log = logging.getLogger("shiplane.worker")


class Worker:
    def __init__(self, settings: Settings, db: Database) -> None:
        self.settings = settings
        self.db = db
        self.wakeup = anyio.Event()

    def poke(self) -> None:
        """Wake the loop now (a gate changed or a job was queued in this process)."""
        self.wakeup.set()

    async def tick(self) -> float:
        """Do what is due; return how many seconds to sleep at most."""
        return 5.0

    async def run_forever(self) -> None:
        while True:
            try:
                pause = await self.tick()
            except Exception:  # noqa: BLE001 - the loop must survive any one bad tick
                log.exception("worker tick failed")
                pause = 5.0
            with anyio.move_on_after(pause):
                await self.wakeup.wait()
            self.wakeup = anyio.Event()
