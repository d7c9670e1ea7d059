"""DORA roll-ups: a row per environment, service and local day (dora_days), the
marks that say which rows may be out of date (dora_marks), the settings the rows
were built for (dora_state), and the triggers that write the marks.

The triggers fire on every write to deploys, deploy_commits and incidents that
DORA reads, in the writer's own transaction, so no code path (the API, the
worker, a script, a hand-written UPDATE) can change what DORA reports without
leaving a mark. dora_days starts empty with dora_state.timezone NULL: the first
refresh (the worker, or the first GET /api/v1/dora) builds it from the deploys
for the configured [dora] settings; until then reports read the deploys.

SQLite drops a table's triggers with the table: a later migration that
batch-rebuilds deploys, deploy_commits or incidents must create these triggers
again (tests/functional/test_dora_rollups.py checks they exist at head).

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-29 09:30:00
"""

from alembic import op
import sqlalchemy as sa
import shiplane.db  # noqa: F401


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None

COUNTED = "('rolled_back', 'succeeded')"
MARK = "INSERT INTO dora_marks (environment_id, service_id, at)"
# A deploy moves (and its old place needs a mark too) when its time or scope changes.
MOVED = (
    "OLD.deployed_at IS NOT NEW.deployed_at OR OLD.service_id IS NOT NEW.service_id"
    " OR OLD.environment_id IS NOT NEW.environment_id"
)
CHANGED = (
    f"OLD.status IS NOT NEW.status OR OLD.health_state IS NOT NEW.health_state"
    f" OR OLD.rollback_of IS NOT NEW.rollback_of OR {MOVED}"
)


def _of(ref: str) -> str:
    """The mark for the deploy a commit or an incident row points at."""
    return f"{MARK} SELECT environment_id, service_id, deployed_at FROM deploys WHERE id = {ref} AND status IN {COUNTED}"


SQLITE = [
    f"""CREATE TRIGGER dora_mark_deploy_insert AFTER INSERT ON deploys WHEN NEW.status IN {COUNTED}
    BEGIN {MARK} VALUES (NEW.environment_id, NEW.service_id, NEW.deployed_at); END""",
    f"""CREATE TRIGGER dora_mark_deploy_update
    AFTER UPDATE OF status, health_state, deployed_at, rollback_of, service_id, environment_id ON deploys
    WHEN (OLD.status IN {COUNTED} OR NEW.status IN {COUNTED}) AND ({CHANGED})
    BEGIN
        {MARK} SELECT OLD.environment_id, OLD.service_id, OLD.deployed_at
            WHERE OLD.status IN {COUNTED} AND (NEW.status NOT IN {COUNTED} OR {MOVED});
        {MARK} SELECT NEW.environment_id, NEW.service_id, NEW.deployed_at WHERE NEW.status IN {COUNTED};
    END""",
    f"""CREATE TRIGGER dora_mark_deploy_delete AFTER DELETE ON deploys WHEN OLD.status IN {COUNTED}
    BEGIN {MARK} VALUES (OLD.environment_id, OLD.service_id, OLD.deployed_at); END""",
    f"CREATE TRIGGER dora_mark_commit_insert AFTER INSERT ON deploy_commits BEGIN {_of('NEW.deploy_id')}; END",
    f"CREATE TRIGGER dora_mark_commit_delete AFTER DELETE ON deploy_commits BEGIN {_of('OLD.deploy_id')}; END",
    f"""CREATE TRIGGER dora_mark_commit_update AFTER UPDATE OF deploy_id, committed_at ON deploy_commits
    WHEN OLD.deploy_id IS NOT NEW.deploy_id OR OLD.committed_at IS NOT NEW.committed_at
    BEGIN {_of('OLD.deploy_id')}; {_of('NEW.deploy_id')}; END""",
    f"""CREATE TRIGGER dora_mark_incident_insert AFTER INSERT ON incidents WHEN NEW.deploy_id IS NOT NULL
    BEGIN {_of('NEW.deploy_id')}; END""",
    f"""CREATE TRIGGER dora_mark_incident_delete AFTER DELETE ON incidents WHEN OLD.deploy_id IS NOT NULL
    BEGIN {_of('OLD.deploy_id')}; END""",
    f"""CREATE TRIGGER dora_mark_incident_update AFTER UPDATE OF deploy_id, resolved_at ON incidents
    WHEN OLD.deploy_id IS NOT NEW.deploy_id OR OLD.resolved_at IS NOT NEW.resolved_at
    BEGIN {_of('OLD.deploy_id')}; {_of('NEW.deploy_id')}; END""",
]
SQLITE_TRIGGERS = [
    "dora_mark_deploy_insert",
    "dora_mark_deploy_update",
    "dora_mark_deploy_delete",
    "dora_mark_commit_insert",
    "dora_mark_commit_delete",
    "dora_mark_commit_update",
    "dora_mark_incident_insert",
    "dora_mark_incident_delete",
    "dora_mark_incident_update",
]

_PG_MOVED = MOVED.replace(" IS NOT ", " IS DISTINCT FROM ")
_PG_CHANGED = CHANGED.replace(" IS NOT ", " IS DISTINCT FROM ")
POSTGRESQL = [
    f"""CREATE FUNCTION dora_mark_deploy() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'DELETE' THEN
            {MARK} VALUES (OLD.environment_id, OLD.service_id, OLD.deployed_at);
            RETURN NULL;
        END IF;
        IF TG_OP = 'UPDATE' THEN
            IF OLD.status IN {COUNTED} AND (NEW.status NOT IN {COUNTED} OR {_PG_MOVED}) THEN
                {MARK} VALUES (OLD.environment_id, OLD.service_id, OLD.deployed_at);
            END IF;
        END IF;
        IF NEW.status IN {COUNTED} THEN
            {MARK} VALUES (NEW.environment_id, NEW.service_id, NEW.deployed_at);
        END IF;
        RETURN NULL;
    END $$""",
    f"""CREATE FUNCTION dora_mark_deploy_of() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP <> 'INSERT' THEN
            {_of('OLD.deploy_id')};
        END IF;
        IF TG_OP <> 'DELETE' THEN
            {_of('NEW.deploy_id')};
        END IF;
        RETURN NULL;
    END $$""",
    f"""CREATE TRIGGER dora_mark_deploy_insert AFTER INSERT ON deploys FOR EACH ROW
    WHEN (NEW.status IN {COUNTED}) EXECUTE FUNCTION dora_mark_deploy()""",
    f"""CREATE TRIGGER dora_mark_deploy_update AFTER UPDATE ON deploys FOR EACH ROW
    WHEN ((OLD.status IN {COUNTED} OR NEW.status IN {COUNTED}) AND ({_PG_CHANGED}))
    EXECUTE FUNCTION dora_mark_deploy()""",
    f"""CREATE TRIGGER dora_mark_deploy_delete AFTER DELETE ON deploys FOR EACH ROW
    WHEN (OLD.status IN {COUNTED}) EXECUTE FUNCTION dora_mark_deploy()""",
    """CREATE TRIGGER dora_mark_commit_insert AFTER INSERT ON deploy_commits FOR EACH ROW
    EXECUTE FUNCTION dora_mark_deploy_of()""",
    """CREATE TRIGGER dora_mark_commit_delete AFTER DELETE ON deploy_commits FOR EACH ROW
    EXECUTE FUNCTION dora_mark_deploy_of()""",
    """CREATE TRIGGER dora_mark_commit_update AFTER UPDATE ON deploy_commits FOR EACH ROW
    WHEN (OLD.deploy_id IS DISTINCT FROM NEW.deploy_id OR OLD.committed_at IS DISTINCT FROM NEW.committed_at)
    EXECUTE FUNCTION dora_mark_deploy_of()""",
    """CREATE TRIGGER dora_mark_incident_insert AFTER INSERT ON incidents FOR EACH ROW
    WHEN (NEW.deploy_id IS NOT NULL) EXECUTE FUNCTION dora_mark_deploy_of()""",
    """CREATE TRIGGER dora_mark_incident_delete AFTER DELETE ON incidents FOR EACH ROW
    WHEN (OLD.deploy_id IS NOT NULL) EXECUTE FUNCTION dora_mark_deploy_of()""",
    """CREATE TRIGGER dora_mark_incident_update AFTER UPDATE ON incidents FOR EACH ROW
    WHEN (OLD.deploy_id IS DISTINCT FROM NEW.deploy_id OR OLD.resolved_at IS DISTINCT FROM NEW.resolved_at)
    EXECUTE FUNCTION dora_mark_deploy_of()""",
]
POSTGRESQL_TRIGGERS = [
    ("dora_mark_deploy_insert", "deploys"),
    ("dora_mark_deploy_update", "deploys"),
    ("dora_mark_deploy_delete", "deploys"),
    ("dora_mark_commit_insert", "deploy_commits"),
    ("dora_mark_commit_delete", "deploy_commits"),
    ("dora_mark_commit_update", "deploy_commits"),
    ("dora_mark_incident_insert", "incidents"),
    ("dora_mark_incident_delete", "incidents"),
    ("dora_mark_incident_update", "incidents"),
]


def upgrade() -> None:
    op.create_table('dora_days',
    sa.Column('environment_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('service_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('deploys', sa.Integer(), nullable=False),
    sa.Column('failed', sa.Integer(), nullable=False),
    sa.Column('rework', sa.Integer(), nullable=False),
    sa.Column('leads', sa.LargeBinary(), nullable=False),
    sa.Column('recoveries', sa.LargeBinary(), nullable=False),
    sa.PrimaryKeyConstraint('environment_id', 'service_id', 'day', name=op.f('pk_dora_days'))
    )
    op.create_table('dora_marks',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('environment_id', sa.Integer(), nullable=False),
    sa.Column('service_id', sa.Integer(), nullable=False),
    sa.Column('at', shiplane.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_dora_marks'))
    )
    op.create_table('dora_state',
    sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('generation', sa.Integer(), nullable=False),
    sa.Column('timezone', sa.String(length=64), nullable=True),
    sa.Column('failure_states', sa.String(length=200), nullable=True),
    sa.Column('built_at', shiplane.db.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_dora_state'))
    )
    op.execute("INSERT INTO dora_state (id, generation) VALUES (1, 0)")
    for statement in POSTGRESQL if op.get_bind().dialect.name == "postgresql" else SQLITE:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for name, table in POSTGRESQL_TRIGGERS:
            op.execute(f"DROP TRIGGER IF EXISTS {name} ON {table}")
        op.execute("DROP FUNCTION IF EXISTS dora_mark_deploy()")
        op.execute("DROP FUNCTION IF EXISTS dora_mark_deploy_of()")
    else:
        for name in SQLITE_TRIGGERS:
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
    op.drop_table('dora_state')
    op.drop_table('dora_marks')
    op.drop_table('dora_days')
