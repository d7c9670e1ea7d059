"""DORA inputs you can trust (SPEC §8.9): what a deploy failed by, dateless commits, first shippers.

- ``deploys.dora_failure``: why a deploy counts as failed for DORA besides its health
  (``rolled back by #<id>``, ``rolled back by <who>``, ``revert <sha> (…)``); NULL for none. A
  rollback across several deploys now fails only the deploy that was live when it was rolled
  back; the others stay ``rolled_back`` but are not failed unless their health says so.
- ``dora_days.unknown_commits``: commits shipped that day without a date (``lead_time.unknown_commits``).
- ``ix_deploy_commits_sha``: a commit counts once per environment and service, for the counted
  deploy that first shipped it there by deploy time; finding the other shippers of a commit is
  one index descent.
- Triggers: a write that can move a commit's first shipper (a commit added or removed, a deploy
  that starts or stops counting, or moves in time) also marks every other counted deploy that
  shipped the same commit, so the daily roll-ups follow a backdated first shipper at once; and a
  change of ``dora_failure`` marks its deploy like a status change does.

Existing data, what an upgraded install sees:
- ``dora_failure`` is backfilled: a ``rolled_back`` deploy that was live when a rollback deploy
  replaced it gets ``rolled back by #<rollback id>``; one rolled back by hand (PATCH) gets
  ``rolled back by <who>``; the others (rolled back across, never live at the rollback) get
  none, so the change failure rate of ranges with multi-deploy rollbacks goes down.
- ``rollback_of`` pointing at a deploy that is not earlier (backdated deploys) is corrected to
  the latest earlier counted deploy of that sha, or cleared.
- Incidents attached to a failed, cancelled or started deploy move to the latest counted deploy
  at or before their start (or to none).
- The roll-ups are emptied and marked unbuilt: the next refresh (the worker, or the first DORA
  report) rebuilds them; until then reports read the deploys (exact, slower on large installs).

Revision ID: 0014
Revises: 0012
Create Date: 2026-12-02 14:40:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0014'
down_revision = '0012'
branch_labels = None
depends_on = None

COUNTED = "('rolled_back', 'succeeded')"
MARK = "INSERT INTO dora_marks (environment_id, service_id, at)"
MOVED = (
    "OLD.deployed_at IS NOT NEW.deployed_at OR OLD.service_id IS NOT NEW.service_id"
    " OR OLD.environment_id IS NOT NEW.environment_id"
)
CHANGED = (
    f"OLD.status IS NOT NEW.status OR OLD.health_state IS NOT NEW.health_state"
    f" OR OLD.rollback_of IS NOT NEW.rollback_of OR OLD.dora_failure IS NOT NEW.dora_failure OR {MOVED}"
)
# Counting changes or a move: the first shipper of this deploy's commits may change.
RESHIPS = f"((OLD.status IN {COUNTED}) <> (NEW.status IN {COUNTED})) OR ((OLD.status IN {COUNTED}) AND ({MOVED}))"


def _holders(sha: str, scope_of: str | None) -> str:
    """Marks for every counted deploy that shipped commit `sha` (in the scope of deploy `scope_of`)."""
    scope = ""
    if scope_of is not None:
        scope = (
            f" AND d.environment_id = (SELECT environment_id FROM deploys WHERE id = {scope_of})"
            f" AND d.service_id = (SELECT service_id FROM deploys WHERE id = {scope_of})"
        )
    return (
        f"{MARK} SELECT DISTINCT d.environment_id, d.service_id, d.deployed_at FROM deploy_commits c"
        f" JOIN deploys d ON d.id = c.deploy_id WHERE c.sha = {sha} AND d.status IN {COUNTED}{scope}"
    )


def _siblings(ref: str) -> str:
    """Marks for the other counted deploys of its old and new scope that shipped a commit of deploy `ref`."""
    return (
        f"{MARK} SELECT DISTINCT d.environment_id, d.service_id, d.deployed_at FROM deploy_commits mine"
        f" JOIN deploy_commits c ON c.sha = mine.sha AND c.deploy_id <> mine.deploy_id"
        f" JOIN deploys d ON d.id = c.deploy_id"
        f" WHERE mine.deploy_id = {ref} AND d.status IN {COUNTED}"
        f" AND ((d.environment_id = NEW.environment_id AND d.service_id = NEW.service_id)"
        f" OR (d.environment_id = OLD.environment_id AND d.service_id = OLD.service_id))"
    )


SQLITE_UPDATE = f"""CREATE TRIGGER dora_mark_deploy_update
    AFTER UPDATE OF status, health_state, deployed_at, rollback_of, dora_failure, service_id, environment_id ON deploys
    WHEN (OLD.status IN {COUNTED} OR NEW.status IN {COUNTED}) AND ({CHANGED})
    BEGIN
        {MARK} SELECT OLD.environment_id, OLD.service_id, OLD.deployed_at
            WHERE OLD.status IN {COUNTED} AND (NEW.status NOT IN {COUNTED} OR {MOVED});
        {MARK} SELECT NEW.environment_id, NEW.service_id, NEW.deployed_at WHERE NEW.status IN {COUNTED};
    END"""
SQLITE_OLD_UPDATE = SQLITE_UPDATE.replace(", dora_failure,", ",").replace(
    " OR OLD.dora_failure IS NOT NEW.dora_failure", ""
)
SQLITE = [
    f"""CREATE TRIGGER dora_mark_deploy_reships AFTER UPDATE OF status, deployed_at, service_id, environment_id ON deploys
    WHEN {RESHIPS}
    BEGIN {_siblings('NEW.id')}; END""",
    f"CREATE TRIGGER dora_mark_commit_reships_insert AFTER INSERT ON deploy_commits BEGIN {_holders('NEW.sha', 'NEW.deploy_id')}; END",
    f"CREATE TRIGGER dora_mark_commit_reships_delete AFTER DELETE ON deploy_commits BEGIN {_holders('OLD.sha', None)}; END",
    f"""CREATE TRIGGER dora_mark_commit_reships_update AFTER UPDATE OF sha, deploy_id ON deploy_commits
    WHEN OLD.sha IS NOT NEW.sha OR OLD.deploy_id IS NOT NEW.deploy_id
    BEGIN {_holders('OLD.sha', None)}; {_holders('NEW.sha', None)}; END""",
]
SQLITE_TRIGGERS = [
    "dora_mark_deploy_reships",
    "dora_mark_commit_reships_insert",
    "dora_mark_commit_reships_delete",
    "dora_mark_commit_reships_update",
]

_PG = {" IS NOT ": " IS DISTINCT FROM "}


def _pg(sql: str) -> str:
    for a, b in _PG.items():
        sql = sql.replace(a, b)
    return sql


POSTGRESQL = [
    f"""CREATE FUNCTION dora_mark_deploy_reships() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        {_siblings('NEW.id')};
        RETURN NULL;
    END $$""",
    f"""CREATE FUNCTION dora_mark_commit_reships() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP <> 'INSERT' THEN
            {_holders('OLD.sha', None)};
        END IF;
        IF TG_OP = 'INSERT' THEN
            {_holders('NEW.sha', 'NEW.deploy_id')};
        ELSIF TG_OP = 'UPDATE' THEN
            {_holders('NEW.sha', None)};
        END IF;
        RETURN NULL;
    END $$""",
    f"""CREATE TRIGGER dora_mark_deploy_reships AFTER UPDATE ON deploys FOR EACH ROW
    WHEN ({_pg(RESHIPS)}) EXECUTE FUNCTION dora_mark_deploy_reships()""",
    """CREATE TRIGGER dora_mark_commit_reships_insert AFTER INSERT ON deploy_commits FOR EACH ROW
    EXECUTE FUNCTION dora_mark_commit_reships()""",
    """CREATE TRIGGER dora_mark_commit_reships_delete AFTER DELETE ON deploy_commits FOR EACH ROW
    EXECUTE FUNCTION dora_mark_commit_reships()""",
    """CREATE TRIGGER dora_mark_commit_reships_update AFTER UPDATE ON deploy_commits FOR EACH ROW
    WHEN (OLD.sha IS DISTINCT FROM NEW.sha OR OLD.deploy_id IS DISTINCT FROM NEW.deploy_id)
    EXECUTE FUNCTION dora_mark_commit_reships()""",
]
POSTGRESQL_TRIGGERS = [
    ("dora_mark_deploy_reships", "deploys"),
    ("dora_mark_commit_reships_insert", "deploy_commits"),
    ("dora_mark_commit_reships_delete", "deploy_commits"),
    ("dora_mark_commit_reships_update", "deploy_commits"),
]
PG_UPDATE = f"""CREATE TRIGGER dora_mark_deploy_update AFTER UPDATE ON deploys FOR EACH ROW
    WHEN ((OLD.status IN {COUNTED} OR NEW.status IN {COUNTED}) AND ({_pg(CHANGED)}))
    EXECUTE FUNCTION dora_mark_deploy()"""
PG_OLD_UPDATE = PG_UPDATE.replace(" OR OLD.dora_failure IS DISTINCT FROM NEW.dora_failure", "")


def upgrade() -> None:
    op.add_column('deploys', sa.Column('dora_failure', sa.String(length=200), nullable=True))
    op.add_column('dora_days', sa.Column('unknown_commits', sa.Integer(), server_default='0', nullable=False))
    op.create_index('ix_deploy_commits_sha', 'deploy_commits', ['sha'], unique=False)
    bind = op.get_bind()
    _backfill(bind)
    postgres = bind.dialect.name == "postgresql"
    if postgres:
        op.execute("DROP TRIGGER dora_mark_deploy_update ON deploys")
        op.execute(PG_UPDATE)
    else:
        op.execute("DROP TRIGGER dora_mark_deploy_update")
        op.execute(SQLITE_UPDATE)
    for statement in POSTGRESQL if postgres else SQLITE:
        op.execute(statement)
    # Stored days mean something else now: rebuild them from the deploys.
    op.execute("DELETE FROM dora_days")
    op.execute("DELETE FROM dora_marks")
    op.execute("UPDATE dora_state SET timezone = NULL, failure_states = NULL")


def _backfill(bind: sa.engine.Connection) -> None:
    """dora_failure of rolled-back deploys, rollback_of that points later, incidents on uncounted deploys."""
    counted = bind.execute(sa.text(
        f"SELECT id, service_id, environment_id, sha, status, deployed_at, rollback_of FROM deploys"
        f" WHERE status IN {COUNTED} ORDER BY service_id, environment_id, deployed_at, id"
    )).all()
    by_id = {r.id: i for i, r in enumerate(counted)}
    by_hand = {
        r.deploy_id: r.actor
        for r in bind.execute(sa.text(
            "SELECT e.deploy_id, e.actor FROM events e JOIN deploys d ON d.id = e.deploy_id"
            " WHERE e.kind = 'deploy_status_changed' AND d.status = 'rolled_back'"
        )).all()
        if r.deploy_id is not None
    }
    failures: dict[int, str] = {}
    fixed: dict[int, int | None] = {}
    for i, r in enumerate(counted):
        same_scope_before = i > 0 and (counted[i - 1].service_id, counted[i - 1].environment_id) == (r.service_id, r.environment_id)
        if r.rollback_of is not None:
            j = by_id.get(r.rollback_of)
            if j is None or j >= i or (counted[j].service_id, counted[j].environment_id) != (r.service_id, r.environment_id):
                # Not earlier: the latest earlier counted deploy of that sha, or none.
                earlier = [k for k in range(i - 1, -1, -1) if counted[k].sha == r.sha
                           and (counted[k].service_id, counted[k].environment_id) == (r.service_id, r.environment_id)]
                fixed[r.id] = counted[earlier[0]].id if earlier else None
            if same_scope_before and counted[i - 1].status == "rolled_back":
                failures[counted[i - 1].id] = f"rolled back by #{r.id}"
    for i, r in enumerate(counted):
        if r.status == "rolled_back" and r.id not in failures:
            nxt = counted[i + 1] if i + 1 < len(counted) else None
            rolled_by_deploy = nxt is not None and nxt.rollback_of is not None and (nxt.service_id, nxt.environment_id) == (r.service_id, r.environment_id)
            if not rolled_by_deploy and r.id in by_hand and not _between_a_rollback(counted, i):
                failures[r.id] = f"rolled back by {by_hand[r.id] or 'hand'}"
    for deploy_id, reason in failures.items():
        bind.execute(sa.text("UPDATE deploys SET dora_failure = :r WHERE id = :i"), {"r": reason, "i": deploy_id})
    for deploy_id, target in fixed.items():
        bind.execute(sa.text("UPDATE deploys SET rollback_of = :t WHERE id = :i"), {"t": target, "i": deploy_id})
    stray = bind.execute(sa.text(
        f"SELECT i.id, i.environment, i.service, i.started_at FROM incidents i JOIN deploys d ON d.id = i.deploy_id"
        f" WHERE d.status NOT IN {COUNTED}"
    )).all()
    for inc in stray:
        query = (
            f"SELECT d.id FROM deploys d JOIN environments e ON e.id = d.environment_id"
            f" {'JOIN services s ON s.id = d.service_id' if inc.service else ''}"
            f" WHERE e.slug = :env {'AND s.slug = :svc' if inc.service else ''} AND d.status IN {COUNTED}"
            f" AND d.deployed_at <= :at ORDER BY d.deployed_at DESC, d.id DESC LIMIT 1"
        )
        target = bind.execute(sa.text(query), {"env": inc.environment, "svc": inc.service, "at": inc.started_at}).scalar()
        bind.execute(sa.text("UPDATE incidents SET deploy_id = :d WHERE id = :i"), {"d": target, "i": inc.id})


def _between_a_rollback(counted: list, i: int) -> bool:
    """Whether deploy i was rolled back across by a later rollback deploy of its scope (not by hand)."""
    r = counted[i]
    for k in range(i + 1, len(counted)):
        n = counted[k]
        if (n.service_id, n.environment_id) != (r.service_id, r.environment_id):
            return False
        if n.rollback_of is not None:
            return True
        if n.status != "rolled_back":
            return False
    return False


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    if postgres:
        for name, table in POSTGRESQL_TRIGGERS:
            op.execute(f"DROP TRIGGER IF EXISTS {name} ON {table}")
        op.execute("DROP FUNCTION IF EXISTS dora_mark_deploy_reships()")
        op.execute("DROP FUNCTION IF EXISTS dora_mark_commit_reships()")
        op.execute("DROP TRIGGER dora_mark_deploy_update ON deploys")
        op.execute(PG_OLD_UPDATE)
    else:
        for name in SQLITE_TRIGGERS:
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
        op.execute("DROP TRIGGER dora_mark_deploy_update")
        op.execute(SQLITE_OLD_UPDATE)
    op.drop_index('ix_deploy_commits_sha', table_name='deploy_commits')
    op.drop_column('dora_days', 'unknown_commits')
    op.drop_column('deploys', 'dora_failure')
    op.execute("DELETE FROM dora_days")
    op.execute("UPDATE dora_state SET timezone = NULL, failure_states = NULL")
