"""How fast a lock reaches every open pull request (and an unlock reverses it).

2,000 open pull requests on the in-process fake GitHub (tests/fakes), 50 ms
latency per call, writes_per_minute = 0 (GitHub Enterprise / unpaced). The real
worker loop runs against a SQLite file; a lock and an unlock are taken through
the locks service like the API does. Prints time to converge, writes/s, peak
requests in flight and the ratio to the ideal N × latency / concurrency.

The paced part (writes_per_minute = 80) runs for --paced-seconds and checks
that no 60-second window ever holds more than 80 writes.

The merge-freeze parts, paced as on GitHub.com (80 writes a minute, 500 an hour):
- merge_freeze = "branch": lock → branch frozen (the fake refuses a merge into
  main) and unlock → unfrozen, timed, with the writes each sent (targets: ≤ 2 s,
  ≤ 2 writes);
- merge_freeze = "both": the first write the lock causes must be the ruleset,
  then the statuses, and no 60-second (3,600-second) window of the whole run may
  hold more than 80 (500) writes; runs for --paced-seconds after the lock;
- beside them, today's statuses-only time to the last blocked pull request:
  Shiplane's own Pacer driven on a virtual clock (one claim a second, as the
  worker polls), since the real thing takes hours.

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

from sqlalchemy import func, select  # noqa: E402

from shiplane import clock  # noqa: E402
from shiplane.app import create_app, make_worker, prepare_database  # noqa: E402
from shiplane.jobs import worker as worker_mod  # noqa: E402
from shiplane.jobs.pacing import Pacer  # noqa: E402
from shiplane.locks import service as locks  # noqa: E402
from shiplane.settings import Config, Settings  # noqa: E402
from shiplane.tables.enforcement import merge_sync  # noqa: E402
from shiplane.tables.jobs import jobs  # noqa: E402
from tests.fakes import FakeGitHub  # noqa: E402

REPO = "acme/web"
MUTATING = {"POST", "PUT", "PATCH", "DELETE"}
MISSED: list[str] = []  # targets not met: every part still runs and prints; the exit status says


def check(ok: bool, what: str) -> str:
    if not ok:
        MISSED.append(what)
    return "" if ok else f"  MISSED: {what}"


def config(writes_per_minute: int, writes_per_hour: int, merge_freeze: str = "statuses") -> Config:
    return Config.model_validate(
        {
            "environments": [{"slug": "production", "production": True}],
            "services": [{"slug": "web", "repo": f"github:{REPO}", "branch": "main", "merge_freeze": merge_freeze}],
            "forges": {
                "github": {
                    "token": "ghp_test_token",
                    "writes_per_minute": writes_per_minute,
                    "writes_per_hour": writes_per_hour,
                    "freeze_bypass": [{"actor_type": "RepositoryRole", "actor_id": 5}],
                }
            },
        }
    )


def sha(i: int) -> str:
    return f"{i:040x}"


def setup(pulls: int, latency: float, per_minute: int, per_hour: int, merge_freeze: str = "statuses"):
    fake = FakeGitHub(token="ghp_test_token", latency=latency)
    fake.add_repo(REPO)
    base = datetime(2026, 11, 1, tzinfo=UTC)
    for i in range(1, pulls + 1):
        fake.add_pull(REPO, i, sha(i), updated_at=base + timedelta(seconds=i))
    path = Path(tempfile.mkdtemp()) / "bench.db"
    settings = Settings(config=config(per_minute, per_hour, merge_freeze), database_url=f"sqlite:///{path}")
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
    worst = worst_window(fake.writes, 60)
    print(
        f"paced   writes_per_minute={per_minute}: {len(fake.writes)} writes in {seconds:.0f} s; "
        f"most writes in any 60 s window: {worst} (limit {per_minute})" + check(worst <= per_minute, "paced statuses: 60 s window")
    )


def worst_window(times: list[float], span: float) -> int:
    times = sorted(times)
    worst, j = 0, 0
    for i, t in enumerate(times):
        while times[j] <= t - span:
            j += 1
        worst = max(worst, i - j + 1)
    return worst


def set_lock(ctx, lock: dict | None) -> dict | None:
    with ctx.db.write() as conn:
        if lock is None:
            lock = locks.create(conn, environment="production", service=None, reason="bench", actor="bench", now=clock.now())
        else:
            locks.end(conn, lock["id"], actor="bench", note=None, now=clock.now())
            lock = None
    ctx.gate_may_have_changed()
    return lock


async def listed(ctx, pulls: int, timeout: float = 120) -> None:
    """Wait until the start-up sync has listed every pull request and nothing is due now."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        with ctx.db.read() as conn:
            seen = conn.execute(select(merge_sync.c.pulls)).scalar()
            due = conn.execute(
                select(func.count()).select_from(jobs).where(
                    jobs.c.state == "pending", jobs.c.kind.in_(("merge_sync", "freeze:github")), jobs.c.run_at <= clock.now()
                )
            ).scalar_one()
        if seen == pulls and not due:
            return
        await anyio.sleep(0.1)
    raise SystemExit("the start-up sync did not finish")


async def until(condition, timeout: float = 30) -> float:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if condition():
            return time.monotonic() - t0
        await anyio.sleep(0.01)
    raise SystemExit(f"not reached within {timeout}s")


async def freeze_branch(pulls: int, latency: float) -> None:
    fake, ctx = setup(pulls, latency, 80, 500, "branch")
    worker = make_worker(ctx)
    ctx.worker = worker
    async with anyio.create_task_group() as tg:
        tg.start_soon(worker.run_forever)
        await listed(ctx, pulls)
        lock = None
        for label, frozen in (("lock", True), ("unlock", False)):
            mark = len(fake.requests)
            lock = set_lock(ctx, lock)
            elapsed = await until(lambda frozen=frozen: fake.merge_blocked(REPO, "main") is frozen)
            await anyio.sleep(1.0)  # anything it would still write for this change
            sent = [f"{c.method} {c.path}" for c in fake.requests[mark:] if c.method in MUTATING]
            print(
                f"branch  {label:6s} {pulls} PRs: {'frozen' if frozen else 'unfrozen'} after {elapsed:5.2f} s with "
                f"{len(sent)} write{'s' if len(sent) != 1 else ''} ({', '.join(sent)})  target <= 2 s, <= 2 writes"
                + check(elapsed <= 2.0 and len(sent) <= 2, f"branch {label}")
            )
        tg.cancel_scope.cancel()
    assert fake.violations == [], fake.violations[:5]


async def freeze_both(pulls: int, latency: float, seconds: float) -> None:
    fake, ctx = setup(pulls, latency, 80, 500, "both")
    worker = make_worker(ctx)
    ctx.worker = worker
    async with anyio.create_task_group() as tg:
        tg.start_soon(worker.run_forever)
        await listed(ctx, pulls)  # its `success` statuses are on their way, paced
        mark, lock_at = len(fake.requests), fake.clock()
        set_lock(ctx, None)
        elapsed = await until(lambda: fake.merge_blocked(REPO, "main"))
        await anyio.sleep(seconds)
        tg.cancel_scope.cancel()
    after = [c for c in fake.requests[mark:] if c.method in MUTATING]
    blocked = sum(1 for c in after if c.path.startswith(f"/repos/{REPO}/statuses/") and (c.json or {}).get("state") == "pending")
    minute, hour = worst_window(fake.writes, 60), worst_window(fake.writes, 3600)
    # What the lock caused: the ruleset and the `pending` statuses. A `success` status of the listing
    # before the lock may still be draining through the pacer; it is not a write of the lock.
    caused = [
        c for c in after
        if c.path == f"/repos/{REPO}/rulesets" or (c.path.startswith(f"/repos/{REPO}/statuses/") and (c.json or {}).get("state") == "pending")
    ]
    first = f"{caused[0].method} {caused[0].path}" if caused else "none"
    print(
        f"both    lock   {pulls} PRs: first write of the lock {first} at +{caused[0].time - lock_at if caused else 0:.2f} s "
        f"(frozen after {elapsed:.2f} s; {len(after) - len(caused)} earlier success statuses still draining), "
        f"then {blocked} blocking statuses in {seconds:.0f} s"
        + check(first == f"POST /repos/{REPO}/rulesets" and elapsed <= 2.0, "both: the freeze first, within 2 s")
    )
    print(
        f"both    budget: {len(fake.writes)} writes in the run (start-up included); most in any 60 s window {minute} (limit 80), "
        f"in any 3,600 s window {hour} (limit 500)" + check(minute <= 80 and hour <= 500, "both: the write budget")
    )
    assert fake.violations == [], fake.violations[:5]


def statuses_only(pulls: int, per_minute: int, per_hour: int) -> float:
    """Today's merge_freeze = "statuses": seconds from the lock to the last blocked pull request, with
    Shiplane's Pacer on a virtual clock (the worker claims what the pacer allows, once a second)."""
    pacer, now, written = Pacer(per_minute, per_hour), datetime(2026, 12, 1, tzinfo=UTC), 0
    start = now
    while True:
        take = min(worker_mod.BATCH, pacer.available(now), pulls - written)
        pacer.take(take, now)
        written += take
        if written >= pulls:
            return (now - start).total_seconds()
        now += timedelta(seconds=1)


def hours(seconds: float) -> str:
    h, rest = divmod(int(seconds), 3600)
    return f"{h} h {rest // 60:02d} min" if h else f"{rest // 60} min {rest % 60:02d} s"


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
    # merge freeze, paced as on GitHub.com
    anyio.run(freeze_branch, args.pulls, args.latency)
    anyio.run(freeze_both, args.pulls, args.latency, max(args.paced_seconds, 1))
    print(
        f"today   statuses only, paced 80/min and 500/h: the last of {args.pulls:,} PRs is blocked "
        f"{hours(statuses_only(args.pulls, 80, 500))} after the lock (virtual clock, shiplane.jobs.pacing.Pacer)"
    )
    if MISSED:
        raise SystemExit(f"targets missed: {'; '.join(MISSED)}")


if __name__ == "__main__":
    main()
