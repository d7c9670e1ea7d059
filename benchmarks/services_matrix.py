"""How long GET /services (the services × environments matrix) takes with 200 services.

Seeds N services × 4 environments (dev → staging → canary → production), each pair
with a history of succeeded deploys and their commits (so "commits ahead" has real
work: production trails staging, staging trails dev), straight into SQLite and/or
PostgreSQL. Then requests ``GET /services`` in-process through the ASGI app (no
network, no uvicorn: server time only), beside two references measured in the same
run: ``GET /healthz`` (the floor of a request) and ``GET /`` (the overview).
Target: p95 ≤ 300 ms for ``GET /services`` with 200 services.

Run from the repository root:
    nice -n 10 .venv/bin/python benchmarks/services_matrix.py
    nice -n 10 .venv/bin/python benchmarks/services_matrix.py --db sqlite --services 20 --runs 5
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from sqlalchemy import create_engine, insert, text  # noqa: E402

from shiplane import clock, migrate  # noqa: E402
from shiplane.db import Database  # noqa: E402
from shiplane.tables.catalog import environments, services  # noqa: E402
from shiplane.tables.deploys import deploy_commits, deploys  # noqa: E402

PG_ADMIN = os.environ.get("SHIPLANE_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/test")
PG_DB = "shiplane_bench_matrix"
ENVS = ["dev", "staging", "canary", "production"]
NOW = datetime(2026, 11, 1, tzinfo=UTC)


def seed(db: Database, n_services: int, per_pair: int, commits_per: int) -> tuple[int, int]:
    """Every service ships the same line of commits; each later environment is a few deploys behind."""
    migrate.upgrade(db.engine)
    rng = random.Random(7)
    now = clock.now()
    deploy_rows, commit_rows = [], []
    with db.write() as conn:
        conn.execute(insert(environments), [
            {"id": i, "slug": e, "name": e.capitalize(), "production": e == "production", "position": i, "created_at": now}
            for i, e in enumerate(ENVS, 1)
        ])
        conn.execute(insert(services), [
            {"id": i, "slug": f"svc-{i:03d}", "name": f"Service {i}", "repo": "", "branch": "main", "paths": [], "created_at": now}
            for i in range(1, n_services + 1)
        ])
        next_id = 1
        for s in range(1, n_services + 1):
            line = [f"{rng.getrandbits(160):040x}" for _ in range(per_pair * commits_per)]
            for e, _ in enumerate(ENVS, 1):
                behind = (e - 1) * rng.randint(0, 2)  # later environments trail by up to 2 deploys per step
                for k in range(per_pair - behind):
                    at = NOW - timedelta(hours=(per_pair - k) * 6 - e)
                    shipped = line[k * commits_per:(k + 1) * commits_per]
                    deploy_rows.append({
                        "id": next_id, "service_id": s, "environment_id": e, "sha": shipped[-1], "status": "succeeded",
                        "registered_at": at, "started_at": at, "finished_at": at, "deployed_at": at, "tags": [],
                        "during_lock": False, "has_changes": True, "health_state": "healthy", "health_final": True,
                        "commit_count": commits_per, "version": f"1.{k}.0",
                    })
                    commit_rows += [{"deploy_id": next_id, "position": p, "sha": c, "message": "change", "pull_requests": [],
                                     "issue_keys": []} for p, c in enumerate(shipped)]
                    next_id += 1
        conn.execute(insert(deploys), deploy_rows)
        conn.execute(insert(deploy_commits), commit_rows)
        if not db.is_sqlite:
            conn.execute(text("SELECT setval('deploys_id_seq', (SELECT max(id) FROM deploys))"))
    with db.engine.connect() as conn:
        conn.execute(text("ANALYZE"))
        conn.commit()
    return len(deploy_rows), len(commit_rows)


def timed(fn, runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t) * 1000)
    return sorted(out)


def p95(ms: list[float]) -> float:
    return ms[min(len(ms) - 1, int(round(0.95 * (len(ms) - 1))))]


def describe(name: str, ms: list[float]) -> str:
    return f"  {name:<30} p50 {statistics.median(ms):7.1f} ms   p95 {p95(ms):7.1f} ms   max {ms[-1]:7.1f} ms"


def run(db_name: str, args) -> float:
    from fastapi.testclient import TestClient

    from shiplane.app import create_app
    from shiplane.settings import Config, Settings

    if db_name == "sqlite":
        url = f"sqlite:///{Path(tempfile.mkdtemp(prefix='shiplane-bench-matrix-')) / 'matrix.db'}"
    else:
        admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{PG_DB}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{PG_DB}"'))
        url = PG_ADMIN.rsplit("/", 1)[0] + f"/{PG_DB}"
    db = Database(url)
    t = time.perf_counter()
    n_deploys, n_commits = seed(db, args.services, args.per_pair, args.commits)
    print(f"{db_name}: seeded {args.services} services × {len(ENVS)} environments, {n_deploys:,} deploys,"
          f" {n_commits:,} commits in {time.perf_counter() - t:.0f} s")
    config = Config.model_validate({"server": {"public_dashboard": True}})
    app = create_app(Settings(database_url=url, config=config), db=db, worker=False)
    with TestClient(app) as client:
        page = client.get("/services")
        assert page.status_code == 200 and page.text.count("<tr data-service=") == args.services, page.text[:300]
        assert "commits ahead" in page.text or args.services < 5, "no environment is ahead of another"
        for _ in range(3):
            client.get("/services")
        ms_matrix = timed(lambda: client.get("/services"), args.runs)
        ms_health = timed(lambda: client.get("/healthz"), args.runs)
        ms_overview = timed(lambda: client.get("/"), max(3, args.runs // 2))
    print(describe("GET /healthz (reference)", ms_health))
    print(describe("GET / (reference)", ms_overview))
    print(describe(f"GET /services ({args.services} services)", ms_matrix))
    db.dispose()
    return p95(ms_matrix)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    p.add_argument("--services", type=int, default=200)
    p.add_argument("--per-pair", type=int, default=10, help="deploys per service and environment")
    p.add_argument("--commits", type=int, default=3, help="commits per deploy")
    p.add_argument("--runs", type=int, default=30)
    args = p.parse_args()
    print(f"command: {' '.join([Path(sys.executable).name, *sys.argv])}")
    worst = max(run(name, args) for name in (["sqlite", "postgresql"] if args.db == "both" else [args.db]))
    print(("PASS" if worst <= 300 else "MISS") + f"  GET /services p95 {worst:.1f} ms (target ≤ 300 ms)")


if __name__ == "__main__":
    main()
