"""Synthetic HTTP checks against a real HTTP server on 127.0.0.1, on both databases, through to the verdict."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import anyio
import pytest
from sqlalchemy import insert, select

from shiplane import clock
from shiplane.health import checks, push
from shiplane.health.checks import HttpChecker, Target
from shiplane.health.lifecycle import HealthJudge
from shiplane.settings import CheckConfig, Config
from shiplane.tables.catalog import environments
from shiplane.tables.health import metric_samples
from tests.conftest import sha
from tests.integration.test_health_lifecycle import api, harness, judge_once


class Site:
    """A real web server whose answers a test sets: ``ok`` (200), ``fail`` (500), ``slow`` (200 after ``delay``)."""

    def __init__(self) -> None:
        self.mode = "ok"
        self.delay = 0.0
        self.paths: list[str] = []
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the http.server API
                site.paths.append(self.path)
                if site.mode == "slow":
                    time.sleep(site.delay)
                status = 500 if site.mode == "fail" else 200
                body = b"down" if status == 500 else b"ok"
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                try:
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the prober gave up (timeout)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def reset(self) -> Site:
        self.mode, self.delay, self.paths[:] = "ok", 0.0, []
        return self


@pytest.fixture(scope="module")
def server():
    s = Site()
    s.thread.start()
    yield s
    s.server.shutdown()
    s.server.server_close()


@pytest.fixture
def site(server):
    return server.reset()


def config_with(*check_dicts, **health) -> Config:
    return Config.model_validate({"checks": list(check_dicts), "health": health or {}})


def samples(db):
    with db.read() as conn:
        rows = conn.execute(
            select(metric_samples).order_by(metric_samples.c.at, metric_samples.c.environment, metric_samples.c.metric)
        ).all()
    return [(r.metric, r.environment, r.service, r.value, r.at) for r in rows]


def tick(checker: HttpChecker, at) -> int:
    return anyio.run(checker.run, at)


T = clock.now().replace(microsecond=0) - timedelta(hours=3)


# ------------------------------------------------------------------ what is due (pure)


def test_it_plans_one_target_per_environment_and_service_placeholder():
    home = CheckConfig(name="home", url="https://$environment.example.com/")
    api_ = CheckConfig(name="api", url="https://api/$environment/$service/health", services=["web", "jobs"])
    fixed = CheckConfig(name="status", url="https://status.example.com/", environments=["production"], services=["web"])
    plan = checks.targets([home, api_, fixed], ["production", "staging"], ["web", "jobs", "admin"])
    assert {(t.check, t.environment, t.service, t.url) for t in plan} == {
        ("home", "production", None, "https://production.example.com/"),
        ("home", "staging", None, "https://staging.example.com/"),
        ("api", "production", "web", "https://api/production/web/health"),
        ("api", "production", "jobs", "https://api/production/jobs/health"),
        ("api", "staging", "web", "https://api/staging/web/health"),
        ("api", "staging", "jobs", "https://api/staging/jobs/health"),
        ("status", "production", None, "https://status.example.com/"),  # no $service: one sample for every service
    }


def test_a_target_is_due_one_interval_after_its_newest_sample():
    a, b = Target("home", "production", None, "u"), Target("home", "staging", None, "u")
    intervals = {"home": timedelta(seconds=30)}
    last = {a.key: T, b.key: T - timedelta(seconds=10)}
    assert checks.due([a, b], intervals, last, T + timedelta(seconds=19)) == []
    assert checks.due([a, b], intervals, last, T + timedelta(seconds=20)) == [b]
    assert checks.due([a, b], intervals, last, T + timedelta(seconds=30)) == [a, b]
    assert checks.due([a, b], intervals, {}, T) == [a, b]  # never probed: due now
    assert checks.next_due([a, b], intervals, last, T) == T + timedelta(seconds=20)
    assert checks.next_due([a, b], intervals, {}, T) == T
    assert checks.next_due([], intervals, {}, T) is None


# ------------------------------------------------------------------ probing and storing


def test_it_probes_every_known_environment_and_stores_availability_and_latency(db, site):
    with db.write() as conn:
        for slug in ("production", "staging"):
            conn.execute(insert(environments).values(slug=slug, name=slug, production=slug == "production", created_at=T))
    config = config_with({"name": "home", "url": site.url + "/$environment/health"})
    assert tick(HttpChecker(config, db), T) == 2
    assert sorted(site.paths) == ["/production/health", "/staging/health"]
    rows = samples(db)
    assert [(m, e, s, v) for m, e, s, v, _ in rows if m == "home availability"] == [
        ("home availability", "production", None, 1.0),
        ("home availability", "staging", None, 1.0),
    ]
    latencies = [v for m, _, _, v, _ in rows if m == "home latency"]
    assert len(latencies) == 2 and all(0 < v < 5000 for v in latencies)
    assert {at for *_, at in rows} == {T}


def test_a_wrong_status_is_unavailable_and_its_latency_is_still_measured(db, site):
    site.mode = "fail"
    tick(HttpChecker(config_with({"name": "home", "url": site.url + "/", "environments": ["production"]}), db), T)
    rows = {m: v for m, _, _, v, _ in samples(db)}
    assert rows["home availability"] == 0.0
    assert rows["home latency"] > 0


def test_an_expected_non_200_status_is_available(db, site):
    site.mode = "fail"
    check = {"name": "home", "url": site.url + "/", "environments": ["production"], "expect_status": 500}
    tick(HttpChecker(config_with(check), db), T)
    assert {m: v for m, _, _, v, _ in samples(db)}["home availability"] == 1.0


def test_a_timeout_or_a_refused_connection_is_unavailable_without_a_latency(db, site):
    site.mode, site.delay = "slow", 2.0
    with socket_closed() as dead_url:
        config = config_with(
            {"name": "slow", "url": site.url + "/slow", "environments": ["production"], "timeout": 0.2},
            {"name": "gone", "url": dead_url, "environments": ["production"], "timeout": 2},
        )
        started = time.perf_counter()
        assert tick(HttpChecker(config, db), T) == 2
        assert time.perf_counter() - started < 1.5  # the check's timeout (0.2 s) bounds the whole probe
    assert sorted((m, v) for m, _, _, v, _ in samples(db)) == [("gone availability", 0.0), ("slow availability", 0.0)]


class socket_closed:
    """A URL on 127.0.0.1 where nothing listens."""

    def __enter__(self) -> str:
        import socket

        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        self.port = s.getsockname()[1]
        s.close()
        return f"http://127.0.0.1:{self.port}/"

    def __exit__(self, *exc) -> None:
        pass


def test_one_url_without_placeholders_is_requested_once_for_all_its_environments(db, site):
    config = config_with({"name": "home", "url": site.url + "/", "environments": ["production", "staging"]})
    assert tick(HttpChecker(config, db), T) == 1
    assert site.paths == ["/"]
    assert sorted(e for m, e, *_ in samples(db) if m == "home availability") == ["production", "staging"]


def test_a_check_is_due_once_per_interval_even_across_restarts(db, site):
    config = config_with({"name": "home", "url": site.url + "/", "environments": ["production"], "interval": "30s"})
    checker = HttpChecker(config, db)
    assert tick(checker, T) == 1
    assert tick(checker, T) == 0
    assert tick(checker, T + timedelta(seconds=29)) == 0
    restarted = HttpChecker(config, db)  # nothing in memory: what is due comes from the stored samples
    assert tick(restarted, T + timedelta(seconds=29)) == 0
    assert tick(restarted, T + timedelta(seconds=30)) == 1
    assert tick(checker, T + timedelta(seconds=31)) == 0  # the other process probed meanwhile: not stored twice
    assert len(site.paths) == 2
    assert [at for m, *_, at in samples(db) if m == "home availability"] == [T, T + timedelta(seconds=30)]


def test_a_probe_stored_meanwhile_by_another_worker_is_not_stored_again(db):
    target = Target("home", "production", None, "http://x/")
    up = checks.Outcome(True, 12.0, "HTTP 200")
    intervals = {"home": timedelta(seconds=30)}
    with db.write() as conn:
        assert checks.record(conn, [([target], up)], intervals, T, ["home"]) == 1
    with db.write() as conn:  # a second process that decided it was due before the first one wrote
        assert checks.record(conn, [([target], up)], intervals, T + timedelta(seconds=10), ["home"]) == 0
    assert [(m, v, at) for m, _, _, v, at in samples(db)] == [("home availability", 1.0, T), ("home latency", 12.0, T)]


def test_samples_older_than_the_retention_are_pruned_and_others_kept(db, site):
    config = config_with({"name": "home", "url": site.url + "/", "environments": ["production"]})
    # long enough for the baseline, the window and the same window on each history day
    assert push.retention(config) >= timedelta(days=config.health.history_days) + config.health.window
    old = T - push.retention(config) - timedelta(minutes=1)
    with db.write() as conn:
        conn.execute(insert(metric_samples), [
            {"metric": "home availability", "environment": "production", "service": None, "value": 1.0, "at": old},
            {"metric": "home latency", "environment": "production", "service": None, "value": 9.0, "at": old},
            {"metric": "home latency", "environment": "production", "service": None, "value": 8.0, "at": T - timedelta(days=6)},
            {"metric": "checkout_errors", "environment": "production", "service": "web", "value": 3.0, "at": old},
        ])
    tick(HttpChecker(config, db), T)
    anyio.run(HealthJudge(config, db).prune, T)  # the judge prunes every metric's samples
    kept = {(m, at) for m, _, _, _, at in samples(db)}
    assert ("home availability", old) not in kept and ("home latency", old) not in kept
    assert ("home latency", T - timedelta(days=6)) in kept
    assert ("checkout_errors", old) not in kept  # pushed samples have the same retention


# ------------------------------------------------------------------ through the lifecycle

HEALTH = {"baseline": "10m", "window": "10m", "interval": "1m"}


def judged(db, db_url, site, before: str, after: str, delay: float = 0.0, metrics: list | None = None):
    """Probe every 30 s for ten minutes before a deploy (site ``before``) and ten after (``after``); judge it."""
    config = {"checks": [{"name": "home", "url": site.url + "/$environment", "environments": ["production"],
                          "interval": "30s", "timeout": 2}], "health": HEALTH, "metrics": metrics or []}
    client, ctx, _ = harness(db, db_url, config)
    with client:
        checker = HttpChecker(ctx.settings.config, db)
        for i in range(-20, 20):
            site.mode, site.delay = (before if i < 0 else after), delay
            assert tick(checker, T + timedelta(seconds=30 * i)) == 1
        d = api(client, "POST", "/api/v1/deploys",
                json={"service": "web", "environment": "production", "sha": sha(1), "finished_at": T.isoformat()}).json()
        assert d["health"]["state"] == "pending"  # a configured check alone makes deploys judged

        judge_once(ctx.settings.config, db)
        health = api(client, "GET", f"/api/v1/deploys/{d['id']}").json()["health"]
        locks = api(client, "GET", "/api/v1/locks?active=true").json()["items"]
    return health, {m["name"]: m for m in health["metrics"]}, locks


def test_a_deploy_whose_window_sees_failing_checks_is_unhealthy_and_locks(db, db_url, site):
    health, metrics, locks = judged(db, db_url, site, before="ok", after="fail")
    assert (health["state"], health["final"]) == ("unhealthy", True)
    assert set(metrics) == {"home availability", "home latency"}
    availability = metrics["home availability"]
    assert availability["health"] == "unhealthy"
    assert (availability["baseline_center"], availability["current_center"]) == (1.0, 0.0)
    assert [lk["kind"] for lk in locks] == ["auto"]


def test_a_deploy_that_makes_the_page_slow_is_unhealthy_by_latency(db, db_url, site):
    health, metrics, _ = judged(db, db_url, site, before="ok", after="slow", delay=0.08)
    assert metrics["home availability"]["health"] == "healthy"
    assert metrics["home latency"]["health"] == "unhealthy"
    assert health["state"] == "unhealthy"  # one of two metrics unhealthy: score 50


def test_a_deploy_with_steady_checks_is_healthy_and_an_explicit_metric_replaces_the_derived_one(db, db_url, site):
    # Local latencies are a few milliseconds and jitter on a busy machine: this deploy's
    # [[metrics]] entry for the latency asks for a 5x slowdown before it is unhealthy.
    explicit = {"name": "home latency", "source": "http_check", "regression": "increase",
                "ailing_ratio": 4, "unhealthy_ratio": 5}
    health, metrics, locks = judged(db, db_url, site, before="ok", after="ok", metrics=[explicit])
    assert sorted(m["name"] for m in health["metrics"]) == ["home availability", "home latency"]  # not three
    assert metrics["home availability"]["health"] == "healthy"
    assert metrics["home availability"]["current_center"] == 1.0
    assert (health["state"], locks) == ("healthy", [])
