"""A bounded cache of who an API token belongs to.

Anything an unauthenticated caller can put in here is bounded by
construction (STYLE.md habit 14): keys are SHA-256 digests (64 characters,
whatever the token's size), hits and misses live in separate LRU caches of
fixed size with a TTL, so a flood of bogus tokens can neither grow memory nor
push out the principals of real tokens.
"""

from __future__ import annotations

from cachetools import TTLCache

from shiplane.auth.service import Principal

HIT_TTL_SECONDS = 5.0  # a deleted token stops working within this
MISS_TTL_SECONDS = 1.0  # a misconfigured client retrying one bad token costs one query a second
HIT_SIZE = 4096
MISS_SIZE = 1024


class TokenCache:
    """token digest → principal (or "no such token"), for a few seconds."""

    def __init__(
        self,
        ttl: float = HIT_TTL_SECONDS,
        miss_ttl: float = MISS_TTL_SECONDS,
        size: int = HIT_SIZE,
        miss_size: int = MISS_SIZE,
    ) -> None:
        # Used from the event loop only (auth.deps.principal_for is async): no lock needed.
        self._hits: TTLCache[str, Principal] = TTLCache(maxsize=size, ttl=ttl)
        self._misses: TTLCache[str, bool] = TTLCache(maxsize=miss_size, ttl=miss_ttl)

    def get(self, key: str) -> tuple[bool, Principal | None]:
        principal = self._hits.get(key)
        if principal is not None:
            return True, principal
        return (key in self._misses), None

    def put(self, key: str, principal: Principal | None) -> None:
        if principal is None:
            self._misses[key] = True
        else:
            self._hits[key] = principal

    def __len__(self) -> int:
        return len(self._hits) + len(self._misses)
