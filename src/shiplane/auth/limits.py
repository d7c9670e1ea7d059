"""The dashboard's login rate limit, shared by every server process through the database.

Failed logins are counted per client address, per username from that address, and per
username. A guesser at one address is stopped after a few tries at one name (``pair``) or a few
more across names (``address``); the real user, from another address, can still log in. Only a
spread-out attack on one name (``user``, many addresses) locks that name for everybody, and it
needs ten times as many failures.

Each failure is a row per key in ``login_failures``, keyed by a SHA-256 digest (64 characters,
whatever was typed). Bounded by construction (habit 14): every failure deletes the rows older than
the window, and past ``MAX_ROWS`` the oldest rows go first, so a flood of made-up names or
addresses can neither grow the table nor slow a lookup (an index on the digest and time).
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

from sqlalchemy import delete, func, insert, select
from sqlalchemy.engine import Connection

from shiplane.tables.auth import login_failures

WINDOW = timedelta(minutes=5)
LIMITS = {"pair": 5, "address": 20, "user": 50}
MAX_ROWS = 30_000  # 10,000 failures of three keys each, as the in-process caches held before

Key = tuple[str, str]  # (kind, value)


def keys(username: str, address: str) -> tuple[Key, ...]:
    name = username.lower()
    return (("pair", f"{name}@{address}"), ("address", address), ("user", name))


def _digest(key: Key) -> str:
    return hashlib.sha256(f"{key[0]}:{key[1]}".encode()).hexdigest()


class LoginLimiter:
    def __init__(self, per: timedelta = WINDOW, limits: dict[str, int] | None = None, max_rows: int = MAX_ROWS) -> None:
        self.per = per
        self.limits = limits or dict(LIMITS)
        self.max_rows = max_rows

    def retry_after(self, conn: Connection, keys: tuple[Key, ...], now: datetime) -> float:
        """Seconds until another attempt is allowed (0: allowed now)."""
        wait = 0.0
        for key in keys:
            limit = self.limits[key[0]]
            recent = conn.execute(
                select(login_failures.c.at)
                .where(login_failures.c.key_hash == _digest(key), login_failures.c.at > now - self.per)
                .order_by(login_failures.c.at.desc())
                .limit(limit)
            ).scalars().all()
            if len(recent) >= limit:
                wait = max(wait, (recent[limit - 1] + self.per - now).total_seconds())
        return wait

    def failed(self, conn: Connection, keys: tuple[Key, ...], now: datetime) -> None:
        conn.execute(insert(login_failures), [{"key_hash": _digest(key), "at": now} for key in keys])
        conn.execute(delete(login_failures).where(login_failures.c.at <= now - self.per))
        excess = conn.execute(select(func.count()).select_from(login_failures)).scalar_one() - self.max_rows
        if excess > 0:
            oldest = select(login_failures.c.id).order_by(login_failures.c.at, login_failures.c.id).limit(excess)
            conn.execute(delete(login_failures).where(login_failures.c.id.in_(oldest.scalar_subquery())))

    def succeeded(self, conn: Connection, keys: tuple[Key, ...]) -> None:
        # A correct password clears what this address did, not what others did to the name.
        digests = [_digest(key) for key in keys if key[0] != "user"]
        conn.execute(delete(login_failures).where(login_failures.c.key_hash.in_(digests)))
