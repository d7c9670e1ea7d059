"""The container image, built from the Dockerfile and run with podman on this machine.

The base image is a local stand-in for debian:bookworm-slim (debootstrap, see
scripts/container-image.sh); the build uses ``--pull=never``. The image must serve on its
defaults (0.0.0.0:8700, SQLite under /data), as a non-root user, keep its data in the volume
across containers, read a mounted config file, answer its HEALTHCHECK, stop cleanly on SIGTERM
as PID 1, and work against the host's PostgreSQL. Timings are in benchmarks/container.py.
"""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text

from tests.conftest import PG_ADMIN_URL, sha
from tests.integration import podman
from tests.integration.live import free_port

pytestmark = pytest.mark.slow
TOKEN = "shp_container-test-bootstrap-token-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
CONFIG = """
[server]
auto_create = false

[[services]]
slug = "web"

[[environments]]
slug = "production"
"""


@pytest.fixture(scope="module")
def image() -> str:
    # CI must run this test: where podman cannot run, it fails and says why (it never skips).
    reason = podman.why_podman_cannot_run()
    if reason:
        pytest.fail(f"the container test cannot run: {reason}", pytrace=False)
    info = subprocess.run(["podman", "info"], env=podman.env(), capture_output=True, text=True)
    if info.returncode != 0:
        pytest.fail(f"podman cannot run here: {info.stderr.strip()[-500:]}", pytrace=False)
    return podman.build("localhost/shiplane:test")


@pytest.fixture
def volume() -> Iterator[str]:
    name = f"shiplane-test-{uuid.uuid4().hex[:10]}"
    podman.podman("volume", "create", name)
    yield name
    podman.podman("volume", "rm", "--force", name, check=False)


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "shiplane.toml"
    path.write_text(CONFIG)
    path.chmod(0o644)
    return path


def register(url: str, service: str, n: int) -> httpx.Response:
    body = {"service": service, "environment": "production", "sha": sha(n), "version": f"1.{n}.0"}
    return httpx.post(f"{url}/api/v1/deploys", json=body, headers=AUTH, timeout=10)


def serve_on_sqlite(image: str, volume: str, config_file: Path) -> podman.Container:
    port = free_port()
    options = (
        "-p", f"127.0.0.1:{port}:8700",
        "-v", f"{volume}:/data",
        "-v", f"{config_file}:/etc/shiplane/shiplane.toml:ro",
        "-e", "SHIPLANE_CONFIG=/etc/shiplane/shiplane.toml",
        "-e", f"SHIPLANE_BOOTSTRAP_TOKEN={TOKEN}",
    )  # fmt: skip
    return podman.Container(image, options=options, port=port)


def test_it_serves_on_sqlite_in_the_volume_as_non_root_and_keeps_data_across_containers(image, volume, config_file):
    with serve_on_sqlite(image, volume, config_file) as first:
        first.wait_healthy()
        assert podman.podman("healthcheck", "run", first.name).returncode == 0

        # PID 1 is shiplane itself, not a shell, and not root.
        pid = first.state("{{.State.Pid}}")
        status = Path(f"/proc/{pid}/status").read_text()
        ids = {line.split()[0]: line.split()[1] for line in status.splitlines() if line.startswith(("Uid:", "Gid:"))}
        assert ids == {"Uid:": "10001", "Gid:": "10001"}  # docs/operations.md and the Kubernetes pods say so
        assert "shiplane" in Path(f"/proc/{pid}/cmdline").read_bytes().decode().replace("\0", " ")

        created = register(first.url, "web", 1)
        assert created.status_code == 201, created.text
        # The mounted config file is the one in force: auto_create = false.
        refused = register(first.url, "unknown-svc", 2)
        assert refused.status_code == 404 and refused.json()["error"] == "unknown_service"

        seconds, code = first.stop()
        assert code == 0, f"not a clean stop on SIGTERM (exit {code}): {first.logs()}"
        files = podman.podman("run", "--rm", "--entrypoint", "ls", "-v", f"{volume}:/data", image, "/data").stdout
        assert "shiplane.db" in files.split()

    with serve_on_sqlite(image, volume, config_file) as second:
        second.wait_healthy()
        got = httpx.get(f"{second.url}/api/v1/deploys/{created.json()['id']}", headers=AUTH, timeout=10)
        assert got.status_code == 200
        assert (got.json()["sha"], got.json()["version"]) == (sha(1), "1.1.0")


@pytest.fixture
def fresh_pg() -> Iterator[str]:
    name = f"shiplane_container_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def test_it_runs_on_the_hosts_postgresql_with_a_separate_worker(image, fresh_pg):
    env = ("--network", "host", "-e", f"SHIPLANE_DATABASE_URL={fresh_pg}", "-e", f"SHIPLANE_BOOTSTRAP_TOKEN={TOKEN}")
    # A fresh database: serve refuses the empty schema until `db upgrade` has run.
    refused = podman.podman("run", "--rm", *env, image, "serve", check=False)
    assert refused.returncode == 3 and "shiplane db upgrade" in refused.stderr + refused.stdout
    upgraded = podman.podman("run", "--rm", *env, image, "db", "upgrade")
    assert "database at revision" in upgraded.stdout

    port = free_port()
    serve_options = (*env, "-e", f"SHIPLANE_PORT={port}")
    with (
        podman.Container(image, "serve", "--no-worker", options=serve_options, port=port) as api,
        podman.Container(image, "worker", options=env) as worker,
    ):
        api.wait_healthy()
        created = register(api.url, "web", 7)
        assert created.status_code == 201, created.text
        listed = httpx.get(f"{api.url}/api/v1/deploys", headers=AUTH, timeout=10).json()["items"]
        assert [d["sha"] for d in listed] == [sha(7)]
        # Up and running (it says so once its SIGTERM receiver is in place) on the same database.
        worker.wait_log("shiplane worker running on postgresql")

        _, code = worker.stop()
        assert code == 0, f"the worker did not stop cleanly on SIGTERM (exit {code}): {worker.logs()}"
        _, code = api.stop()
        assert code == 0, f"serve did not stop cleanly on SIGTERM (exit {code}): {api.logs()}"

    rows = create_engine(fresh_pg.replace("postgresql:", "postgresql+psycopg:", 1))
    with rows.connect() as conn:
        assert conn.execute(text("SELECT sha FROM deploys")).scalars().all() == [sha(7)]
    rows.dispose()
