"""Limits shared by every process: the login rate limit and the forge write budgets.

- ``login_failures``: one row per failed dashboard login and per key (the name at an address,
  the address, the name), keyed by a SHA-256 digest; pruned past the 5-minute window and capped
  (``auth.limits``). Before, each server process counted in its own memory.
- ``budget_spends``: the stamps of a forge write budget (claimed batches, sent writes, freeze
  writes), pruned past an hour (``jobs.pacing.SharedPacer``). Before, each worker paced on its own.

New tables only: nothing to backfill (an in-memory count is simply forgotten, as at a restart).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02 14:30:00
"""

from alembic import op
import sqlalchemy as sa
import shiplane.db


revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('login_failures',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('key_hash', sa.String(length=64), nullable=False),
    sa.Column('at', shiplane.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_login_failures'))
    )
    with op.batch_alter_table('login_failures', schema=None) as batch_op:
        batch_op.create_index('ix_login_failures_key_at', ['key_hash', 'at'], unique=False)
        batch_op.create_index('ix_login_failures_at', ['at'], unique=False)

    op.create_table('budget_spends',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('budget', sa.String(length=64), nullable=False),
    sa.Column('at', shiplane.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_budget_spends'))
    )
    with op.batch_alter_table('budget_spends', schema=None) as batch_op:
        batch_op.create_index('ix_budget_spends_budget_at', ['budget', 'at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('budget_spends', schema=None) as batch_op:
        batch_op.drop_index('ix_budget_spends_budget_at')
    op.drop_table('budget_spends')
    with op.batch_alter_table('login_failures', schema=None) as batch_op:
        batch_op.drop_index('ix_login_failures_at')
        batch_op.drop_index('ix_login_failures_key_at')
    op.drop_table('login_failures')
