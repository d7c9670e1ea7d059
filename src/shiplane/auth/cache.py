from __future__ import annotations

import time

from shiplane.auth.service import Principal

_TTL_SECONDS = 5.0


class TokenCache:
    """token hash → principal, for a few seconds.

    Auth runs on every request; a short TTL saves a query per request while a
    deleted token still stops working within seconds.
    """

    def __init__(self, ttl: float = _TTL_SECONDS) -> None:
        self.ttl = ttl
        self._entries: dict[str, tuple[Principal | None, float]] = {}

    def get(self, digest: str) -> tuple[bool, Principal | None]:
        entry = self._entries.get(digest)
        if entry is None or entry[1] < time.monotonic():
            return False, None
        return True, entry[0]

    def put(self, digest: str, principal: Principal | None) -> None:
        if len(self._entries) > 10000:
            self._entries.clear()
        self._entries[digest] = (principal, time.monotonic() + self.ttl)
