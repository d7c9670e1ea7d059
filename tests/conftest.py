"""Shared fixtures. Every test that touches the database runs on SQLite and PostgreSQL.

Personas (healthchecks style): alice is an admin, bob a deployer, charlie a viewer.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from shiplane import clock
from shiplane.auth import service as auth_service
from shiplane.db import Database
from shiplane.settings import Config, Settings
from shiplane.tables import metadata

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
if not SHARED.exists():  # CI lays shared/ beside the clone
    SHARED = Path(os.environ.get("SHIPLANE_SHARED", ROOT.parent / "shared"))
PG_ADMIN_URL = os.environ.get("SHIPLANE_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")

ALICE, BOB, CHARLIE = "alice-admin-token", "bob-deployer-token", "charlie-viewer-token"


def _worker_suffix() -> str:
    return re.sub(r"\W", "", os.environ.get("PYTEST_XDIST_WORKER", "main"))


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    name = f"shiplane_test_{_worker_suffix()}_{os.getpid()}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    yield url
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    return f"sqlite:///{tmp_path_factory.mktemp('db') / 'shiplane.db'}"


_migrated: dict[str, Database] = {}


def migrated(url: str) -> Database:
    if url not in _migrated:
        from shiplane import migrate

        db = Database(url)
        migrate.upgrade(db.engine)
        _migrated[url] = db
    return _migrated[url]


def wipe(db: Database) -> None:
    names = [t.name for t in reversed(metadata.sorted_tables)]
    with db.write() as conn:
        if db.is_sqlite:
            for name in names:
                conn.exec_driver_sql(f"DELETE FROM {name}")
            conn.exec_driver_sql("DELETE FROM sqlite_sequence") if conn.exec_driver_sql(
                "SELECT 1 FROM sqlite_master WHERE name='sqlite_sequence'"
            ).first() else None
        else:
            conn.exec_driver_sql(f"TRUNCATE {', '.join(names)} RESTART IDENTITY CASCADE")


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest) -> str:
    return request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "pg_url")


@pytest.fixture
def db(db_url: str) -> Database:
    database = migrated(db_url)
    wipe(database)
    now = clock.now()
    with database.write() as conn:
        auth_service.create_token(conn, "alice", "admin", now, token=ALICE)
        auth_service.create_token(conn, "bob", "deployer", now, token=BOB)
        auth_service.create_token(conn, "charlie", "viewer", now, token=CHARLIE)
    return database


def make_settings(db_url: str, config: Config | None = None, **kw) -> Settings:
    return Settings(config=config or Config(), database_url=db_url, **kw)


@pytest.fixture
def config() -> Config:
    """Override in a test module to run the app with a particular config."""
    return Config()


@pytest.fixture
def app(db: Database, db_url: str, config: Config):
    from shiplane.app import create_app

    return create_app(make_settings(db_url, config), db=db, worker=False)


class Api:
    """A TestClient that sends a persona's token."""

    def __init__(self, client, token: str | None) -> None:
        self.client = client
        self.token = token

    def _headers(self, headers):
        out = dict(headers or {})
        if self.token:
            out.setdefault("Authorization", f"Bearer {self.token}")
        return out

    def request(self, method, url, headers=None, **kw):
        return self.client.request(method, url, headers=self._headers(headers), **kw)

    def get(self, url, **kw):
        return self.request("GET", url, **kw)

    def post(self, url, **kw):
        return self.request("POST", url, **kw)

    def patch(self, url, **kw):
        return self.request("PATCH", url, **kw)

    def delete(self, url, **kw):
        return self.request("DELETE", url, **kw)


@pytest.fixture
def client(app):
    from fastapi.testclient import TestClient

    with TestClient(app) as c:
        yield c


@pytest.fixture
def alice(client) -> Api:
    return Api(client, ALICE)


@pytest.fixture
def bob(client) -> Api:
    return Api(client, BOB)


@pytest.fixture
def charlie(client) -> Api:
    return Api(client, CHARLIE)


@pytest.fixture
def anon(client) -> Api:
    return Api(client, None)


def sha(n: int | str) -> str:
    """A deterministic 40-hex sha for test n."""
    return uuid.uuid5(uuid.NAMESPACE_OID, str(n)).hex + "00000000"
