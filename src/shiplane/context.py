"""What a running Shiplane process holds: settings, database, caches, the worker.

Only types are imported from the packages (under TYPE_CHECKING): the routes of
every package read the context, so the context must not depend on them.
``shiplane.app.new_context`` builds it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from starlette.requests import HTTPConnection

from shiplane.db import Database
from shiplane.settings import Settings

if TYPE_CHECKING:
    from shiplane.auth.cache import TokenCache
    from shiplane.catalog.service import Cache
    from shiplane.locks.cache import GateCache
    from shiplane.locks.calendar import Schedule


@dataclass
class AppContext:
    settings: Settings
    db: Database
    catalog: Cache
    tokens: TokenCache
    gates: GateCache
    schedule: Schedule
    worker: Any = None  # shiplane.jobs.worker.Worker when this process runs one
    enforcement: Any = None  # shiplane.enforcement.runtime.Enforcement
    source_transport: Any = None  # httpx transport for metric sources and hooks (tests inject one)
    intake: Any = None  # shiplane.locks.intake.Intake, built once

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
