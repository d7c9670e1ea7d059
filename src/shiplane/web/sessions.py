"""Dashboard sessions, CSRF tokens and the login rate limit."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timedelta

from cachetools import TTLCache
from sqlalchemy import delete, insert, select
from sqlalchemy.engine import Connection

from shiplane.auth.service import Principal
from shiplane.tables.web import web_sessions

COOKIE = "shiplane_session"
LIFETIME = timedelta(days=7)


@dataclass(frozen=True)
class Session:
    principal: Principal
    csrf: str


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def start(conn: Connection, principal: Principal, now: datetime) -> tuple[str, Session]:
    """A new session: the cookie value (shown to the browser only) and what it stands for."""
    value = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(24)
    conn.execute(
        insert(web_sessions).values(
            id_hash=_digest(value), username=principal.name, role=principal.role, csrf=csrf,
            created_at=now, expires_at=now + LIFETIME,
        )
    )
    # Expired sessions are swept whenever someone logs in: no separate job needed.
    conn.execute(delete(web_sessions).where(web_sessions.c.expires_at < now))
    return value, Session(principal, csrf)


def lookup(conn: Connection, value: str, now: datetime) -> Session | None:
    row = conn.execute(
        select(web_sessions.c.username, web_sessions.c.role, web_sessions.c.csrf, web_sessions.c.expires_at).where(
            web_sessions.c.id_hash == _digest(value)
        )
    ).first()
    if row is None or row.expires_at <= now:
        return None
    return Session(Principal(row.username, row.role), row.csrf)


def end(conn: Connection, value: str) -> None:
    conn.execute(delete(web_sessions).where(web_sessions.c.id_hash == _digest(value)))


LOGIN_CSRF_COOKIE = "shiplane_login_csrf"


def login_csrf_ok(cookie: str | None, submitted: str | None) -> bool:
    """Before anyone is logged in there is no session to hold the token: the form and a cookie carry it."""
    return bool(cookie) and bool(submitted) and hmac.compare_digest(cookie or "", submitted or "")


def csrf_ok(session: Session | None, submitted: str | None) -> bool:
    return session is not None and bool(submitted) and hmac.compare_digest(session.csrf, submitted or "")


class LoginLimiter:
    """Failed logins counted per client address, per username from that address, and per username.

    A guesser at one address is stopped after a few tries at one name (``pair``) or
    a few more across names (``address``); the real user, from another address, can
    still log in. Only a spread-out attack on one name (``user``, many addresses)
    locks that name for everybody, and it needs ten times as many failures.

    Kept in memory, in LRU caches of fixed size: a flood of distinct names or
    addresses cannot grow it. With several server processes each one counts on its
    own (docs/operations.md).
    """

    LIMITS = {"pair": 5, "address": 20, "user": 50}

    def __init__(self, per: timedelta = timedelta(minutes=5), size: int = 10_000, limits: dict[str, int] | None = None) -> None:
        self.per = per
        self.limits = limits or dict(self.LIMITS)
        self.failures: TTLCache[tuple[str, str], deque[datetime]] = TTLCache(maxsize=size, ttl=per.total_seconds())

    @staticmethod
    def keys(username: str, address: str) -> tuple[tuple[str, str], ...]:
        name = username.lower()
        return (("pair", f"{name}@{address}"), ("address", address), ("user", name))

    def _recent(self, key: tuple[str, str], now: datetime) -> deque[datetime]:
        q = self.failures.get(key)
        if q is None:
            q = self.failures[key] = deque()
        while q and q[0] <= now - self.per:
            q.popleft()
        return q

    def retry_after(self, keys: tuple[tuple[str, str], ...], now: datetime) -> float:
        """Seconds until another attempt is allowed (0: allowed now)."""
        wait = 0.0
        for key in keys:
            q = self._recent(key, now)
            if len(q) >= self.limits[key[0]]:
                wait = max(wait, (q[-self.limits[key[0]]] + self.per - now).total_seconds())
        return wait

    def failed(self, keys: tuple[tuple[str, str], ...], now: datetime) -> None:
        for key in keys:
            q = self._recent(key, now)
            q.append(now)
            self.failures[key] = q  # setting again restarts the entry's time to live

    def succeeded(self, keys: tuple[tuple[str, str], ...]) -> None:
        # A correct password clears what this address did, not what others did to the name.
        for key in keys:
            if key[0] != "user":
                self.failures.pop(key, None)
