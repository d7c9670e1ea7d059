"""The (service, environment, sha) index also carries deploy time, newest last.

Registration looks up the latest earlier deploy of the same sha in a scope
(rollback detection) with ORDER BY deployed_at DESC, id DESC LIMIT 1. With the
index on (service_id, environment_id, sha) alone, SQLite's planner preferred
ix_deploys_scope_time for the ordering and walked every deploy of the scope:
registration cost grew with the scope's history (0.85 ms for the lookup at 2,000
deploys in a scope). With the order columns in this index the lookup is one
descent whatever the history.

Plain CREATE/DROP INDEX: no table rebuild, so the DORA triggers of 0008 stay.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-29 11:30:00
"""

from alembic import op


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index('ix_deploys_scope_sha', table_name='deploys')
    op.create_index('ix_deploys_scope_sha', 'deploys', ['service_id', 'environment_id', 'sha', 'deployed_at', 'id'])


def downgrade() -> None:
    op.drop_index('ix_deploys_scope_sha', table_name='deploys')
    op.create_index('ix_deploys_scope_sha', 'deploys', ['service_id', 'environment_id', 'sha'])
