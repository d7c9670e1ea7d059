"""What shipped: each deploy's change source, a note when its change list is empty
(for example a first deploy), its batch size, and the files each commit touched.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26 07:45:28.703933
"""

from alembic import op
import sqlalchemy as sa
from sqlalchemy import Text  # noqa: F401  (autogenerate renders JSONB(astext_type=Text()))
from sqlalchemy.dialects import postgresql

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('deploy_commits', schema=None) as batch_op:
        batch_op.add_column(sa.Column('files', sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), 'postgresql'), nullable=True))

    with op.batch_alter_table('deploys', schema=None) as batch_op:
        batch_op.add_column(sa.Column('changes_source', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('changes_note', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('commit_count', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('files_changed', sa.Integer(), nullable=True))
        batch_op.create_index('ix_deploys_changes_pending', ['id'], unique=False, sqlite_where=sa.text("status = 'succeeded' AND changes_source IS NULL"), postgresql_where=sa.text("status = 'succeeded' AND changes_source IS NULL"))



def downgrade() -> None:
    with op.batch_alter_table('deploys', schema=None) as batch_op:
        batch_op.drop_index('ix_deploys_changes_pending')
        batch_op.drop_column('files_changed')
        batch_op.drop_column('commit_count')
        batch_op.drop_column('changes_note')
        batch_op.drop_column('changes_source')

    with op.batch_alter_table('deploy_commits', schema=None) as batch_op:
        batch_op.drop_column('files')

