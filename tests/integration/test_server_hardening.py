"""A real `shiplane serve`: forwarded addresses, slow headers, live streams after logout (issue 12)."""

from __future__ import annotations

import re
import socket
import time

import httpx
import pytest

from shiplane import clock
from shiplane.auth import service as auth_service
from tests.integration.live import LiveServer

pytestmark = pytest.mark.slow
PASSWORD = "a long passphrase"


@pytest.fixture
def dana(db):
    with db.write() as conn:
        auth_service.create_user(conn, "dana", "deployer", PASSWORD, clock.now())


def login(client: httpx.Client, password: str, forwarded_for: str | None = None) -> httpx.Response:
    token = re.search(r'name="csrf" value="([^"]+)"', client.get("/login").text).group(1)
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
    return client.post("/login", data={"username": "dana", "password": password, "csrf": token}, headers=headers)


def test_forwarded_addresses_count_only_from_trusted_proxies(db_url, dana, tmp_path):
    # Untrusted: five failures that each claim a different address still come from 127.0.0.1.
    with LiveServer(db_url) as server, httpx.Client(base_url=server.url) as client:
        for n in range(5):
            assert login(client, "nope", forwarded_for=f"203.0.113.{n}").status_code == 401
        assert login(client, PASSWORD, forwarded_for="203.0.113.99").status_code == 429
    # Trusted: the proxy's X-Forwarded-For names the client, and clients are counted apart.
    config = tmp_path / "shiplane.toml"
    config.write_text('[server]\ntrusted_proxies = ["127.0.0.1"]\n')
    with LiveServer(db_url, config=str(config)) as server, httpx.Client(base_url=server.url) as client:
        for n in range(5):
            assert login(client, "nope", forwarded_for=f"198.51.100.{n}").status_code == 401
        assert login(client, PASSWORD, forwarded_for="198.51.100.99").status_code == 303


def test_a_client_that_sends_its_headers_too_slowly_is_disconnected(db_url, tmp_path):
    config = tmp_path / "shiplane.toml"
    config.write_text('[server]\nheader_timeout = "1s"\n')
    with LiveServer(db_url, config=str(config)) as server:
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as slow:
            slow.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # and never the blank line
            started = time.monotonic()
            assert slow.recv(1024) == b""  # the server closed the connection
            assert time.monotonic() - started < 5
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as idle:
            started = time.monotonic()
            assert idle.recv(1024) == b""  # nothing sent at all: closed too
            assert time.monotonic() - started < 5
        assert httpx.get(f"{server.url}/healthz").status_code == 200  # a normal client is unaffected


def test_logout_ends_an_open_live_stream(db_url, dana):
    with LiveServer(db_url) as server, httpx.Client(base_url=server.url, timeout=30) as client:
        assert login(client, PASSWORD).status_code == 303
        csrf = re.search(r'name="csrf" value="([^"]+)"', client.get("/").text).group(1)
        with httpx.Client(base_url=server.url, cookies=client.cookies, timeout=30) as viewer:
            with viewer.stream("GET", "/live") as stream:
                lines = stream.iter_lines()
                assert next(lines).startswith("retry:")
                assert client.post("/logout", data={"csrf": csrf}).status_code in (200, 303)
                started = time.monotonic()
                seen = []
                for line in lines:  # ends when the server closes the stream
                    seen.append(line)
                assert "event: logout" in seen
                assert time.monotonic() - started < 15
