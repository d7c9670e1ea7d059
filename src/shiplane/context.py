"""What a running Shiplane process holds: settings, database, caches, the worker."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from starlette.requests import HTTPConnection

from shiplane.auth.cache import TokenCache
from shiplane.catalog.service import Cache
from shiplane.db import Database
from shiplane.locks.cache import GateCache
from shiplane.locks.calendar import Schedule, compile_schedule
from shiplane.settings import Settings


@dataclass
class AppContext:
    settings: Settings
    db: Database
    catalog: Cache = field(default_factory=Cache)
    tokens: TokenCache = field(default_factory=TokenCache)
    gates: GateCache = field(default_factory=GateCache)
    schedule: Schedule | None = None
    worker: Any = None  # shiplane.jobs.worker.Worker when this process runs one
    enforcement: Any = None  # shiplane.enforcement.runtime.Enforcement
    source_transport: Any = None  # httpx transport for metric sources and hooks (tests inject one)
    intake: dict[str, Any] | None = None  # shiplane.gating.intake_options, built once

    def __post_init__(self) -> None:
        if self.schedule is None:
            self.schedule = compile_schedule(self.settings.config)

    def gate_may_have_changed(self) -> None:
        """Called after a write that can change a gate: drop cached answers, wake the worker."""
        self.gates.clear()
        if self.worker is not None:
            self.worker.poke()


def get_context(conn: HTTPConnection) -> AppContext:
    return conn.app.state.ctx


async def context(conn: HTTPConnection) -> AppContext:
    """The FastAPI dependency. Async on purpose: FastAPI runs a plain ``def``
    dependency in a thread pool, which cost more than the rest of a request."""
    return conn.app.state.ctx
