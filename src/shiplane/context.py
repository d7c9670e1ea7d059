"""What a running Shiplane process holds: settings, database, caches."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from starlette.requests import HTTPConnection

from shiplane.auth.cache import TokenCache
from shiplane.catalog.service import Cache
from shiplane.db import Database
from shiplane.settings import Settings


@dataclass
class AppContext:
    settings: Settings
    db: Database
    catalog: Cache = field(default_factory=Cache)
    tokens: TokenCache = field(default_factory=TokenCache)
    worker: Any = None  # shiplane.jobs.worker.Worker when this process runs one


def get_context(conn: HTTPConnection) -> AppContext:
    return conn.app.state.ctx
