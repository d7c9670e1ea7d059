from sqlalchemy import Column, Index, Integer, String, Table, Text, text

from shiplane.db import JSONType, UTCDateTime, metadata

# The durable outbox. A row is written in the same transaction as the state
# change it delivers; the worker claims due rows with a conditional update.
jobs = Table(
    "jobs",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("kind", String(64), nullable=False),
    # Idempotency: enqueueing the same key twice is a no-op, so a retried
    # transaction or a second worker cannot queue a delivery twice.
    Column("dedupe_key", String(300), nullable=True, unique=True),
    Column("payload", JSONType, nullable=False, default=dict),
    Column("state", String(16), nullable=False, default="pending"),  # pending | done | dead
    Column("attempts", Integer, nullable=False, default=0),
    Column("max_attempts", Integer, nullable=False, default=20),
    Column("run_at", UTCDateTime, nullable=False),
    Column("claimed_until", UTCDateTime, nullable=True),
    Column("claimed_by", String(100), nullable=True),
    Column("last_error", Text, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("finished_at", UTCDateTime, nullable=True),
    Index(
        "ix_jobs_due",
        "run_at",
        sqlite_where=text("state = 'pending'"),
        postgresql_where=text("state = 'pending'"),
    ),
)

# Forge write budgets shared by every worker process (jobs.pacing.SharedPacer): one row per
# claimed batch or sent write, deleted once older than the longest window (an hour).
budget_spends = Table(
    "budget_spends",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("budget", String(64), nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Column("count", Integer, nullable=False),
    Index("ix_budget_spends_budget_at", "budget", "at"),
)
