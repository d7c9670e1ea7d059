"""A real server process: concurrency, kill -9 durability."""

from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.conftest import BOB, sha
from tests.integration.live import LiveServer

pytestmark = pytest.mark.slow
AUTH = {"Authorization": f"Bearer {BOB}"}


def test_exactly_one_of_many_concurrent_starts_wins(db, db_url):
    """30 concurrent starts over two server processes on one database: one 201, the rest 409."""
    with LiveServer(db_url) as a, LiveServer(db_url) as b:
        barrier_urls = [a.url, b.url]

        def start(i: int) -> int:
            url = barrier_urls[i % 2]
            body = {"service": "web", "environment": "production", "sha": sha(i), "status": "started"}
            return httpx.post(f"{url}/api/v1/deploys", json=body, headers=AUTH, timeout=30).status_code

        with ThreadPoolExecutor(max_workers=30) as pool:
            codes = list(pool.map(start, range(30)))
        assert sorted(codes) == [201] + [409] * 29
        items = httpx.get(f"{a.url}/api/v1/deploys", headers=AUTH).json()["items"]
        assert [d["status"] for d in items] == ["started"]


def test_an_acknowledged_deploy_survives_kill_9(db, db_url):
    server = LiveServer(db_url).start()
    try:
        acked = []
        for i in range(20):
            r = httpx.post(
                f"{server.url}/api/v1/deploys",
                json={"service": "web", "environment": "production", "sha": sha(i)},
                headers=AUTH,
            )
            assert r.status_code == 201
            acked.append(r.json()["id"])
        server.kill9()
    finally:
        server.stop()
    with LiveServer(db_url) as again:
        items = httpx.get(f"{again.url}/api/v1/deploys?limit=100", headers=AUTH).json()["items"]
    assert sorted(d["id"] for d in items) == sorted(acked)
