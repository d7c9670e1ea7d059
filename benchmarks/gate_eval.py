"""In-process cost of evaluating one gate (target: ≤ 200 µs).

Builds a schedule of 500 rules (windows, one-off and cron freezes, holiday
calendars) over 20 environments and 200 services, then times gate.evaluate()
for a scope with a lock, and with 1,000 scheduled locks ahead on its
environment (--scheduled-locks), with timeit. Run:

    .venv/bin/python benchmarks/gate_eval.py
    .venv/bin/python benchmarks/gate_eval.py --rules 20 --number 10   # a quick smoke run
"""

from __future__ import annotations

import argparse
import random
import statistics
import timeit
from datetime import UTC, datetime, timedelta

from shiplane.locks.calendar import compile_schedule
from shiplane.locks.gate import GateInputs, LockInfo, evaluate
from shiplane.settings import Config

ZONES = ["UTC", "America/Los_Angeles", "America/New_York", "Europe/Berlin", "Asia/Tokyo", "Australia/Sydney"]


def config(rules: int = 500, environments: int = 20, services: int = 200, seed: int = 7) -> Config:
    rnd = random.Random(seed)
    envs = [f"env{i}" for i in range(environments)]
    svcs = [f"svc{i}" for i in range(services)]
    windows, freezes, holidays = [], [], []
    for i in range(rules):
        scope = {"environments": [rnd.choice(envs)]}
        if rnd.random() < 0.5:
            scope["services"] = rnd.sample(svcs, 3)
        kind = i % 10
        if kind < 5:
            windows.append(scope | {"days": ["mon", "tue", "wed", "thu", "fri"], "start": "09:00", "end": rnd.choice(["15:30", "17:00", "02:00"]), "timezone": rnd.choice(ZONES)})
        elif kind < 8:
            start = datetime(2026, 1, 1) + timedelta(hours=rnd.randint(0, 24 * 700))
            freezes.append(scope | {"start": start.isoformat(), "end": (start + timedelta(hours=rnd.randint(1, 100))).isoformat(), "timezone": rnd.choice(ZONES)})
        elif kind < 9:
            freezes.append(scope | {"cron": "0 18 * * fri", "duration": "63h", "timezone": rnd.choice(ZONES)})
        else:
            holidays.append(scope | {"country": rnd.choice(["US", "GB", "DE"]), "eve": True, "timezone": rnd.choice(ZONES)})
    # the scope we time gets a realistic, busy rule set of its own
    hot = {"environments": ["env0"]}
    windows.append(hot | {"days": ["mon", "tue", "wed", "thu", "fri"], "start": "09:00", "end": "15:30", "timezone": "America/Los_Angeles"})
    freezes.append(hot | {"start": "2026-12-20T00:00", "end": "2027-01-04T09:00", "timezone": "America/Los_Angeles"})
    freezes.append(hot | {"cron": "0 18 * * fri", "duration": "63h", "timezone": "America/Los_Angeles"})
    holidays.append(hot | {"country": "US", "eve": True, "timezone": "America/Los_Angeles"})
    return Config.model_validate({"windows": windows, "freezes": freezes, "holidays": holidays})


def scheduled_locks(count: int, now: datetime, seed: int = 3) -> tuple[LockInfo, ...]:
    """``count`` locks on env0 (half environment-wide, half on services), each 1–8 h long, starting
    one after another over the next year: as many scheduled freezes as a busy team plans."""
    rnd = random.Random(seed)
    out = []
    start = now + timedelta(hours=3)
    for i in range(count):
        length = timedelta(hours=rnd.randint(1, 8))
        service = None if i % 2 else f"svc{rnd.randint(0, 199)}"
        out.append(LockInfo(100 + i, "manual", f"release freeze {i}", "alice", now, start + length, service, start))
        start += length + timedelta(hours=rnd.randint(1, 8))
    return tuple(out)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--rules", type=int, default=500, help="schedule rules generated (default 500)")
    p.add_argument("--number", type=int, default=2000, help="evaluations per timing (default 2000)")
    p.add_argument(
        "--scheduled-locks", type=int, default=1000,
        help="scheduled locks ahead, all on the timed scope's environment: the worst case (default 1000)",
    )
    args = p.parse_args()
    number = args.number
    cfg = config(args.rules)
    schedule = compile_schedule(cfg)
    now = datetime(2026, 11, 24, 18, 0, tzinfo=UTC)  # a Tuesday, inside the window
    lock = LockInfo(1, "manual", "DB migration", "alice", now - timedelta(hours=1), now + timedelta(hours=2), None)
    scoped = schedule.for_scope("env0", "svc1")
    ahead = scheduled_locks(args.scheduled_locks, now)
    many = f"{len(ahead)} scheduled locks ahead"
    cases = {
        "open (window, freeze, cron, holidays)": GateInputs("env0", "svc1", scoped),
        "locked with expiry": GateInputs("env0", "svc1", scoped, (lock,)),
        "closed by window (evening)": GateInputs("env0", "svc1", scoped),
        f"open, {many}": GateInputs("env0", "svc1", scoped, ahead),
        f"locked with expiry, {many}": GateInputs("env0", "svc1", scoped, (lock, *ahead)),
        f"what-if inside one of the {many}": GateInputs("env0", "svc1", scoped, ahead),
    }
    print(f"rules: {len(schedule.windows) + len(schedule.closures)}; rules on the timed scope: {len(scoped.windows) + len(scoped.closures)}")
    for name, inputs in cases.items():
        at = now + timedelta(hours=6) if "evening" in name else now
        if name.startswith("what-if") and ahead:
            at = ahead[len(ahead) // 2].start + timedelta(minutes=1)
        evaluate(inputs, at)  # warm caches (tz, holiday tables), as a running server has them
        runs = [timeit.timeit(lambda inputs=inputs, at=at: evaluate(inputs, at), number=number) / number for _ in range(5)]
        print(f"{name:40s} median {statistics.median(runs) * 1e6:7.1f} µs   best {min(runs) * 1e6:7.1f} µs")
    if ahead:
        fresh = [
            timeit.timeit(lambda: evaluate(GateInputs("env0", "svc1", scoped, (lock, *ahead)), now), number=number // 10 or 1) / (number // 10 or 1)
            for _ in range(5)
        ]
        print(f"{'fresh inputs (lock index built), ' + many:40s} median {statistics.median(fresh) * 1e6:7.1f} µs   best {min(fresh) * 1e6:7.1f} µs  (once per cache miss, after the database read)")
    first = timeit.timeit(lambda: compile_schedule(cfg).for_scope("env3", "svc9"), number=1)
    print(f"compile {args.rules} rules + first scope lookup: {first * 1e3:.1f} ms (once per config load)")
    cold = [timeit.timeit(lambda: evaluate(GateInputs("env0", "svc1", compile_schedule(cfg).for_scope("env0", "svc1")), now), number=1) for _ in range(5)]
    print(f"cold evaluation (fresh schedule: builds the scope's 14-day timeline): {statistics.median(cold) * 1e3:.2f} ms")


if __name__ == "__main__":
    main()
