"""The live side of merge blocking: forge clients, job handlers, pacing, the gate reaction."""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

import anyio
import httpx

from shiplane import clock, http
from shiplane.db import Database
from shiplane.enforcement import freeze, statuses, sync
from shiplane.enforcement.forges.base import Forge, FreezeSpec, Observed
from shiplane.enforcement.forges.registry import FORGES
from shiplane.enforcement.statuses import DesiredStatus
from shiplane.enforcement.webhooks import PROTECTION_JOB
from shiplane.http import PermanentError, TransientError
from shiplane.jobs.pacing import SharedPacer
from shiplane.locks.calendar import Schedule
from shiplane.settings import Settings

log = logging.getLogger("shiplane.enforcement")

# A freeze job re-reads what the gate wants after its write; the gate may have moved meanwhile.
_FREEZE_ROUNDS = 3


class SendLog:
    """Status writes as they go out, per forge: never more than the budget in any sliding window.

    The worker paces claims, stamping a batch when it is claimed; the forge counts requests as they
    arrive. A batch that goes out late (a busy process) would overlap the next one, claimed as soon
    as the first one's stamps expire (98 and 142 writes in a 60 s window of an 80-a-minute budget,
    on a loaded machine). So each write also waits here, stamped when sent: at most that lag. The
    stamps are rows (``jobs.pacing.SharedPacer``), so every worker process shares one send log, and
    each window is counted a second wider than the forge's (the time a request takes to arrive).
    """

    MARGIN = timedelta(seconds=1)

    def __init__(self, db: Database, name: str, per_minute: int, per_hour: int) -> None:
        self.db = db
        self.sent = SharedPacer(name, per_minute, per_hour, margin=self.MARGIN)
        self.turn = anyio.Lock()  # this process's waiters go out in the order they came

    async def slot(self) -> None:
        if not self.sent.paced:
            return
        async with self.turn:
            while (free := await self.db.run_write(self.sent.acquire)) is not None:
                # A slot frees as the oldest write leaves the window (another process may take it first).
                await anyio.sleep(min(1.0, max(0.05, (free - clock.now()).total_seconds())))


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
        self.pacers: dict[str, SharedPacer] = {}  # by job kind, for the worker's claims
        self._freeze_pacers: dict[str, SharedPacer] = {}  # by forge, for freeze writes (taken when sent)
        self._sends: dict[str, SendLog] = {}  # by forge, status writes as sent
        self.targets = sync.targets(settings.config)
        for name, kind in FORGES.items():
            cfg = getattr(forges, name)
            if cfg is not None:
                self.forges[name] = kind.client(cfg, self.client)
                self._pace(name, cfg.writes_per_minute, cfg.writes_per_hour)
        self.by_service = {t.service: t for t in self.targets}
        self._freezing: defaultdict[str, anyio.Lock] = defaultdict(anyio.Lock)

    def _pace(self, forge: str, per_minute: int, per_hour: int) -> None:
        """One budget per forge account. Status jobs take theirs when claimed; a freeze job takes one
        only when it writes (most of its runs only read). With branch freezes, a small share of the
        budget is the freezes' alone, so a backlog of statuses never delays one."""
        split = freeze.split_budget(per_minute, per_hour) if any(t.forge == forge and t.freezes for t in self.targets) else None
        # Budgets are rows named after the forge, shared by every worker process (jobs.pacing).
        if split is None:
            self.pacers[sync.status_job(forge)] = self._freeze_pacers[forge] = SharedPacer(f"claim:{forge}", per_minute, per_hour)
            self._sends[forge] = SendLog(self.db, f"sent:{forge}", per_minute, per_hour)
        else:
            self.pacers[sync.status_job(forge)] = SharedPacer(f"claim:{forge}", *split[0])
            self._freeze_pacers[forge] = SharedPacer(f"freeze:{forge}", *split[1])
            self._sends[forge] = SendLog(self.db, f"sent:{forge}", *split[0])

    # ---------------------------------------------------------------- worker wiring

    def handlers(self) -> dict[str, Any]:
        # Order matters: each tick claims kinds in this order, so a freeze goes before statuses.
        out: dict[str, Any] = {freeze.job(name): self.apply_freeze for name in self.forges}
        out[sync.SYNC_JOB] = self.run_sync
        for name in self.forges:
            out[sync.status_job(name)] = self.post_status
        if "github" in self.forges:
            out[PROTECTION_JOB] = self.answer_protection_rule
        return out

    def first_kinds(self) -> frozenset[str]:
        """The job kinds a worker tick runs to the end before the others: the branch freezes, so in
        ``both`` mode the one write that closes the merge button goes out before any status."""
        return frozenset(freeze.job(name) for name in self.forges)

    def reaction(self, conn: Any, change: Any, now: datetime) -> None:
        if self.targets:
            sync.on_gate_change(conn, change, now, self.targets)

    def reconcile_all(self, conn: Any, now: datetime) -> None:
        """At start: list every target's pull requests again, and look at every freeze (things moved while we were down)."""
        for target in self.targets:
            desired = sync.current_desired(conn, self.schedule, target, now)
            if target.freezes:
                freeze.request(conn, target, statuses.blocked(desired), now, force=True)
            sync.request_sync(conn, target, desired, now, force=True)

    def callback_allowed(self, url: str) -> bool:
        allowed = getattr(self.forges.get("github"), "callback_allowed", None)
        return allowed is not None and allowed(url)

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
        if not await self.db.run_read(sync.needs_listing, target, desired):
            await self.db.run_write(sync.nothing_to_post, target, payload["signature"], now)
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
        await self._sends[target.forge].slot()
        # The slot can take seconds to come (pacing): a lock may have superseded this write meanwhile,
        # and a stale `success` posted after it would open the merge button until the next write.
        if not await self.db.run_read(sync.still_wanted, target.service, payload["signature"]):
            return
        await self._guard(target, self.forges[target.forge].post_status(target.repo, payload["sha"], desired))
        await self.db.run_write(sync.record_posted, target, payload["sha"], desired, clock.now(), payload["signature"])

    async def apply_freeze(self, payload: dict[str, Any]) -> None:
        """Make the forge's branch frozen or open as the gate wants, with at most one write per round."""
        target = self._target(payload)
        if not target.freezes:
            return  # merge_freeze changed to "statuses" since this was queued
        if payload.get("check") and not await self.db.run_read(freeze.check_due, target, payload["check"]):
            return  # a later schedule replaced this periodic check
        async with self._freezing[target.service]:  # one freeze job per service at a time in this process
            for _ in range(_FREEZE_ROUNDS):
                want, known = await self.db.run_read(freeze.spec, target)
                observed, wrote = await self._converge(target, want, known)
                await self.db.run_write(self._settle, target, want, observed, wrote, bool(payload.get("check")))
                if (await self.db.run_read(freeze.spec, target))[0] == want:
                    return

    async def _converge(self, target: sync.Target, want: bool, known: FreezeSpec) -> tuple[Observed, bool]:
        forge = self.forges[target.forge]
        try:
            observed = await forge.observe_freeze(target.repo, target.branch, known)
            if observed.foreign:
                raise PermanentError(
                    f"{observed.foreign} exists and Shiplane did not create it; Shiplane never edits a rule it did not create"
                )
            if not freeze.needs_write(want, observed, known):
                return observed, False
            if await self.db.run_write(self._freeze_pacers[target.forge].acquire) is not None:
                raise TransientError(f"freeze of {target.service}: the {target.forge_title} write budget is spent", retry_after=5.0)
            await self.db.run_write(freeze.record_intent, target, want, observed, known, clock.now())
            return await forge.write_freeze(target.repo, target.branch, known, observed, want), True
        except PermanentError as exc:
            log.error("merge freeze of %s on %s: %s; statuses take over", target.service, target.forge, exc)
            await self.db.run_write(self._failed, target, want, str(exc))
            raise

    def _settle(self, conn: Any, target: sync.Target, want: bool, observed: Observed, wrote: bool, check: bool) -> None:
        now = clock.now()
        kind = freeze.record_outcome(conn, target, want, observed, wrote, now)
        if kind:
            log.info("merge freeze of %s: %s", target.service, kind)
        desired = sync.current_desired(conn, self.schedule, target, now)
        if want and observed.frozen:
            freeze.schedule_check(conn, target, now)
            if check and target.merge_freeze == "both":
                sync.request_sync(conn, target, desired, now, force=True)  # list again: a missed webhook is caught here
        if not observed.frozen:
            sync.release_held(conn, target, desired, now)

    def _failed(self, conn: Any, target: sync.Target, want: bool, message: str) -> None:
        now = clock.now()
        if freeze.record_failure(conn, target, want, message, now):
            # Fall back to statuses now: the next plan sees the freeze failed and posts them.
            sync.request_sync(conn, target, sync.current_desired(conn, self.schedule, target, now), now, force=True)
        if want:
            freeze.schedule_check(conn, target, now)  # try again while the gate is closed (permissions may be fixed)

    async def answer_protection_rule(self, payload: dict[str, Any]) -> None:
        await self.forges["github"].review_protection_rule(  # type: ignore[attr-defined]
            payload["callback_url"], payload["environment"], payload["approve"], payload["comment"]
        )

    async def close(self) -> None:
        await self.client.aclose()
