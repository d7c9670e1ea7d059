"""The migrations build exactly the schema the models describe, on SQLite and on PostgreSQL.

A model changed without a migration (or a migration that says something else)
works in the tests, which build from the same code, and breaks on an upgraded
installation. Nothing is ignored: both comparisons come out empty on both engines.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text

from shiplane.tables import metadata
from tests.conftest import PG_ADMIN_URL, migrated


def test_it_finds_no_difference_between_the_models_and_the_migrated_database(db_url):
    db = migrated(db_url)
    with db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True, "compare_server_default": True})
        assert compare_metadata(context, metadata) == []


@pytest.fixture
def created_url(db_url: str, tmp_path: Path) -> Iterator[str]:
    """An empty database on the same engine, for ``metadata.create_all``."""
    if db_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / 'created.db'}"
        return
    name = f"shiplane_created_{os.getpid()}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def indexes(url: str) -> dict[str, tuple]:
    """Every index as the database itself describes it: table, columns, unique, and its WHERE."""
    engine = create_engine(url)
    try:
        found = {}
        inspector = inspect(engine)
        for table in inspector.get_table_names():
            for ix in inspector.get_indexes(table):
                options = ix.get("dialect_options", {})
                # SQLite hands back the WHERE as written in the CREATE INDEX; only its spacing may
                # differ between op.create_index and create_all. PostgreSQL normalises it itself.
                where = {k: " ".join(str(v).split()) for k, v in options.items() if k.endswith("_where")}
                found[ix["name"]] = (table, tuple(ix["column_names"]), bool(ix["unique"]), where)
        return found
    finally:
        engine.dispose()


def test_partial_indexes_have_the_predicates_the_models_give_them(db_url, created_url):
    """Autogenerate does not compare the WHERE of a partial index, and some of ours carry
    invariants (one deploy in progress per scope, one active manual lock per scope): the
    migrated schema is compared with one built by create_all on the same engine."""
    engine = create_engine(created_url)
    metadata.create_all(engine)
    engine.dispose()
    from_migrations, from_models = indexes(migrated(db_url).url), indexes(created_url)
    assert any(where for *_, where in from_models.values())  # the comparison sees predicates at all
    assert from_migrations == from_models
