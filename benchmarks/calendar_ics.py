"""What GET /api/v1/calendar.ics costs for 400 days with 500 schedule rules (target: ≤ 200 ms).

Two schedules of 500 rules, from gate_eval.py's generator (windows, one-off and cron freezes,
holiday calendars with eves, in six time zones):

- "spread": the 500 rules over 20 environments and 200 services, as gate.py serves them; the
  feed is env0's, which carries its share plus a busy rule set of its own;
- "all on one": every one of the 500 rules moved onto env0 (no service filter), the worst case
  for one feed.

Each is timed through the app in this process (httpx over ASGI: auth, the database read, the
periods, icalendar's serialisation), beside GET /healthz through the same client as the
reference, and split into its parts in-process (closed_periods, to_ical). SQLite in a temporary
directory; 10 scheduled locks on env0 too. Run from the repository root:

    nice -n 10 .venv/bin/python benchmarks/calendar_ics.py
    .venv/bin/python benchmarks/calendar_ics.py --rules 20 --repeat 2   # a quick smoke run
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import httpx
from gate_eval import config as spread_config

from shiplane import clock, migrate
from shiplane.app import create_app
from shiplane.auth import service as auth_service
from shiplane.db import Database
from shiplane.locks import ics
from shiplane.locks import inputs as gate_inputs
from shiplane.locks import service as locks_service
from shiplane.locks.calendar import compile_schedule
from shiplane.settings import Config, Settings

TOKEN = "shp_calendar_benchmark_token_0123456789"
TARGET_MS = 200.0


def all_on_one(config: Config) -> Config:
    data = config.model_dump(mode="json")
    for section in ("windows", "freezes", "holidays"):
        for rule in data[section]:
            rule["environments"], rule["services"] = ["env0"], []
    return Config.model_validate(data)


async def _time(client: httpx.AsyncClient, url: str, repeat: int) -> tuple[list[float], int, int]:
    times, size, status = [], 0, 0
    for _ in range(repeat):
        t0 = time.perf_counter()
        r = await client.get(url, headers={"Authorization": f"Bearer {TOKEN}"})
        times.append(time.perf_counter() - t0)
        size, status = len(r.content), r.status_code
    return times, size, status


def run(name: str, config: Config, days: int, repeat: int, workdir: Path) -> bool:
    url = f"sqlite:///{workdir / (name.replace(' ', '_') + '.db')}"
    db = Database(url)
    migrate.upgrade(db.engine)
    now = clock.now()
    with db.write() as conn:
        auth_service.create_token(conn, "viewer", "viewer", now, token=TOKEN)
        for i in range(10):
            start = now + timedelta(days=3 + 7 * i)
            locks_service.create(conn, environment="env0", service=None, reason=f"release {i}", actor="bench", now=now, starts_at=start, expires_at=start + timedelta(hours=6))
    app = create_app(Settings(config=config, database_url=url), db=db, worker=False)
    schedule = compile_schedule(config)
    with db.read() as conn:
        inputs = gate_inputs.load(conn, schedule, "env0", None, auto_create=True)
    t0 = time.perf_counter()
    periods = ics.closed_periods(inputs, now, days)
    t1 = time.perf_counter()
    ics.to_ical(periods, "bench", now)
    t2 = time.perf_counter()

    async def go() -> tuple:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            feed = await _time(client, f"/api/v1/calendar.ics?environment=env0&days={days}", repeat)
            health = await _time(client, "/healthz", repeat)
        return feed, health

    (feed, size, status), (health, _, _) = asyncio.run(go())
    rules = len(inputs.schedule.windows) + len(inputs.schedule.closures)
    median = statistics.median(feed) * 1e3
    print(
        f"{name:12s} rules on the feed's scope {rules:3d}  VEVENTs {len(periods):6d}  {size / 1024:7.0f} KiB  status {status}\n"
        f"             GET calendar.ics ({days} days): median {median:7.1f} ms  best {min(feed) * 1e3:7.1f} ms"
        f"   | reference GET /healthz: median {statistics.median(health) * 1e3:.2f} ms\n"
        f"             in-process: closed_periods {(t1 - t0) * 1e3:.1f} ms (first call: builds holiday tables), to_ical {(t2 - t1) * 1e3:.1f} ms"
    )
    db.engine.dispose()
    return status == 200 and median <= TARGET_MS


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--rules", type=int, default=500)
    p.add_argument("--days", type=int, default=400)
    p.add_argument("--repeat", type=int, default=10)
    p.add_argument("--no-targets", action="store_true", help="exit 0 even when a target is missed")
    args = p.parse_args()
    spread = spread_config(args.rules)
    print(f"calendar.ics, {args.days} days, {args.rules} schedule rules; now {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; target ≤ {TARGET_MS:.0f} ms")
    with tempfile.TemporaryDirectory() as tmp:
        ok = [run(name, cfg, args.days, args.repeat, Path(tmp)) for name, cfg in (("spread", spread), ("all on one", all_on_one(spread)))]
    print("result: " + ("targets met" if all(ok) else "a target was missed"))
    return 0 if all(ok) or args.no_targets else 1


if __name__ == "__main__":
    raise SystemExit(main())
