"""Notifications: the relay's cursor in the event log. It starts at the newest
event, so an existing installation does not post its whole history to Slack the
first time a ``[[notify]]`` entry is configured.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26 09:12:40.118532
"""

from alembic import op
import sqlalchemy as sa
import shiplane.db
from sqlalchemy import Text  # noqa: F401  (autogenerate renders JSONB(astext_type=Text()))


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('notify_cursor',
    sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('last_event_id', sa.Integer(), nullable=False),
    sa.Column('gap_since', shiplane.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('updated_at', shiplane.db.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_notify_cursor'))
    )
    op.execute("INSERT INTO notify_cursor (id, last_event_id) SELECT 1, COALESCE(MAX(id), 0) FROM events")


def downgrade() -> None:
    op.drop_table('notify_cursor')
