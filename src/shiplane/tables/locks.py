from sqlalchemy import Boolean, Column, ForeignKey, Index, Integer, String, Table, Text, text

from shiplane.db import JSONType, UTCDateTime, metadata

locks = Table(
    "locks",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("environment_id", Integer, ForeignKey("environments.id"), nullable=False),
    Column("service_id", Integer, ForeignKey("services.id"), nullable=True),  # NULL: every service
    # "<environment_id>:<service_id or *>": one value per scope (service_id may be NULL).
    # Manual locks on one scope may not overlap in time (scheduled ones included); the check
    # is in locks.service.create/update, serialised per environment (see _serialise there).
    Column("scope_key", String(40), nullable=False),
    Column("kind", String(16), nullable=False),  # manual | auto
    Column("reason", Text, nullable=False),
    Column("created_by", String(200), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    # When the lock starts blocking: created_at for a lock taken now, later for a scheduled one.
    Column("starts_at", UTCDateTime, nullable=False),
    # When its start was recorded (``lock_started``): NULL while a scheduled lock waits for the worker.
    Column("started_at", UTCDateTime, nullable=True),
    Column("expires_at", UTCDateTime, nullable=True),
    Column("ended_at", UTCDateTime, nullable=True),
    Column("ended_by", String(200), nullable=True),
    Column("end_note", Text, nullable=True),
    Column("deploy_id", Integer, nullable=True),  # auto locks: the deploy that caused it
    Index(
        "ix_locks_manual_scope",
        "scope_key",
        sqlite_where=text("kind = 'manual' AND ended_at IS NULL"),
        postgresql_where=text("kind = 'manual' AND ended_at IS NULL"),
    ),
    # The gate reads only active locks; with 100,000 past ones this stays tiny.
    Index(
        "ix_locks_active",
        "environment_id",
        sqlite_where=text("ended_at IS NULL"),
        postgresql_where=text("ended_at IS NULL"),
    ),
    Index("ix_locks_created", "created_at", "id"),
    # The worker's "which scheduled locks start now, and when is the next": a range scan, not a
    # pass over every past lock, once a second.
    Index(
        "ix_locks_to_start",
        "starts_at",
        sqlite_where=text("ended_at IS NULL AND started_at IS NULL"),
        postgresql_where=text("ended_at IS NULL AND started_at IS NULL"),
    ),
)

# The scheduler's memory: the last gate state seen for each watched scope and
# when to look again. Lets the worker emit each gate change exactly once, wake
# at the next boundary, and catch up after a restart.
gate_watch = Table(
    "gate_watch",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("environment_id", Integer, ForeignKey("environments.id"), nullable=False),
    Column("service_id", Integer, ForeignKey("services.id"), nullable=True),
    Column("scope_key", String(40), nullable=False, unique=True),
    Column("allowed", Boolean, nullable=True),  # NULL until first evaluated
    Column("blockers", JSONType, nullable=True),
    Column("signature", String(64), nullable=True),
    Column("next_check_at", UTCDateTime, nullable=True),
    Column("version", Integer, nullable=False, default=0),
    Column("changed_at", UTCDateTime, nullable=True),
    Index("ix_gate_watch_due", "next_check_at"),
)
