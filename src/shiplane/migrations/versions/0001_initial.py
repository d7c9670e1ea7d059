"""Initial schema: services, environments, deploys and their commits, events,
API tokens, dashboard users and pushed metric samples.

The partial unique index uq_deploys_in_progress is what makes "one deploy in
progress per service and environment" hold under concurrency on both engines.

Revision ID: 0001
Revises: 
Create Date: 2026-11-26 06:51:13.574625
"""

from alembic import op
import sqlalchemy as sa
import shiplane.db
from sqlalchemy.dialects import postgresql

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('api_tokens',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', shiplane.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_api_tokens')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_api_tokens_token_hash'))
    )
    op.create_table('environments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('slug', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('production', sa.Boolean(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=True),
    sa.Column('created_at', shiplane.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_environments')),
    sa.UniqueConstraint('slug', name=op.f('uq_environments_slug'))
    )
    op.create_table('events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('at', shiplane.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('kind', sa.String(length=64), nullable=False),
    sa.Column('actor', sa.String(length=200), nullable=True),
    sa.Column('environment', sa.String(length=64), nullable=True),
    sa.Column('service', sa.String(length=64), nullable=True),
    sa.Column('deploy_id', sa.Integer(), nullable=True),
    sa.Column('lock_id', sa.Integer(), nullable=True),
    sa.Column('data', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_events'))
    )
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.create_index('ix_events_at_id', ['at', 'id'], unique=False)
        batch_op.create_index('ix_events_kind_at', ['kind', 'at'], unique=False)

    op.create_table('metric_samples',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('metric', sa.String(length=200), nullable=False),
    sa.Column('environment', sa.String(length=64), nullable=False),
    sa.Column('service', sa.String(length=64), nullable=True),
    sa.Column('value', sa.Float(), nullable=False),
    sa.Column('at', shiplane.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_metric_samples'))
    )
    with op.batch_alter_table('metric_samples', schema=None) as batch_op:
        batch_op.create_index('ix_metric_samples_lookup', ['metric', 'environment', 'at'], unique=False)

    op.create_table('services',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('slug', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('repo', sa.String(length=300), nullable=False),
    sa.Column('branch', sa.String(length=200), nullable=False),
    sa.Column('paths', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('created_at', shiplane.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_services')),
    sa.UniqueConstraint('slug', name=op.f('uq_services_slug'))
    )
    op.create_table('users',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('username', sa.String(length=150), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('password_hash', sa.String(length=255), nullable=False),
    sa.Column('created_at', shiplane.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_users')),
    sa.UniqueConstraint('username', name=op.f('uq_users_username'))
    )
    op.create_table('deploys',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('service_id', sa.Integer(), nullable=False),
    sa.Column('environment_id', sa.Integer(), nullable=False),
    sa.Column('sha', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('registered_at', shiplane.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('started_at', shiplane.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('finished_at', shiplane.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('deployed_at', shiplane.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('version', sa.String(length=200), nullable=True),
    sa.Column('author', sa.String(length=200), nullable=True),
    sa.Column('email', sa.String(length=254), nullable=True),
    sa.Column('url', sa.String(length=2000), nullable=True),
    sa.Column('tags', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('during_lock', sa.Boolean(), nullable=False),
    sa.Column('override_reason', sa.Text(), nullable=True),
    sa.Column('override_by', sa.String(length=200), nullable=True),
    sa.Column('registered_by', sa.String(length=200), nullable=True),
    sa.Column('rollback_of', sa.Integer(), nullable=True),
    sa.Column('has_changes', sa.Boolean(), nullable=False),
    sa.Column('health_state', sa.String(length=16), nullable=False),
    sa.Column('health_score', sa.Float(), nullable=True),
    sa.Column('health_final', sa.Boolean(), nullable=False),
    sa.Column('health_reason', sa.Text(), nullable=True),
    sa.Column('health_detail', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.ForeignKeyConstraint(['environment_id'], ['environments.id'], name=op.f('fk_deploys_environment_id_environments')),
    sa.ForeignKeyConstraint(['service_id'], ['services.id'], name=op.f('fk_deploys_service_id_services')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_deploys'))
    )
    with op.batch_alter_table('deploys', schema=None) as batch_op:
        batch_op.create_index('ix_deploys_env_time', ['environment_id', 'deployed_at', 'id'], unique=False)
        batch_op.create_index('ix_deploys_scope_sha', ['service_id', 'environment_id', 'sha'], unique=False)
        batch_op.create_index('ix_deploys_scope_time', ['service_id', 'environment_id', 'deployed_at', 'id'], unique=False)
        batch_op.create_index('ix_deploys_time', ['deployed_at', 'id'], unique=False)
        batch_op.create_index('uq_deploys_in_progress', ['service_id', 'environment_id'], unique=True, sqlite_where=sa.text("status = 'started'"), postgresql_where=sa.text("status = 'started'"))

    op.create_table('deploy_commits',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('deploy_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('sha', sa.String(length=64), nullable=False),
    sa.Column('message', sa.Text(), nullable=False),
    sa.Column('author_name', sa.String(length=200), nullable=True),
    sa.Column('author_email', sa.String(length=254), nullable=True),
    sa.Column('author_username', sa.String(length=200), nullable=True),
    sa.Column('committed_at', shiplane.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('url', sa.String(length=2000), nullable=True),
    sa.Column('pull_requests', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('issue_keys', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.ForeignKeyConstraint(['deploy_id'], ['deploys.id'], name=op.f('fk_deploy_commits_deploy_id_deploys'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_deploy_commits'))
    )
    with op.batch_alter_table('deploy_commits', schema=None) as batch_op:
        batch_op.create_index('ix_deploy_commits_deploy', ['deploy_id', 'position'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('deploy_commits', schema=None) as batch_op:
        batch_op.drop_index('ix_deploy_commits_deploy')

    op.drop_table('deploy_commits')
    with op.batch_alter_table('deploys', schema=None) as batch_op:
        batch_op.drop_index('uq_deploys_in_progress', sqlite_where=sa.text("status = 'started'"), postgresql_where=sa.text("status = 'started'"))
        batch_op.drop_index('ix_deploys_time')
        batch_op.drop_index('ix_deploys_scope_time')
        batch_op.drop_index('ix_deploys_scope_sha')
        batch_op.drop_index('ix_deploys_env_time')

    op.drop_table('deploys')
    op.drop_table('users')
    op.drop_table('services')
    with op.batch_alter_table('metric_samples', schema=None) as batch_op:
        batch_op.drop_index('ix_metric_samples_lookup')

    op.drop_table('metric_samples')
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.drop_index('ix_events_kind_at')
        batch_op.drop_index('ix_events_at_id')

    op.drop_table('events')
    op.drop_table('environments')
    op.drop_table('api_tokens')
