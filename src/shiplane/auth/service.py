"""API tokens and dashboard users."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import insert, select, update
from sqlalchemy.engine import Connection

from shiplane.db import conflict_insert
from shiplane.errors import Conflict, Invalid
from shiplane.tables.auth import api_tokens, users

ROLES = ("viewer", "deployer", "admin")
_RANK = {role: i for i, role in enumerate(ROLES)}
_hasher = PasswordHasher()


@dataclass(frozen=True)
class Principal:
    name: str
    role: str

    def has(self, role: str) -> bool:
        return _RANK[self.role] >= _RANK[role]


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    return "shp_" + secrets.token_urlsafe(32)


def _check_role(role: str) -> None:
    if role not in _RANK:
        raise Invalid("role", f"must be one of {', '.join(ROLES)} (got {role!r})")


def create_token(conn: Connection, name: str, role: str, now: datetime, token: str | None = None) -> str:
    _check_role(role)
    token = token or new_token()
    conn.execute(insert(api_tokens).values(name=name, role=role, token_hash=hash_token(token), created_at=now))
    return token


def ensure_bootstrap_token(conn: Connection, token: str, now: datetime) -> None:
    """Make sure an admin token with exactly this value exists (SHIPLANE_BOOTSTRAP_TOKEN)."""
    digest = hash_token(token)
    row = conn.execute(select(api_tokens.c.id, api_tokens.c.role).where(api_tokens.c.token_hash == digest)).first()
    if row is None:
        # A server and a worker starting together both get here: the second insert does nothing.
        values = {"name": "bootstrap", "role": "admin", "token_hash": digest, "created_at": now}
        conn.execute(conflict_insert(conn.dialect.name, api_tokens).values(**values).on_conflict_do_nothing(index_elements=["token_hash"]))
    elif row.role != "admin":
        conn.execute(update(api_tokens).where(api_tokens.c.id == row.id).values(role="admin"))


def principal_for_digest(conn: Connection, token_hash: str) -> Principal | None:
    row = conn.execute(
        select(api_tokens.c.name, api_tokens.c.role).where(api_tokens.c.token_hash == token_hash)
    ).first()
    return Principal(name=f"token:{row.name}", role=row.role) if row else None


def create_user(conn: Connection, username: str, role: str, password: str, now: datetime) -> None:
    _check_role(role)
    if not username.strip():
        raise Invalid("username", "must not be blank")
    if len(password) < 8:
        raise Invalid("password", "must be at least 8 characters")
    exists = conn.execute(select(users.c.id).where(users.c.username == username)).first()
    if exists:
        raise Conflict(f"user {username!r} already exists")
    conn.execute(
        insert(users).values(username=username, role=role, password_hash=_hasher.hash(password), created_at=now)
    )


# The password hash of a user who signs in through single sign-on: no password can match it.
SSO_HASH = "!sso"


def sso_user(conn: Connection, username: str, role: str, now: datetime) -> Principal:
    """The user a single sign-on login names: created with the mapped role when first seen, and
    given the role the provider's claims map to now at every later login. A local user of the same
    name (one with a password) is never taken over."""
    _check_role(role)
    row = conn.execute(select(users.c.id, users.c.password_hash).where(users.c.username == username)).first()
    if row is None:
        conn.execute(insert(users).values(username=username, role=role, password_hash=SSO_HASH, created_at=now))
    elif row.password_hash != SSO_HASH:
        raise Conflict(f"a local user named {username!r} exists; single sign-on does not log in as a local user")
    else:
        conn.execute(update(users).where(users.c.id == row.id).values(role=role))
    return Principal(username, role)


def user_credentials(conn: Connection, username: str) -> Any:
    """The user's role and password hash, or None (a quick read: the slow argon2 check is apart)."""
    if "\x00" in username:  # PostgreSQL text cannot hold NUL, and no username has one
        return None
    return conn.execute(select(users.c.role, users.c.password_hash).where(users.c.username == username)).first()


def verify_password(credentials: Any, username: str, password: str) -> Principal | None:
    """argon2: tens of milliseconds of CPU and 64 MiB. Callers on the event loop run it in a thread."""
    if credentials is None:
        # Spend the same time as a real check so usernames cannot be probed by timing.
        _hasher.hash(password)
        return None
    try:
        _hasher.verify(credentials.password_hash, password)
    except (VerificationError, InvalidHashError):
        return None
    return Principal(name=username, role=credentials.role)
