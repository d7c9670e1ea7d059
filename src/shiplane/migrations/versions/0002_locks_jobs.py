"""Locks (manual and automatic), the scheduler's gate_watch table and the durable jobs outbox.

uq_locks_active_manual enforces one active manual lock per scope on both engines;
ix_locks_active keeps gate reads independent of how many past locks exist.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26 06:56:18.807499
"""

from alembic import op
import sqlalchemy as sa
import shiplane.db
from sqlalchemy.dialects import postgresql

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('jobs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=64), nullable=False),
    sa.Column('dedupe_key', sa.String(length=300), nullable=True),
    sa.Column('payload', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('max_attempts', sa.Integer(), nullable=False),
    sa.Column('run_at', shiplane.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('claimed_until', shiplane.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('claimed_by', sa.String(length=100), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('created_at', shiplane.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('finished_at', shiplane.db.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_jobs')),
    sa.UniqueConstraint('dedupe_key', name=op.f('uq_jobs_dedupe_key'))
    )
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.create_index('ix_jobs_due', ['run_at'], unique=False, sqlite_where=sa.text("state = 'pending'"), postgresql_where=sa.text("state = 'pending'"))

    op.create_table('gate_watch',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('environment_id', sa.Integer(), nullable=False),
    sa.Column('service_id', sa.Integer(), nullable=True),
    sa.Column('scope_key', sa.String(length=40), nullable=False),
    sa.Column('allowed', sa.Boolean(), nullable=True),
    sa.Column('blockers', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('signature', sa.String(length=64), nullable=True),
    sa.Column('next_check_at', shiplane.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('changed_at', shiplane.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['environment_id'], ['environments.id'], name=op.f('fk_gate_watch_environment_id_environments')),
    sa.ForeignKeyConstraint(['service_id'], ['services.id'], name=op.f('fk_gate_watch_service_id_services')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_gate_watch')),
    sa.UniqueConstraint('scope_key', name=op.f('uq_gate_watch_scope_key'))
    )
    with op.batch_alter_table('gate_watch', schema=None) as batch_op:
        batch_op.create_index('ix_gate_watch_due', ['next_check_at'], unique=False)

    op.create_table('locks',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('environment_id', sa.Integer(), nullable=False),
    sa.Column('service_id', sa.Integer(), nullable=True),
    sa.Column('scope_key', sa.String(length=40), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('created_by', sa.String(length=200), nullable=False),
    sa.Column('created_at', shiplane.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', shiplane.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('ended_at', shiplane.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('ended_by', sa.String(length=200), nullable=True),
    sa.Column('end_note', sa.Text(), nullable=True),
    sa.Column('deploy_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['environment_id'], ['environments.id'], name=op.f('fk_locks_environment_id_environments')),
    sa.ForeignKeyConstraint(['service_id'], ['services.id'], name=op.f('fk_locks_service_id_services')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_locks'))
    )
    with op.batch_alter_table('locks', schema=None) as batch_op:
        batch_op.create_index('ix_locks_active', ['environment_id'], unique=False, sqlite_where=sa.text('ended_at IS NULL'), postgresql_where=sa.text('ended_at IS NULL'))
        batch_op.create_index('ix_locks_created', ['created_at', 'id'], unique=False)
        batch_op.create_index('uq_locks_active_manual', ['scope_key'], unique=True, sqlite_where=sa.text("kind = 'manual' AND ended_at IS NULL"), postgresql_where=sa.text("kind = 'manual' AND ended_at IS NULL"))



def downgrade() -> None:
    with op.batch_alter_table('locks', schema=None) as batch_op:
        batch_op.drop_index('uq_locks_active_manual', sqlite_where=sa.text("kind = 'manual' AND ended_at IS NULL"), postgresql_where=sa.text("kind = 'manual' AND ended_at IS NULL"))
        batch_op.drop_index('ix_locks_created')
        batch_op.drop_index('ix_locks_active', sqlite_where=sa.text('ended_at IS NULL'), postgresql_where=sa.text('ended_at IS NULL'))

    op.drop_table('locks')
    with op.batch_alter_table('gate_watch', schema=None) as batch_op:
        batch_op.drop_index('ix_gate_watch_due')

    op.drop_table('gate_watch')
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.drop_index('ix_jobs_due', sqlite_where=sa.text("state = 'pending'"), postgresql_where=sa.text("state = 'pending'"))

    op.drop_table('jobs')
