"""Migration 0014 on an install with history: what an upgraded install sees (docs/dora.md#upgrading-to-migration-0014)."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

import pytest
from alembic import command
from sqlalchemy import create_engine, text

from shiplane import migrate
from tests.conftest import PG_ADMIN_URL

T = datetime(2026, 11, 2, 9, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgresql"])
def fresh_url(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'old.db'}"
        return
    name = f"shiplane_test_m0014_{os.getpid()}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def upgrade(engine, revision):
    cfg = migrate.alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


def test_an_upgraded_install_counts_one_failure_per_rollback_and_moves_stray_incidents(fresh_url):
    engine = create_engine(fresh_url)
    upgrade(engine, "0010")
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO services (id, slug, name, repo, branch, paths, created_at) VALUES (1, 'web', '', '', 'main', '[]', :t)"), {"t": T})
        conn.execute(text("INSERT INTO environments (id, slug, name, production, created_at) VALUES (1, 'production', '', true, :t)"), {"t": T})

        def deploy(i, sha, hours, status, rollback_of=None):
            at = T + timedelta(hours=hours)
            conn.execute(text(
                "INSERT INTO deploys (id, service_id, environment_id, sha, status, registered_at, deployed_at, finished_at, tags,"
                " during_lock, has_changes, health_state, health_final, rollback_of)"
                " VALUES (:i, 1, 1, :sha, :status, :at, :at, :at, '[]', false, false, 'healthy', true, :rb)"
            ), {"i": i, "sha": sha * 40, "status": status, "at": at, "rb": rollback_of})

        deploy(1, "a", 0, "succeeded")
        deploy(2, "b", 1, "rolled_back")
        deploy(3, "c", 2, "rolled_back")
        deploy(4, "a", 3, "succeeded", rollback_of=1)  # rolled 2 and 3 back: 3 was live
        deploy(5, "d", 4, "failed")
        deploy(6, "e", 5, "succeeded", rollback_of=7)  # a backdated registration pointed it later
        deploy(7, "e", 6, "succeeded")
        conn.execute(text(
            "INSERT INTO incidents (key, environment, service, started_at, deploy_id) VALUES ('INC-1', 'production', 'web', :at, 5)"
        ), {"at": T + timedelta(hours=4, minutes=30)})
    upgrade(engine, "head")
    with engine.connect() as conn:
        failure = dict(conn.execute(text("SELECT id, dora_failure FROM deploys")).all())
        assert failure == {1: None, 2: None, 3: "rolled back by #4", 4: None, 5: None, 6: None, 7: None}
        assert conn.execute(text("SELECT rollback_of FROM deploys WHERE id = 6")).scalar() is None
        assert conn.execute(text("SELECT deploy_id FROM incidents WHERE key = 'INC-1'")).scalar() == 4
        assert conn.execute(text("SELECT timezone FROM dora_state")).scalar() is None  # rebuilt by the next refresh
    engine.dispose()
