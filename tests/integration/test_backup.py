"""Backups: `shiplane db backup` copies SQLite while the server writes; a pg_dump of
PostgreSQL restores into a new database that a server starts on (docs/operations.md, Backups)."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import create_engine, text

from tests.conftest import PG_ADMIN_URL, sha
from tests.integration.live import BIN, LiveServer

pytestmark = pytest.mark.slow
TOKEN = "shp_backup-test-bootstrap-token-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@contextlib.contextmanager
def serving(url: str, *args: str) -> Iterator[LiveServer]:
    """A server on the database; a busy machine can take well over LiveServer's usual 20 s to start."""
    server = LiveServer(url, extra_env={"SHIPLANE_BOOTSTRAP_TOKEN": TOKEN}, args=args).start(timeout=120)
    try:
        yield server
    finally:
        server.stop()


def register(url: str, n: int) -> int:
    body = {"service": f"svc-{n % 3}", "environment": "production", "sha": sha(n)}
    r = httpx.post(f"{url}/api/v1/deploys", json=body, headers=AUTH, timeout=30)
    assert r.status_code == 201, r.text
    return r.json()["id"]


def shiplane(*args: str, database_url: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SHIPLANE_DATABASE_URL": database_url}
    env.pop("SHIPLANE_CONFIG", None)
    return subprocess.run([str(BIN / "shiplane"), *args], env=env, capture_output=True, text=True, timeout=120)


def test_it_backs_up_sqlite_consistently_while_the_server_writes(tmp_path):
    url = f"sqlite:///{tmp_path / 'shiplane.db'}"
    acked: list[int] = []
    stop = threading.Event()
    with serving(url) as server:

        def write() -> None:
            n = 0
            while not stop.is_set():
                acked.append(register(server.url, n))
                n += 1

        writer = threading.Thread(target=write)
        writer.start()
        try:
            backups = []
            for i in range(3):
                while len(acked) < 10 * (i + 1):
                    time.sleep(0.01)
                before = len(acked)
                path = tmp_path / f"backup-{i}.db"
                done = shiplane("db", "backup", str(path), database_url=url)
                assert done.returncode == 0, done.stderr
                backups.append((path, before, len(acked)))
        finally:
            stop.set()
            writer.join(30)

        for path, before, after in backups:
            # Writes went on while the command ran: the server was not held up.
            assert after > before
            copy = sqlite3.connect(path)
            assert copy.execute("PRAGMA integrity_check").fetchone() == ("ok",)
            assert copy.execute("PRAGMA journal_mode").fetchone() == ("delete",)
            ids = [row[0] for row in copy.execute("SELECT id FROM deploys ORDER BY id")]
            # One snapshot: every deploy acknowledged before the command, none missing in
            # between, and each deploy together with the event written in its transaction.
            assert before <= len(ids) <= after
            assert ids == acked[: len(ids)]
            events = copy.execute("SELECT count(*) FROM events WHERE kind = 'deploy_registered'").fetchone()[0]
            assert events == len(ids)
            copy.close()
        assert not any(p.name.startswith(".") for p in tmp_path.iterdir())

    last, _, _ = backups[-1]
    restored = len(sqlite3.connect(last).execute("SELECT id FROM deploys").fetchall())
    with serving(f"sqlite:///{last}") as again:
        got = httpx.get(f"{again.url}/api/v1/deploys/{acked[restored - 1]}", headers=AUTH, timeout=10)
        assert got.status_code == 200 and got.json()["sha"] == sha(restored - 1)


def test_it_refuses_to_overwrite_and_points_postgresql_to_pg_dump(tmp_path):
    url = f"sqlite:///{tmp_path / 'shiplane.db'}"
    assert shiplane("db", "upgrade", database_url=url).returncode == 0
    existing = tmp_path / "there.db"
    existing.write_text("keep me")
    done = shiplane("db", "backup", str(existing), database_url=url)
    assert (done.returncode, existing.read_text()) == (2, "keep me")
    assert "exists" in done.stderr
    done = shiplane("db", "backup", str(tmp_path / "x.db"), database_url=PG_ADMIN_URL)
    assert done.returncode == 2 and "pg_dump" in done.stderr


@pytest.fixture
def two_databases() -> Iterator[tuple[str, str]]:
    names = [f"shiplane_backup_{uuid.uuid4().hex[:8]}_{side}" for side in ("a", "b")]
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        for name in names:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    yield f"{base}/{names[0]}", f"{base}/{names[1]}"
    with admin.connect() as conn:
        for name in names:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def test_a_pg_dump_restores_into_a_new_database_that_serves(two_databases, tmp_path):
    source, target = two_databases
    libpq = [u.replace("postgresql+psycopg://", "postgresql://", 1) for u in (source, target)]
    with serving(source, "--migrate") as server:
        ids = [register(server.url, n) for n in range(5)]
        before = httpx.get(f"{server.url}/api/v1/deploys", headers=AUTH, timeout=10).json()["items"]

    # The commands docs/operations.md gives.
    dump = tmp_path / "shiplane.dump"
    subprocess.run(["pg_dump", "-Fc", "-f", str(dump), libpq[0]], check=True, timeout=120)
    subprocess.run(["pg_restore", "--no-owner", "-d", libpq[1], str(dump)], check=True, timeout=120)

    # No --migrate: the restored schema is current, so serve starts as it would after a restore.
    with serving(target) as restored:
        after = httpx.get(f"{restored.url}/api/v1/deploys", headers=AUTH, timeout=10).json()["items"]
        assert after == before
        # The sequences came along: a new deploy gets the next id, not a clash.
        assert register(restored.url, 99) == max(ids) + 1
