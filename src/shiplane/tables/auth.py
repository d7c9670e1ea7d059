from sqlalchemy import Column, Index, Integer, String, Table

from shiplane.db import UTCDateTime, metadata

api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(200), nullable=False),
    Column("role", String(16), nullable=False),
    # sha256 of the token: tokens are 256-bit random, so a fast hash is safe
    # and keeps per-request auth cheap (argon2 is for low-entropy passwords).
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("created_at", UTCDateTime, nullable=False),
)

users = Table(
    "users",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("username", String(150), nullable=False, unique=True),
    Column("role", String(16), nullable=False),
    Column("password_hash", String(255), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)

# Failed dashboard logins, shared by every server process (auth.limits). A row per failure and
# per key (the name at an address, the address, the name), keyed by a SHA-256 digest so whatever
# a caller types costs 64 characters; rows older than the window are deleted on every failure and
# the table is capped (auth.limits.MAX_ROWS), so garbage cannot grow it without bound.
login_failures = Table(
    "login_failures",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("key_hash", String(64), nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Index("ix_login_failures_key_at", "key_hash", "at"),
    Index("ix_login_failures_at", "at"),
)
