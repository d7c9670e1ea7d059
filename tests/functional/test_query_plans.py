"""Registration's lookups stay index descents however long a scope's history is.

The statements are the ones ``deploys.service.register`` really runs (captured
from the engine while it registers), explained by the engine itself. A plan that
walks the scope's history showed up as registrations getting slower as the
table grew (benchmarks/api.py --history); these tests catch it without timing.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import event, insert

from shiplane import clock
from shiplane.catalog import service as catalog_service
from shiplane.deploys import service
from shiplane.deploys.models import deploys
from shiplane.deploys.schemas import DeployIn
from tests.conftest import sha

HISTORY = 3000  # deploys already in the scope


def _seed_scope(db) -> None:
    now = clock.now()
    with db.write() as conn:
        svc = catalog_service.service(conn, "web", auto_create=True, now=now)
        env = catalog_service.environment(conn, "production", auto_create=True, now=now)
        rows = []
        for i in range(HISTORY):
            at = now - timedelta(minutes=HISTORY - i)
            rows.append(
                dict(service_id=svc.id, environment_id=env.id, sha=sha(i), status="succeeded", registered_at=at,
                     finished_at=at, deployed_at=at, tags=[], during_lock=False, has_changes=False,
                     health_state="healthy", health_final=True, changes_source="none")
            )
        conn.execute(insert(deploys), rows)
    if not db.is_sqlite:
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("ANALYZE deploys")


def _registration_lookup(db) -> tuple[str, object]:
    """The latest-and-previous-of-this-sha statement of a real registration, with its parameters."""
    seen: list[tuple[str, object]] = []

    def capture(conn, cursor, statement, parameters, context, executemany):
        if "UNION ALL" in statement:
            seen.append((statement, parameters))

    event.listen(db.engine, "before_cursor_execute", capture)
    try:
        with db.write() as conn:
            # An older sha again: a rollback, so the "previous deploy of this sha" branch matters.
            body = DeployIn(service="web", environment="production", sha=sha(HISTORY // 2), status="succeeded")
            result = service.register(conn, body, actor="test", now=clock.now())
    finally:
        event.remove(db.engine, "before_cursor_execute", capture)
    assert "rollback" in result.deploy["tags"]
    assert len(seen) == 1
    return seen[0]


def test_the_rollback_lookup_descends_the_scope_sha_index(db):
    _seed_scope(db)
    statement, parameters = _registration_lookup(db)
    with db.read() as conn:
        if db.is_sqlite:
            plan = [r[3] for r in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters)]
            # One SEARCH of the scope by time (latest), one by sha: never a SCAN of deploys,
            # and the sha branch on the index whose order serves its ORDER BY (no temp b-tree).
            assert "SEARCH deploys USING INDEX ix_deploys_scope_sha (service_id=? AND environment_id=? AND sha=?)" in plan
            assert "SEARCH deploys USING INDEX ix_deploys_scope_time (service_id=? AND environment_id=?)" in plan
            assert not any(p.startswith("SCAN deploys") or "TEMP B-TREE" in p for p in plan), plan
        else:
            plan = "\n".join(r[0] for r in conn.exec_driver_sql("EXPLAIN " + statement, parameters))
            assert "Seq Scan on deploys" not in plan, plan
            assert "using ix_deploys_scope_sha on deploys" in plan, plan
            assert "Sort" not in plan, plan


def _list_statement(db, **filters) -> tuple[str, object]:
    seen: list[tuple[str, object]] = []

    def capture(conn, cursor, statement, parameters, context, executemany):
        if "FROM deploys" in statement:
            seen.append((statement, parameters))

    event.listen(db.engine, "before_cursor_execute", capture)
    try:
        with db.read() as conn:
            page = service.list_deploys(conn, limit=50, **filters)
    finally:
        event.remove(db.engine, "before_cursor_execute", capture)
    assert len(page["items"]) == 50 and page["next_cursor"]
    assert len(seen) == 1  # the filters are part of the one statement
    return seen[0]


def test_a_page_of_deploys_is_read_in_index_order(db):
    _seed_scope(db)
    for filters, index in (
        ({}, "ix_deploys_time"),
        ({"service": "web", "environment": "production"}, "ix_deploys_scope_time"),
        ({"environment": "production"}, "ix_deploys_env_time"),
    ):
        statement, parameters = _list_statement(db, **filters)
        with db.read() as conn:
            if db.is_sqlite:
                plan = [r[3] for r in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters)]
                assert any(p.startswith("SEARCH deploys USING INDEX " + index) or p == f"SCAN deploys USING INDEX {index}"
                           for p in plan), (filters, plan)
                assert not any("TEMP B-TREE" in p for p in plan), (filters, plan)
            else:
                plan = "\n".join(r[0] for r in conn.exec_driver_sql("EXPLAIN " + statement, parameters))
                assert "Sort" not in plan and "Seq Scan on deploys" not in plan, (filters, plan)
