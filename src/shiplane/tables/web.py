from sqlalchemy import Column, Index, String, Table

from shiplane.db import UTCDateTime, metadata

# Dashboard sessions live in the database, so that every server process knows
# them, a logout ends them everywhere, and a restart keeps people logged in.
# Only a hash of the cookie value is stored.
web_sessions = Table(
    "web_sessions",
    metadata,
    Column("id_hash", String(64), primary_key=True),
    Column("username", String(150), nullable=False),
    Column("role", String(16), nullable=False),
    Column("csrf", String(64), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Index("ix_web_sessions_expires", "expires_at"),
)
