"""Dashboard sessions, CSRF tokens and the login rate limit."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timedelta

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


def csrf_ok(session: Session | None, submitted: str | None) -> bool:
    return session is not None and bool(submitted) and hmac.compare_digest(session.csrf, submitted or "")


class LoginLimiter:
    """At most ``attempts`` failed logins per ``per`` for one username, and for one client address.

    Kept in memory: with several server processes each one counts on its own, which
    still bounds guessing to a few attempts a minute per process (docs/operations.md).
    """

    def __init__(self, attempts: int = 5, per: timedelta = timedelta(minutes=5)) -> None:
        self.attempts = attempts
        self.per = per
        self.failures: dict[str, deque[datetime]] = {}

    def _recent(self, key: str, now: datetime) -> deque[datetime]:
        q = self.failures.setdefault(key, deque())
        while q and q[0] <= now - self.per:
            q.popleft()
        return q

    def retry_after(self, keys: tuple[str, ...], now: datetime) -> float:
        """Seconds until another attempt is allowed (0: allowed now)."""
        wait = 0.0
        for key in keys:
            q = self._recent(key, now)
            if len(q) >= self.attempts:
                wait = max(wait, (q[0] + self.per - now).total_seconds())
        return wait

    def failed(self, keys: tuple[str, ...], now: datetime) -> None:
        for key in keys:
            self._recent(key, now).append(now)
        if len(self.failures) > 10_000:  # a flood of distinct names must not grow memory without bound
            for key in [k for k, q in self.failures.items() if not q]:
                del self.failures[key]

    def succeeded(self, keys: tuple[str, ...]) -> None:
        for key in keys:
            self.failures.pop(key, None)
