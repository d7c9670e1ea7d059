"""Outages are 503 with Retry-After, every request gets an answer, and nothing is half-written (issue 12).

A private PostgreSQL cluster (Debian's initdb/pg_ctl, on its own port, never the
shared server) is stopped and started under a real `shiplane serve`; SQLite runs
on a small tmpfs that is filled up. Each write either answered 2xx and is stored,
or answered 503 and is not.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text

from tests.integration.live import LiveServer, free_port

pytestmark = pytest.mark.slow

TOKEN = "outage-test-admin-token-0123456789"
PG_BIN = Path(sorted(glob.glob("/usr/lib/postgresql/*/bin"))[-1])


def _as_postgres(*args: str) -> None:
    subprocess.run(["runuser", "-u", "postgres", "--", *args], check=True, capture_output=True, timeout=60)


class PrivateCluster:
    def __init__(self, root: Path) -> None:
        self.data = root / "data"
        self.log = root / "pg.log"
        self.port = free_port()
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/shiplane"

    def init(self) -> None:
        _as_postgres(str(PG_BIN / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres")
        self.start()
        engine = create_engine(self.url.rsplit("/", 1)[0] + "/postgres", isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(text("CREATE DATABASE shiplane"))
        engine.dispose()

    def start(self) -> None:
        _as_postgres(
            str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-w",
            "-o", f"-p {self.port} -k {self.data} -c listen_addresses=127.0.0.1", "start",
        )

    def stop(self) -> None:
        _as_postgres(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")


@pytest.fixture
def cluster() -> Iterator[PrivateCluster]:
    # Not under pytest's tmp_path: its folders are private to root, and the cluster runs as postgres.
    root = Path(tempfile.mkdtemp(prefix="shiplane-pg-"))
    shutil.chown(root, "postgres", "postgres")
    c = PrivateCluster(root)
    c.init()
    yield c
    try:
        c.stop()
    except subprocess.CalledProcessError:
        pass
    shutil.rmtree(root, ignore_errors=True)


def _register(client: httpx.Client, sha: str) -> int:
    r = client.post(
        "/api/v1/deploys",
        headers={"Authorization": f"Bearer {TOKEN}"},
        json={"service": "web", "environment": "production", "sha": sha},
    )
    if r.status_code == 503:
        assert r.json()["error"] == "unavailable" and r.headers["retry-after"].isdigit()
    return r.status_code


def _stored(url: str) -> set[str]:
    engine = create_engine(url)
    with engine.connect() as conn:
        shas = set(conn.execute(text("SELECT sha FROM deploys")).scalars())
    engine.dispose()
    return shas


def test_a_postgresql_restart_gives_503_and_loses_no_acknowledged_write(cluster):
    server = LiveServer(cluster.url, args=["--migrate"], extra_env={"SHIPLANE_BOOTSTRAP_TOKEN": TOKEN}).start()
    acknowledged, refused = set(), set()
    try:
        # One keep-alive connection throughout: a connection closed without an answer
        # would surface here as an httpx error and fail the test.
        with httpx.Client(base_url=server.url, timeout=10) as client:

            def write(n: int) -> int:
                sha = uuid.uuid4().hex
                status = _register(client, sha)
                assert status in (201, 503), status
                (acknowledged if status == 201 else refused).add(sha)
                return status

            assert [write(n) for n in range(20)] == [201] * 20
            cluster.stop()
            during = [write(n) for n in range(30)]
            assert set(during) == {503}
            gate = client.get("/api/v1/gate?environment=production", headers={"Authorization": f"Bearer {TOKEN}"})
            assert gate.status_code in (200, 503)  # a cached answer may still be served; never a 500
            if gate.status_code == 503:
                assert gate.json()["error"] == "unavailable" and "retry-after" in gate.headers
            unknown = client.get("/api/v1/deploys", headers={"Authorization": "Bearer not-a-token"})
            assert unknown.status_code == 503 and unknown.json()["error"] == "unavailable"
            cluster.start()
            after = [write(n) for n in range(40)]
            assert after[-10:] == [201] * 10  # back to normal once the pool has reconnected
    finally:
        server.stop()
    stored = _stored(cluster.url)
    assert acknowledged <= stored, "an acknowledged deploy was lost"
    assert not (refused & stored), "a deploy answered 503 was stored"


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    mount = tmp_path / "disk"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(mount)], check=True)
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_full_disk_gives_503_and_writes_resume_once_there_is_room(small_disk: Path):
    url = f"sqlite:///{small_disk / 'shiplane.db'}"
    server = LiveServer(url, extra_env={"SHIPLANE_BOOTSTRAP_TOKEN": TOKEN}).start()
    acknowledged, refused = set(), set()
    filler = small_disk / "filler"
    try:
        with httpx.Client(base_url=server.url, timeout=10) as client:

            def write() -> int:
                sha = uuid.uuid4().hex
                status = _register(client, sha)
                assert status in (201, 503), status
                (acknowledged if status == 201 else refused).add(sha)
                return status

            assert write() == 201
            with open(filler, "wb") as fh:  # fill the disk to the last block
                try:
                    while True:
                        fh.write(b"\0" * 65536)
                        fh.flush()
                        os.fsync(fh.fileno())
                except OSError:
                    pass
            statuses = [write() for _ in range(30)]
            assert 503 in statuses
            assert client.get("/healthz").status_code == 200
            filler.unlink()
            assert [write() for _ in range(5)][-1] == 201
    finally:
        server.stop()
    stored = _stored(url)
    assert acknowledged <= stored, "an acknowledged deploy was lost"
    assert not (refused & stored), "a deploy answered 503 was stored"
