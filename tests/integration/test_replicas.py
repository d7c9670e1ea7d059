"""Several replicas on one PostgreSQL database behind HAProxy: two `serve --no-worker` processes
and one `shiplane worker` (tests/integration/replicas.py). What one replica does, the other sees."""

from __future__ import annotations

import queue
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from shiplane import clock
from shiplane.auth import service as auth_service
from tests.conftest import ALICE, BOB, CHARLIE, migrated, sha, wipe
from tests.integration.replicas import Cluster

pytestmark = pytest.mark.slow
AUTH = {"Authorization": f"Bearer {BOB}"}
PASSWORD = "correct horse battery"
CONFIG = '[[environments]]\nslug = "production"\nproduction = true\n\n[[services]]\nslug = "web"\n\n[[services]]\nslug = "checkout"\n'


@pytest.fixture(scope="module")
def cluster(pg_url, tmp_path_factory):
    """One cluster for the module (three processes take a while to start); each test leaves the gate open."""
    tmp_path = tmp_path_factory.mktemp("replicas")
    db = migrated(pg_url)
    wipe(db)
    now = clock.now()
    with db.write() as conn:
        for name, role, token in (("alice", "admin", ALICE), ("bob", "deployer", BOB), ("charlie", "viewer", CHARLIE)):
            auth_service.create_token(conn, name, role, now, token=token)
        auth_service.create_user(conn, "dana", "deployer", PASSWORD, now)
    config = tmp_path / "shiplane.toml"
    config.write_text(CONFIG)
    with Cluster(pg_url, tmp_path, config=str(config)) as running:
        yield running
    db.dispose()


def login(base: str) -> httpx.Client:
    client = httpx.Client(base_url=base, timeout=10)
    page = client.get("/login")
    token = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    r = client.post("/login", data={"username": "dana", "password": PASSWORD, "csrf": token})
    assert r.status_code == 303, r.text
    return client


def gate_allowed(base: str) -> bool:
    return httpx.get(f"{base}/api/v1/gate", params={"environment": "production"}, headers=AUTH, timeout=5).json()["allowed"]


def test_a_session_made_on_one_replica_works_on_the_other(cluster):
    a, b = cluster.replicas
    on_a = login(a.url)
    cookie = on_a.cookies.get("shiplane_session")
    on_b = httpx.Client(base_url=b.url, cookies={"shiplane_session": cookie}, timeout=10)
    assert on_b.get("/", follow_redirects=False).status_code == 200
    assert httpx.get(f"{b.url}/", follow_redirects=False).status_code == 303  # and without it, no
    # A logout on B ends the session on A too.
    csrf = re.search(r'name="csrf" value="([^"]+)"', on_b.get("/locks").text).group(1)
    on_b.post("/logout", data={"csrf": csrf})
    assert on_a.get("/", follow_redirects=False).status_code == 303


def test_a_lock_made_through_one_replica_reaches_a_live_page_on_the_other(cluster):
    a, b = cluster.replicas
    on_b = login(b.url)
    heard: queue.Queue[str] = queue.Queue()
    opened = threading.Event()

    def listen() -> None:
        with on_b.stream("GET", "/live", timeout=30) as stream:
            for line in stream.iter_lines():
                opened.set()
                if line.startswith("data:"):
                    heard.put(line.split(":", 1)[1].strip())
                    if "lock_created" in line:
                        return

    thread = threading.Thread(target=listen, daemon=True)
    thread.start()
    assert opened.wait(10)
    time.sleep(0.5)  # B's LISTEN connection is opened with its first page
    r = httpx.post(f"{a.url}/api/v1/locks", json={"environment": "production", "reason": "db migration"}, headers=AUTH)
    assert r.status_code == 201
    try:
        _heard_lock(heard)
    finally:
        httpx.delete(f"{a.url}/api/v1/locks/{r.json()['id']}", headers=AUTH).raise_for_status()


def _heard_lock(heard: queue.Queue[str]) -> None:
    seen = []
    deadline = time.monotonic() + 10
    while "lock_created" not in seen and time.monotonic() < deadline:
        try:
            seen.append(heard.get(timeout=0.2))
        except queue.Empty:
            pass
    assert "lock_created" in seen


def test_the_gate_on_both_replicas_agrees_within_a_second_of_a_change(cluster):
    a, b = cluster.replicas
    assert gate_allowed(a.url) and gate_allowed(b.url)  # both have an open answer cached now
    lock = httpx.post(f"{a.url}/api/v1/locks", json={"environment": "production", "reason": "freeze"}, headers=AUTH)
    assert lock.status_code == 201
    changed = time.monotonic()
    lagging = {a.url, b.url}
    while lagging and time.monotonic() - changed < 3:
        lagging = {url for url in lagging if gate_allowed(url)}
    assert not lagging and time.monotonic() - changed <= 1.0, f"still open on {lagging} after {time.monotonic() - changed:.2f} s"
    httpx.delete(f"{b.url}/api/v1/locks/{lock.json()['id']}", headers=AUTH).raise_for_status()
    ended = time.monotonic()
    lagging = {a.url, b.url}
    while lagging and time.monotonic() - ended < 3:
        lagging = {url for url in lagging if not gate_allowed(url)}
    assert not lagging and time.monotonic() - ended <= 1.0, f"still closed on {lagging} after {time.monotonic() - ended:.2f} s"


def test_fifty_concurrent_starts_across_both_replicas_give_exactly_one_201(cluster):
    def start(i: int) -> int:
        body = {"service": "checkout", "environment": "production", "sha": sha(i), "status": "started"}
        return httpx.post(f"{cluster.balancer.url}/api/v1/deploys", json=body, headers=AUTH, timeout=30).status_code

    with ThreadPoolExecutor(max_workers=50) as pool:
        codes = list(pool.map(start, range(50)))
    assert sorted(codes) == [201] + [409] * 49
    items = httpx.get(f"{cluster.balancer.url}/api/v1/deploys", params={"service": "checkout"}, headers=AUTH).json()["items"]
    assert [d["status"] for d in items] == ["started"]


def test_killing_a_replica_loses_no_acknowledged_write_and_the_balancer_keeps_serving(cluster):
    a, b = cluster.replicas
    acked: list[int] = []
    answers: list[tuple[float, int]] = []
    stop = threading.Event()

    errors: list[str] = []

    def register(thread: int) -> None:
        with httpx.Client(base_url=cluster.balancer.url, headers=AUTH, timeout=10) as client:
            n = 0
            while not stop.is_set():
                n += 1
                body = {"service": "web", "environment": "production", "sha": sha(f"k{thread}-{n}")}
                try:
                    r = client.post("/api/v1/deploys", json=body)
                except httpx.HTTPError as exc:
                    answers.append((time.monotonic(), 0))
                    errors.append(repr(exc))
                    continue
                answers.append((time.monotonic(), r.status_code))
                if r.status_code == 201:
                    acked.append(r.json()["id"])

    threads = [threading.Thread(target=register, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    time.sleep(3)
    killed = time.monotonic()  # before the signal: an answer cut off by it is timed after this
    a.kill9()
    time.sleep(5)
    stop.set()
    for thread in threads:
        thread.join(15)
    before = [code for at, code in answers if at < killed]
    after = [code for at, code in answers if at > killed + 2]  # retried on the other replica, and soon marked down
    assert before and set(before) == {201}, errors
    assert after and set(after) == {201}, "the balancer stopped serving after a replica died"
    # Only the requests in flight at the kill, and retries that reached the dead replica before the
    # balancer saw it go, may fail: every failure is within a second of the kill, and there are few.
    failed = [at for at, code in answers if code != 201]
    assert all(killed <= at <= killed + 1 for at in failed), failed
    assert len(failed) <= 12, failed
    listed = httpx.get(f"{cluster.balancer.url}/api/v1/deploys", params={"limit": 500}, headers=AUTH).json()
    ids = {d["id"] for d in listed["items"]}
    while listed.get("next_cursor") and len(ids) < len(acked):
        listed = httpx.get(f"{cluster.balancer.url}/api/v1/deploys", params={"limit": 500, "cursor": listed["next_cursor"]}, headers=AUTH).json()
        ids |= {d["id"] for d in listed["items"]}
    assert set(acked) <= ids, f"{len(set(acked) - ids)} acknowledged deploys are missing"
    assert b.proc.poll() is None and cluster.worker.proc.poll() is None


def test_a_lock_through_one_process_clears_the_gate_cache_of_another_at_once(pg_url):
    """Not the cache's lifetime: with an hour-long one, the other process still answers the new gate."""
    from datetime import timedelta

    from fastapi.testclient import TestClient

    from shiplane.app import create_app
    from shiplane.db import Database
    from shiplane.settings import Config
    from tests.conftest import make_settings

    db = migrated(pg_url)
    wipe(db)
    with db.write() as conn:
        auth_service.create_token(conn, "bob", "deployer", clock.now(), token=BOB)
    config = Config.model_validate({"environments": [{"slug": "production"}]})
    first, second = Database(pg_url), Database(pg_url)
    app_a = create_app(make_settings(pg_url, config), db=first, worker=False)
    app_b = create_app(make_settings(pg_url, config), db=second, worker=False)
    app_b.state.ctx.gates.ttl = timedelta(hours=1)
    try:
        with TestClient(app_a) as a, TestClient(app_b) as b:
            def allowed() -> bool:
                return b.get("/api/v1/gate", params={"environment": "production"}, headers=AUTH).json()["allowed"]

            assert allowed()  # cached for an hour
            deadline = time.monotonic() + 5
            while not second.bus.listening.is_set() and time.monotonic() < deadline:
                time.sleep(0.05)
            assert a.post("/api/v1/locks", json={"environment": "production", "reason": "x"}, headers=AUTH).status_code == 201
            deadline = time.monotonic() + 10
            while allowed() and time.monotonic() < deadline:
                time.sleep(0.05)
            assert not allowed()
    finally:
        first.dispose()
        second.dispose()
        db.dispose()
