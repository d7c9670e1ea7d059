"""Registration's lookups stay index descents however long a scope's history is.

The statements are the ones ``deploys.service.register`` really runs (captured
from the engine while it registers), explained by the engine itself. A plan that
walks the scope's history showed up as registrations getting slower as the
table grew (benchmarks/api.py --history); these tests catch it without timing.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import timedelta

from sqlalchemy import event, insert

from shiplane import clock
from shiplane.catalog import service as catalog_service
from shiplane.deploys import register, service
from shiplane.deploys.schemas import DeployIn
from shiplane.tables.deploys import deploys
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


@contextlib.contextmanager
def _statements(db, marker: str) -> Iterator[list[tuple[str, object]]]:
    """The statements (with their parameters) containing `marker` that the block runs."""
    seen: list[tuple[str, object]] = []

    def capture(conn, cursor, statement, parameters, context, executemany):
        if marker in statement:
            seen.append((statement, parameters))

    event.listen(db.engine, "before_cursor_execute", capture)
    try:
        yield seen
    finally:
        event.remove(db.engine, "before_cursor_execute", capture)


def _plan(db, statement: str, parameters: object) -> list[str]:
    """The engine's plan: SQLite's EXPLAIN QUERY PLAN details, PostgreSQL's EXPLAIN lines."""
    with db.read() as conn:
        if db.is_sqlite:
            return [r[3] for r in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters)]
        return [r[0] for r in conn.exec_driver_sql("EXPLAIN " + statement, parameters)]


def _registration_lookup(db) -> tuple[str, object]:
    """The latest-and-previous-of-this-sha statement of a real registration, with its parameters."""
    with _statements(db, "UNION ALL") as seen, db.write() as conn:
        # An older sha again: a rollback, so the "previous deploy of this sha" branch matters.
        body = DeployIn(service="web", environment="production", sha=sha(HISTORY // 2), status="succeeded")
        result = register.register(conn, body, actor="test", now=clock.now())
    assert "rollback" in result.deploy["tags"]
    assert len(seen) == 1
    return seen[0]


def test_the_rollback_lookup_descends_the_scope_sha_index(db):
    _seed_scope(db)
    plan = _plan(db, *_registration_lookup(db))
    if db.is_sqlite:
        # SEARCHes of the scope by time (the latest, the live one, the one live at the new deploy's
        # time) and one by sha up to that time (SPEC §8.9: rollback_of only ever earlier): never a
        # SCAN of deploys, and the sha branch on the index whose order serves its ORDER BY (no temp b-tree).
        assert "SEARCH deploys USING INDEX ix_deploys_scope_sha (service_id=? AND environment_id=? AND sha=? AND deployed_at<?)" in plan
        assert "SEARCH deploys USING INDEX ix_deploys_scope_time (service_id=? AND environment_id=?)" in plan
        assert "SEARCH deploys USING INDEX ix_deploys_scope_time (service_id=? AND environment_id=? AND deployed_at<?)" in plan
        assert not any(p.startswith("SCAN deploys") or "TEMP B-TREE" in p for p in plan), plan
    else:
        text = "\n".join(plan)
        assert "Seq Scan on deploys" not in text, text
        assert "using ix_deploys_scope_sha on deploys" in text, text
        assert "Sort" not in text, text


def _list_statement(db, **filters) -> tuple[str, object]:
    with _statements(db, "FROM deploys") as seen, db.read() as conn:
        page = service.list_deploys(conn, limit=50, **filters)
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
        plan = _plan(db, *_list_statement(db, **filters))
        if db.is_sqlite:
            assert any(p.startswith("SEARCH deploys USING INDEX " + index) or p == f"SCAN deploys USING INDEX {index}"
                       for p in plan), (filters, plan)
            assert not any("TEMP B-TREE" in p for p in plan), (filters, plan)
        else:
            text = "\n".join(plan)
            assert "Sort" not in text and "Seq Scan on deploys" not in text, (filters, text)
