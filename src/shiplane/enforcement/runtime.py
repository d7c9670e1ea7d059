"""The live side of merge blocking: forge clients, job handlers, pacing, the gate reaction."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

import httpx

from shiplane import clock, http
from shiplane.db import Database
from shiplane.enforcement import sync
from shiplane.enforcement.forges.base import Forge
from shiplane.enforcement.forges.registry import FORGES
from shiplane.enforcement.statuses import DesiredStatus
from shiplane.enforcement.webhooks import PROTECTION_JOB
from shiplane.http import PermanentError
from shiplane.jobs.pacing import Pacer
from shiplane.locks.calendar import Schedule
from shiplane.settings import Settings

log = logging.getLogger("shiplane.enforcement")


class Enforcement:
    def __init__(
        self,
        settings: Settings,
        db: Database,
        schedule: Schedule,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.settings = settings
        self.db = db
        self.schedule = schedule
        forges = settings.config.forges
        self.client = http.make_client(transport=transport)
        self.forges: dict[str, Forge] = {}
        self.pacers: dict[str, Pacer] = {}
        for name, kind in FORGES.items():
            cfg = getattr(forges, name)
            if cfg is not None:
                self.forges[name] = kind.client(cfg, self.client)
                self.pacers[sync.status_job(name)] = Pacer(cfg.writes_per_minute, cfg.writes_per_hour)
        self.targets = sync.targets(settings.config)
        self.by_service = {t.service: t for t in self.targets}

    # ---------------------------------------------------------------- worker wiring

    def handlers(self) -> dict[str, Any]:
        out: dict[str, Any] = {sync.SYNC_JOB: self.run_sync}
        for name in self.forges:
            out[sync.status_job(name)] = self.post_status
        if "github" in self.forges:
            out[PROTECTION_JOB] = self.answer_protection_rule
        return out

    def reaction(self, conn: Any, change: Any, now: datetime) -> None:
        if self.targets:
            sync.on_gate_change(conn, change, now, self.targets)

    def reconcile_all(self, conn: Any, now: datetime) -> None:
        """At start: list every target's pull requests again (some may have opened while we were down)."""
        for target in self.targets:
            sync.request_sync(conn, target, sync.current_desired(conn, self.schedule, target, now), now, force=True)

    # ---------------------------------------------------------------- job handlers

    def _target(self, payload: dict[str, Any]) -> sync.Target:
        target = self.by_service.get(payload["service"])
        if target is None:
            raise PermanentError(f"service {payload['service']!r} no longer has a repo configured")
        return target

    async def _guard(self, target: sync.Target, coro: Any) -> Any:
        try:
            return await coro
        except PermanentError as exc:
            log.error("merge blocking for %s: %s", target.service, exc)
            await self.db.run_write(sync.record_error, target, str(exc), clock.now())
            raise

    async def run_sync(self, payload: dict[str, Any]) -> None:
        target = self._target(payload)
        now = clock.now()
        desired = await self.db.run_read(sync.current_desired, self.schedule, target, now)
        if desired.signature != payload["signature"]:
            # The gate moved again since this sync was queued: adopt the newest answer.
            await self.db.run_write(sync.request_sync, target, desired, now)
            return
        forge = self.forges[target.forge]
        pulls = await self._guard(target, forge.open_pull_requests(target.repo, target.branch))
        queued = await self.db.run_write(sync.plan, target, payload["signature"], desired, pulls, clock.now())
        log.info("merge sync %s: %d open pull requests, %d statuses to write", target.service, len(pulls), queued)

    async def post_status(self, payload: dict[str, Any]) -> None:
        target = self._target(payload)
        if not await self.db.run_read(sync.still_wanted, target.service, payload["signature"]):
            return  # superseded by a newer gate state; that sync queues its own writes
        desired = DesiredStatus(**payload["status"])
        await self._guard(target, self.forges[target.forge].post_status(target.repo, payload["sha"], desired))
        await self.db.run_write(sync.record_posted, target, payload["sha"], desired, clock.now())

    async def answer_protection_rule(self, payload: dict[str, Any]) -> None:
        await self.forges["github"].review_protection_rule(
            payload["callback_url"], payload["environment"], payload["approve"], payload["comment"]
        )

    async def close(self) -> None:
        await self.client.aclose()
