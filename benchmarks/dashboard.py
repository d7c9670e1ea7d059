"""How long the dashboard's overview takes to render on a big database.

Seeds 200 services × 5 environments and 1,000,000 deploys (plus a few active
locks and deploys in progress) straight into SQLite and/or PostgreSQL, then
requests ``GET /`` and ``GET /?partial=lanes`` in-process through the ASGI app
with a logged-in session (no network, no uvicorn: server time only), and the
``views.overview`` read on its own. Target: p95 ≤ 100 ms for ``GET /``.

Run from the repository root (seeding takes about a minute per database):
    .venv/bin/python benchmarks/dashboard.py
    .venv/bin/python benchmarks/dashboard.py --db sqlite --deploys 100000
"""

from __future__ import annotations

import argparse
import os
import random
import re
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from shiplane import clock, migrate  # noqa: E402
from shiplane.auth import service as auth_service  # noqa: E402
from shiplane.db import Database  # noqa: E402

PG_ADMIN = os.environ.get("SHIPLANE_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/test")
PG_DB = "shiplane_bench_dashboard"
NOW = datetime(2026, 11, 1, tzinfo=UTC)
ENVS = ["dev", "qa", "staging", "canary", "production"]
HEALTH = ["healthy"] * 8 + ["ailing", "unhealthy", "no_data", "pending"]


def rows(n_deploys: int, n_services: int):
    rng = random.Random(7)
    span = 730 * 86400
    for i in range(1, n_deploys + 1):
        at = NOW - timedelta(seconds=span * (n_deploys - i) / n_deploys + rng.random())
        stamp = at.strftime("%Y-%m-%d %H:%M:%S.%f")
        yield (
            i, rng.randint(1, n_services), rng.randint(1, len(ENVS)), f"{rng.getrandbits(160):040x}", "succeeded",
            stamp, stamp, stamp, stamp, f"dev{rng.randint(1, 50)}", "[]", False, False, rng.choice(HEALTH),
            True, rng.randint(0, 30),
        )


COLUMNS = (
    "id, service_id, environment_id, sha, status, registered_at, started_at, finished_at, deployed_at, author,"
    " tags, during_lock, has_changes, health_state, health_final, commit_count"
)


def seed(db: Database, n_deploys: int, n_services: int) -> None:
    migrate.upgrade(db.engine)
    now = clock.now()
    with db.write() as conn:
        for i, env in enumerate(ENVS, 1):
            conn.exec_driver_sql(
                "INSERT INTO environments (id, slug, name, production, position, created_at) VALUES (?, ?, ?, ?, ?, ?)"
                if db.is_sqlite else "INSERT INTO environments (id, slug, name, production, position, created_at) VALUES (%s, %s, %s, %s, %s, %s)",
                (i, env, env, env == "production", i, now),
            )
        for i in range(1, n_services + 1):
            conn.exec_driver_sql(
                "INSERT INTO services (id, slug, name, repo, branch, paths, created_at) VALUES (?, ?, ?, '', 'main', '[]', ?)"
                if db.is_sqlite else
                "INSERT INTO services (id, slug, name, repo, branch, paths, created_at) VALUES (%s, %s, %s, '', 'main', '[]', %s)",
                (i, f"svc-{i:03d}", f"Service {i}", now),
            )
        auth_service.create_user(conn, "bench", "viewer", "benchmark password", now)
    if db.is_sqlite:
        path = db.url.split("///", 1)[1]
        con = sqlite3.connect(path)
        con.executemany(f"INSERT INTO deploys ({COLUMNS}) VALUES ({','.join(['?'] * 16)})", rows(n_deploys, n_services))
        con.commit()
        con.execute("ANALYZE")
        con.close()
    else:
        raw = db.engine.raw_connection()
        try:
            cur = raw.cursor()
            with cur.copy(f"COPY deploys ({COLUMNS}) FROM STDIN") as copy:
                for r in rows(n_deploys, n_services):
                    copy.write_row(r)
            cur.execute("SELECT setval('deploys_id_seq', (SELECT max(id) FROM deploys))")
            raw.commit()
            cur.execute("ANALYZE")
            raw.commit()
        finally:
            raw.close()


def extras(base: str, client) -> None:
    """A few locks and deploys in progress, through the API like real clients."""
    headers = {"Authorization": "Bearer bench-token"}
    for env in ("production", "canary"):
        r = client.post(f"{base}/api/v1/locks", json={"environment": env, "reason": f"Benchmark lock on {env}"}, headers=headers)
        assert r.status_code == 201, r.text
    for i in range(1, 6):
        r = client.post(f"{base}/api/v1/deploys", json={"service": f"svc-{i:03d}", "environment": "staging",
                                                        "sha": f"{i:040x}", "status": "started"}, headers=headers)
        assert r.status_code == 201, r.text


def timed(fn, runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t) * 1000)
    return out


def describe(name: str, ms: list[float]) -> str:
    ms = sorted(ms)
    p95 = ms[min(len(ms) - 1, int(round(0.95 * (len(ms) - 1))))]
    return f"  {name:<28} p50 {statistics.median(ms):7.1f} ms   p95 {p95:7.1f} ms   max {ms[-1]:7.1f} ms"


def run(db_name: str, args) -> float:
    from fastapi.testclient import TestClient
    from sqlalchemy import create_engine, text

    from shiplane.app import create_app
    from shiplane.settings import Settings
    from shiplane.web import overview

    if db_name == "sqlite":
        path = Path(tempfile.mkdtemp(prefix="shiplane-bench-dash-")) / "dash.db"
        url = f"sqlite:///{path}"
    else:
        admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{PG_DB}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{PG_DB}"'))
        url = PG_ADMIN.rsplit("/", 1)[0] + f"/{PG_DB}"
    db = Database(url)
    t = time.perf_counter()
    seed(db, args.deploys, args.services)
    print(f"{db_name}: seeded {args.deploys:,} deploys of {args.services} services × {len(ENVS)} environments in {time.perf_counter() - t:.0f} s")
    settings = Settings(database_url=url, bootstrap_token="bench-token")
    app = create_app(settings, db=db, worker=False)
    with TestClient(app) as client:
        base = "http://testserver"
        extras(base, client)
        csrf = re.search(r'name="csrf" value="([^"]+)"', client.get("/login").text).group(1)  # the login form's token
        r = client.post(
            "/login", data={"username": "bench", "password": "benchmark password", "csrf": csrf}, follow_redirects=False
        )
        assert r.status_code == 303
        page = client.get("/")
        assert page.status_code == 200 and page.text.count('class="lane ') == len(ENVS), page.text[:500]
        assert "Benchmark lock on production" in page.text
        for _ in range(5):  # warm caches and the template
            client.get("/")
        ms_page = timed(lambda: client.get("/"), args.runs)
        ms_partial = timed(lambda: client.get("/?partial=lanes"), args.runs)
        ms_all = timed(lambda: client.get("/?environment=production"), max(5, args.runs // 5))
    ms_view = timed(lambda: db._call(False, overview.overview, app.state.ctx.schedule, clock.now(), config_order=[]), args.runs)
    print(describe("GET / (the one screen)", ms_page))
    print(describe("GET /?partial=lanes (live)", ms_partial))
    print(describe("GET /?environment=production", ms_all) + "  (all 200 services of one lane)")
    print(describe("overview.overview (reads)", ms_view))
    db.dispose()
    ms = sorted(ms_page)
    return ms[min(len(ms) - 1, int(round(0.95 * (len(ms) - 1))))]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    p.add_argument("--deploys", type=int, default=1_000_000)
    p.add_argument("--services", type=int, default=200)
    p.add_argument("--runs", type=int, default=50)
    args = p.parse_args()
    print(f"command: {' '.join([Path(sys.executable).name, *sys.argv])}")
    worst = 0.0
    for name in (["sqlite", "postgresql"] if args.db == "both" else [args.db]):
        worst = max(worst, run(name, args))
    print(("PASS" if worst <= 100 else "MISS") + f"  GET / p95 {worst:.1f} ms (target ≤ 100 ms)")


if __name__ == "__main__":
    main()
