from sqlalchemy import Column, Index, Integer, String, Table

from shiplane.db import JSONType, UTCDateTime, metadata

# Append-only audit log. Slugs are copied in (not foreign keys) so an event
# reads the same forever, whatever is renamed later.
events = Table(
    "events",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("at", UTCDateTime, nullable=False),
    Column("kind", String(64), nullable=False),
    Column("actor", String(200), nullable=True),
    Column("environment", String(64), nullable=True),
    Column("service", String(64), nullable=True),
    Column("deploy_id", Integer, nullable=True),
    Column("lock_id", Integer, nullable=True),
    Column("data", JSONType, nullable=False, default=dict),
    Index("ix_events_at_id", "at", "id"),
    Index("ix_events_kind_at", "kind", "at"),
)
