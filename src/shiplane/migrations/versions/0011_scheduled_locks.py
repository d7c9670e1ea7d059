"""Scheduled locks: ``locks.starts_at``; manual locks may now share a scope when their periods do not overlap.

- ``starts_at`` (not null): when the lock starts blocking. Existing rows are backfilled with
  ``created_at`` (they started when they were made).
- ``started_at`` (nullable): when the worker recorded a scheduled lock's start (``lock_started``);
  the time it was made for a lock taken at once (existing rows: ``created_at``).
- ``uq_locks_active_manual`` (one un-ended manual lock per scope) becomes the plain partial index
  ``ix_locks_manual_scope``: a lock for tonight may be scheduled while today's is still on. The
  overlap rule is checked in ``locks.service`` with lock creation serialised per environment.
- ``ix_locks_to_start`` (partial, on ``starts_at`` of un-ended, not yet started locks): the
  worker's look for scheduled locks to start stays a range scan beside 100,000 past locks.

Batch mode for SQLite, as everywhere.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02 14:30:00
"""

from alembic import op
import sqlalchemy as sa
import shiplane.db


revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None

_WHERE = "kind = 'manual' AND ended_at IS NULL"
_TO_START = "ended_at IS NULL AND started_at IS NULL"


def upgrade() -> None:
    with op.batch_alter_table('locks', schema=None) as batch_op:
        batch_op.add_column(sa.Column('starts_at', shiplane.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('started_at', shiplane.db.UTCDateTime(timezone=True), nullable=True))
    op.execute("UPDATE locks SET starts_at = created_at, started_at = created_at")
    with op.batch_alter_table('locks', schema=None) as batch_op:
        batch_op.alter_column('starts_at', existing_type=shiplane.db.UTCDateTime(timezone=True), nullable=False)
        batch_op.drop_index('uq_locks_active_manual', sqlite_where=sa.text(_WHERE), postgresql_where=sa.text(_WHERE))
        batch_op.create_index('ix_locks_manual_scope', ['scope_key'], unique=False, sqlite_where=sa.text(_WHERE), postgresql_where=sa.text(_WHERE))
        batch_op.create_index('ix_locks_to_start', ['starts_at'], unique=False, sqlite_where=sa.text(_TO_START), postgresql_where=sa.text(_TO_START))


def downgrade() -> None:
    with op.batch_alter_table('locks', schema=None) as batch_op:
        batch_op.drop_index('ix_locks_to_start', sqlite_where=sa.text(_TO_START), postgresql_where=sa.text(_TO_START))
        batch_op.drop_index('ix_locks_manual_scope', sqlite_where=sa.text(_WHERE), postgresql_where=sa.text(_WHERE))
        batch_op.create_index('uq_locks_active_manual', ['scope_key'], unique=True, sqlite_where=sa.text(_WHERE), postgresql_where=sa.text(_WHERE))
        batch_op.drop_column('started_at')
        batch_op.drop_column('starts_at')
