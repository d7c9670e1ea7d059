"""Dashboard sessions and CSRF tokens (the login rate limit is auth.limits)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
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


LOGIN_CSRF_COOKIE = "shiplane_login_csrf"


def login_csrf_ok(cookie: str | None, submitted: str | None) -> bool:
    """Before anyone is logged in there is no session to hold the token: the form and a cookie carry it."""
    return bool(cookie) and bool(submitted) and hmac.compare_digest(cookie or "", submitted or "")


def csrf_ok(session: Session | None, submitted: str | None) -> bool:
    return session is not None and bool(submitted) and hmac.compare_digest(session.csrf, submitted or "")
