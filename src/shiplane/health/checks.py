"""Built-in synthetic HTTP checks (``[[checks]]``): probe URLs, store availability and latency samples."""

from __future__ import annotations

from typing import Any

import httpx

from shiplane.db import Database
from shiplane.settings import Config


class HttpChecker:
    """The worker's side: probe every check that is due. (Filled in by the http_check work.)"""

    def __init__(self, config: Config, db: Database, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.config = config
        self.db = db
        self.transport: Any = transport

    async def tick(self) -> int:
        return 0
