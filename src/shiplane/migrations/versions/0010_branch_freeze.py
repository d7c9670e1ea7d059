"""Merge freeze in one write: branch freezes, held merge groups, pull request labels.

- ``branch_freezes``: per service with ``merge_freeze = "branch" | "both"``, the freeze Shiplane
  wants (``desired``) and what it last made or saw at the forge (``state``), the forge's id of the
  object Shiplane created (``ref``: a GitHub ruleset or a Bitbucket branch restriction, the only
  objects it ever edits or deletes), GitLab's merge access levels before the freeze
  (``previous``, restored exactly), and a permanent error (``failed``) under which statuses
  take over.
- ``merge_groups``: GitHub merge groups that asked for checks while the merge gate was closed,
  held with a pending status and released (or reported as dropped) afterwards.
- ``pull_requests.labels`` (for ``exempt_labels``) and ``pull_requests.exempt_for`` (the lock
  status under which a ``merge_exempted`` event was recorded: one event per lock, not per push).

New tables and nullable columns only: existing rows need no backfill (labels arrive with the
next listing or webhook). Batch mode for SQLite, as everywhere.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 12:00:00
"""

from alembic import op
import sqlalchemy as sa
import shiplane.db
from sqlalchemy.dialects import postgresql


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')


def upgrade() -> None:
    op.create_table('branch_freezes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('service', sa.String(length=64), nullable=False),
    sa.Column('forge', sa.String(length=16), nullable=False),
    sa.Column('repo', sa.String(length=300), nullable=False),
    sa.Column('branch', sa.String(length=200), nullable=False),
    sa.Column('desired', sa.String(length=8), nullable=False),
    sa.Column('state', sa.String(length=8), nullable=False),
    sa.Column('ref', sa.String(length=64), nullable=True),
    sa.Column('previous', JSON, nullable=True),
    sa.Column('writing', sa.Boolean(), nullable=False),
    sa.Column('failed', sa.Boolean(), nullable=False),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('last_error_at', shiplane.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('changed_at', shiplane.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('checked_at', shiplane.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('next_check_at', shiplane.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('updated_at', shiplane.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_branch_freezes')),
    sa.UniqueConstraint('service', name=op.f('uq_branch_freezes_service'))
    )
    op.create_table('merge_groups',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('forge', sa.String(length=16), nullable=False),
    sa.Column('repo', sa.String(length=300), nullable=False),
    sa.Column('head_sha', sa.String(length=64), nullable=False),
    sa.Column('head_ref', sa.String(length=300), nullable=False),
    sa.Column('base', sa.String(length=200), nullable=False),
    sa.Column('pulls', JSON, nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('requested_at', shiplane.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', shiplane.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_merge_groups')),
    sa.UniqueConstraint('forge', 'repo', 'head_sha', name='uq_merge_groups_head')
    )
    with op.batch_alter_table('merge_groups', schema=None) as batch_op:
        batch_op.create_index('ix_merge_groups_state', ['forge', 'repo', 'state'], unique=False)
    with op.batch_alter_table('pull_requests', schema=None) as batch_op:
        batch_op.add_column(sa.Column('labels', JSON, nullable=True))
        batch_op.add_column(sa.Column('exempt_for', sa.String(length=32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('pull_requests', schema=None) as batch_op:
        batch_op.drop_column('exempt_for')
        batch_op.drop_column('labels')
    with op.batch_alter_table('merge_groups', schema=None) as batch_op:
        batch_op.drop_index('ix_merge_groups_state')
    op.drop_table('merge_groups')
    op.drop_table('branch_freezes')
