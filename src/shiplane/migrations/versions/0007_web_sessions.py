"""Dashboard sessions (only a hash of the cookie value is stored).

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29 09:00:00
"""

from alembic import op
import sqlalchemy as sa
import shiplane.db  # noqa: F401


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('web_sessions',
    sa.Column('id_hash', sa.String(length=64), nullable=False),
    sa.Column('username', sa.String(length=150), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('csrf', sa.String(length=64), nullable=False),
    sa.Column('created_at', shiplane.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', shiplane.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id_hash', name=op.f('pk_web_sessions'))
    )
    with op.batch_alter_table('web_sessions', schema=None) as batch_op:
        batch_op.create_index('ix_web_sessions_expires', ['expires_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('web_sessions', schema=None) as batch_op:
        batch_op.drop_index('ix_web_sessions_expires')
    op.drop_table('web_sessions')
