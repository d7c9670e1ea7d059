"""How fast a lock reaches every open pull request (and an unlock reverses it).

2,000 open pull requests on the in-process fake GitHub (tests/fakes), 50 ms
latency per call, writes_per_minute = 0 (GitHub Enterprise / unpaced). The real
worker loop runs against a SQLite file; a lock and an unlock are taken through
the locks service like the API does. Prints time to converge, writes/s, peak
requests in flight and the ratio to the ideal N × latency / concurrency.

The paced part (writes_per_minute = 80) runs for --paced-seconds and checks
that no 60-second window ever holds more than 80 writes.

    .venv/bin/python benchmarks/merge_blocking.py [--pulls 2000] [--paced-seconds 150]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import anyio

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from shiplane import clock  # noqa: E402
from shiplane.app import create_app, make_worker, prepare_database  # noqa: E402
from shiplane.jobs import worker as worker_mod  # noqa: E402
from shiplane.locks import service as locks  # noqa: E402
from shiplane.settings import Config, Settings  # noqa: E402
from tests.fakes import FakeGitHub  # noqa: E402

REPO = "acme/web"


def config(writes_per_minute: int, writes_per_hour: int) -> Config:
    return Config.model_validate(
        {
            "environments": [{"slug": "production", "production": True}],
            "services": [{"slug": "web", "repo": f"github:{REPO}", "branch": "main"}],
            "forges": {
                "github": {
                    "token": "ghp_test_token",
                    "writes_per_minute": writes_per_minute,
                    "writes_per_hour": writes_per_hour,
                }
            },
        }
    )


def sha(i: int) -> str:
    return f"{i:040x}"


def setup(pulls: int, latency: float, per_minute: int, per_hour: int):
    fake = FakeGitHub(token="ghp_test_token", latency=latency)
    fake.add_repo(REPO)
    base = datetime(2026, 11, 1, tzinfo=UTC)
    for i in range(1, pulls + 1):
        fake.add_pull(REPO, i, sha(i), updated_at=base + timedelta(seconds=i))
    path = Path(tempfile.mkdtemp()) / "bench.db"
    settings = Settings(config=config(per_minute, per_hour), database_url=f"sqlite:///{path}")
    app = create_app(settings, worker=False, forge_transport=fake)
    ctx = app.state.ctx
    prepare_database(ctx.db, settings)
    return fake, ctx


def states(fake: FakeGitHub, pulls: int) -> dict[str, int]:
    out: dict[str, int] = {}
    for i in range(1, pulls + 1):
        status = fake.latest_status(REPO, sha(i), "shiplane")
        key = status["state"] if status else "none"
        out[key] = out.get(key, 0) + 1
    return out


async def converge(fake: FakeGitHub, ctx, pulls: int, want: str, timeout: float) -> float:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if states(fake, pulls).get(want, 0) == pulls:
            return time.monotonic() - t0
        await anyio.sleep(0.25)  # polling 2,000 statuses costs CPU the worker needs
    raise SystemExit(f"did not converge to {want} within {timeout}s: {states(fake, pulls)}")


async def unpaced(pulls: int, latency: float) -> None:
    fake, ctx = setup(pulls, latency, 0, 0)
    worker = make_worker(ctx)
    ctx.worker = worker
    async with anyio.create_task_group() as tg:
        tg.start_soon(worker.run_forever)
        await converge(fake, ctx, pulls, "success", 120)  # the start-up reconcile
        ideal = pulls * latency / worker_mod.IN_FLIGHT
        for label, want in (("lock", "pending"), ("unlock", "success")):
            fake.max_in_flight = 0
            writes_before = len(fake.writes)
            with ctx.db.write() as conn:
                if label == "lock":
                    lock = locks.create(conn, environment="production", service=None, reason="bench", actor="bench", now=clock.now())
                else:
                    locks.end(conn, lock["id"], actor="bench", note=None, now=clock.now())
            ctx.gate_may_have_changed()
            elapsed = await converge(fake, ctx, pulls, want, 120)
            writes = len(fake.writes) - writes_before
            print(
                f"{label:7s} {pulls} PRs: {elapsed:6.2f} s  {writes / elapsed:7.1f} writes/s  "
                f"peak in flight {fake.max_in_flight:3d}  ideal {ideal:.2f} s  ratio ideal/achieved {ideal / elapsed:.2f}"
            )
        tg.cancel_scope.cancel()
    assert fake.violations == [], fake.violations[:5]


async def paced(pulls: int, seconds: float, per_minute: int) -> None:
    fake, ctx = setup(pulls, 0.05, per_minute, 0)
    worker = make_worker(ctx)
    ctx.worker = worker
    async with anyio.create_task_group() as tg:
        tg.start_soon(worker.run_forever)
        await anyio.sleep(seconds)
        tg.cancel_scope.cancel()
    writes = sorted(fake.writes)
    worst = 0
    j = 0
    for i, t in enumerate(writes):
        while writes[j] <= t - 60:
            j += 1
        worst = max(worst, i - j + 1)
    print(
        f"paced   writes_per_minute={per_minute}: {len(writes)} writes in {seconds:.0f} s; "
        f"most writes in any 60 s window: {worst} (limit {per_minute})"
    )
    assert worst <= per_minute


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pulls", type=int, default=2000)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--paced-seconds", type=float, default=150)
    parser.add_argument("--paced-pulls", type=int, default=400)
    args = parser.parse_args()
    print(f"command: {' '.join(sys.argv)}")
    anyio.run(unpaced, args.pulls, args.latency)
    if args.paced_seconds > 0:
        anyio.run(paced, args.paced_pulls, args.paced_seconds, 80)


if __name__ == "__main__":
    main()
