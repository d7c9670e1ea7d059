"""The DORA lead-time index, the judge's schedule (deploys.health_next_at) and incidents: attached to the latest deploy before they began; the health they
override is kept so that resolving them restores it.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26 07:56:26.106288
"""

from alembic import op
import sqlalchemy as sa
import shiplane.db  # noqa: F401
from sqlalchemy import Text  # noqa: F401  (autogenerate renders JSONB(astext_type=Text()))


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('deploy_commits', schema=None) as batch_op:
        batch_op.create_index('ix_deploy_commits_lead', ['deploy_id', 'committed_at'], unique=False)
    with op.batch_alter_table('deploys', schema=None) as batch_op:
        batch_op.add_column(sa.Column('health_next_at', shiplane.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.create_index('ix_deploys_health_due', ['health_next_at'], unique=False, sqlite_where=sa.text("health_final = false AND status = 'succeeded'"), postgresql_where=sa.text("health_final = false AND status = 'succeeded'"))
    op.create_table('incidents',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=200), nullable=False),
    sa.Column('environment', sa.String(length=64), nullable=False),
    sa.Column('service', sa.String(length=64), nullable=True),
    sa.Column('title', sa.String(length=500), nullable=True),
    sa.Column('url', sa.String(length=2000), nullable=True),
    sa.Column('started_at', shiplane.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('resolved_at', shiplane.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('deploy_id', sa.Integer(), nullable=True),
    sa.Column('previous_health', sa.String(length=16), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_incidents')),
    sa.UniqueConstraint('key', name=op.f('uq_incidents_key'))
    )
    with op.batch_alter_table('incidents', schema=None) as batch_op:
        batch_op.create_index('ix_incidents_deploy', ['deploy_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('deploy_commits', schema=None) as batch_op:
        batch_op.drop_index('ix_deploy_commits_lead')
    with op.batch_alter_table('deploys', schema=None) as batch_op:
        batch_op.drop_index('ix_deploys_health_due')
        batch_op.drop_column('health_next_at')
    with op.batch_alter_table('incidents', schema=None) as batch_op:
        batch_op.drop_index('ix_incidents_deploy')

    op.drop_table('incidents')
