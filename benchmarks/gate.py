"""Benchmark GET /api/v1/gate against the bare Starlette GET endpoint, in one run.

The dataset is in the database before the server starts serving:

- 20 environments (env0..env19) and 200 services (svc0..svc199), inserted
  straight into the migrated database and also listed in the config file;
- 500 schedule rules (windows, one-off and cron freezes, holiday calendars),
  the generator of gate_eval.py, written to a TOML file that
  ``shiplane config check`` accepts and passed to ``shiplane serve --config``;
- 100,000 past (ended) locks, a handful of active ones and 1,000 scheduled
  ahead (--scheduled-locks), bulk-inserted into ``locks`` (SQLite: one
  transaction; PostgreSQL: COPY then VACUUM ANALYZE).

The load (wrk, --concurrency keep-alive connections) goes round-robin over
--scopes (environment, service) query strings, every scope once per round, so
the gate's in-memory cache (entries live at most 1 s) misses about once per
scope per second, as with many pipelines polling many scopes; the bare
endpoint gets the same query strings and the same Authorization header.

Before the load, every scope is asked once (cold: first look at the scope in
this process); after it, once more after the cache has expired (warm miss)
and once right after that (hit), so that one slow scope shows.

Targets at 32 connections: gate throughput >= 50% of bare, gate p99 <= 10 ms.
Checks: no non-2xx answer, and every scope under an active lock shows it. Exit
status 1 when one of them fails (with --no-targets, only when a check does).

Run from the repository root:
    .venv/bin/python benchmarks/gate.py                 # SQLite, about 1 minute
    .venv/bin/python benchmarks/gate.py --db both       # and PostgreSQL
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import random
import shlex
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from api import (
    HOST,
    NOISY_OTHER_CPU,
    ROOT,
    TOKEN,
    WRK_REPORT_LUA,
    LoadGen,
    Postgres,
    Result,
    Server,
    free_port,
    git_revision,
    migrate,
    rss_kib,
    shiplane_bin,
    source_fingerprint,
    spawn,
    spawn_bare,
)
from gate_eval import config as schedule_config

ENVIRONMENTS = 20
SERVICES = 200
RULES = 500
TARGET_RATIO = 0.50
TARGET_P99_MS = 10.0
PG_DB = "shiplane_bench_gate"
GATE_PATH = "/api/v1/gate"
BARE_PATH = "/api/v1/deploys"  # the bare app's GET route; it ignores the query string

# Every wrk thread has its own Lua state: it reads the scope query strings from
# a file, prebuilds one request per scope and walks them round-robin from its
# own offset, so every scope is asked equally often and all threads never
# hammer the same one at the same time. done() prints the same BENCHJSON line
# as api.py's script, which LoadGen.run parses.
GATE_LUA = r"""
local threads = {}

function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end

function init(args)
  local prefix = args[1]
  wrk.headers["Authorization"] = "Bearer " .. args[2]
  requests = {}
  for line in io.lines(args[3]) do
    if #line > 0 then table.insert(requests, wrk.format("GET", prefix .. line)) end
  end
  n = #requests
  i = (tid * 97) % n
  statuses = {}
end

function request()
  i = i % n + 1
  return requests[i]
end

"""


class GateLoad(LoadGen):
    """api.py's LoadGen (warmup, CPU accounting, BENCHJSON parsing) with the scope-spreading script."""

    def __init__(
        self, args: argparse.Namespace, workdir: Path, scopes_file: Path
    ) -> None:
        super().__init__(args, workdir)
        if self.kind != "wrk":
            raise SystemExit("gate.py needs wrk (Debian: apt-get install -y wrk)")
        self.lua = workdir / "gate.lua"
        self.lua.write_text(GATE_LUA + WRK_REPORT_LUA)
        self.scopes_file = scopes_file
        self.commands: dict[str, list[str]] = {}

    def command(self, server: Server, mode: str, seconds: float, env: str) -> list[str]:
        cmd = [
            self.wrk,
            f"-t{self.threads}",
            f"-c{self.args.concurrency}",
            f"-d{max(1, round(seconds))}s",
            "--timeout",
            "10s",
            "-s",
            str(self.lua),
            server.url,
            "--",
            GATE_PATH if mode == "gate" else BARE_PATH,
            TOKEN,
            str(self.scopes_file),
        ]
        self.commands[mode] = cmd
        return cmd


# ---------------------------------------------------------------- dataset


def env_slugs() -> list[str]:
    return [f"env{i}" for i in range(ENVIRONMENTS)]


def svc_slugs() -> list[str]:
    return [f"svc{i}" for i in range(SERVICES)]


# The active locks: (environment, service or None = every service, kind, expires in, reason).
# Expiries are hours away so that nothing changes by itself during the run.
ACTIVE_LOCKS = (
    ("env3", None, "manual", None, "environment-wide: datacenter maintenance"),
    ("env0", "svc1", "manual", timedelta(hours=2), "DB migration"),
    ("env5", "svc10", "manual", timedelta(hours=3), "waiting for QA"),
    ("env7", "svc20", "manual", None, "do not deploy: incident #4711"),
    ("env9", "svc42", "auto", None, "deploy #912 is unhealthy"),
    (
        "env12",
        "svc7",
        "manual",
        timedelta(hours=-1),
        "lapsed: expired an hour ago, never ended",
    ),
)


def choose_scopes(count: int, seed: int = 11) -> list[tuple[str, str]]:
    """The scopes the load is spread over: those with an active lock, then a seeded sample of the rest."""
    rnd = random.Random(seed)
    chosen: list[tuple[str, str]] = [("env0", "svc1")]  # gate_eval's busy scope
    for env, svc, *_ in ACTIVE_LOCKS:
        scope = (env, svc or "svc0")
        if scope not in chosen:
            chosen.append(scope)
    everything = [(e, s) for e in env_slugs() for s in svc_slugs()]
    rnd.shuffle(everything)
    for scope in everything:
        if len(chosen) >= count:
            break
        if scope not in chosen:
            chosen.append(scope)
    return chosen[:count]


def query(scope: tuple[str, str]) -> str:
    return f"?environment={scope[0]}&service={scope[1]}"


def expected_locked(scopes: list[tuple[str, str]]) -> set[tuple[str, str]]:
    """Scopes that an active, unexpired lock must show as a 'lock' blocker."""
    out = set()
    for env, svc, _kind, expires_in, _reason in ACTIVE_LOCKS:
        if expires_in is not None and expires_in <= timedelta(0):
            continue
        out |= {s for s in scopes if s[0] == env and (svc is None or s[1] == svc)}
    return out


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a valid TOML basic string
    if isinstance(value, datetime):
        # Unquoted: a TOML local (naive) or offset date-time, which tomllib reads back as a datetime.
        return value.isoformat()
    if isinstance(value, timedelta):
        seconds = int(value.total_seconds())
        if seconds != value.total_seconds():
            raise ValueError(f"sub-second duration {value!r}")
        return json.dumps(
            f"{seconds // 3600}h" if seconds % 3600 == 0 else f"{seconds}s"
        )
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    raise TypeError(f"no TOML form for {type(value).__name__}: {value!r}")


def write_config(path: Path) -> Any:
    """The 500 rules of gate_eval.config() plus the catalog, as a TOML file; returns the Config read back."""
    from shiplane.settings import load_config_file

    rules = schedule_config(rules=RULES, environments=ENVIRONMENTS, services=SERVICES)
    data: dict[str, list[dict[str, Any]]] = {
        "environments": [
            {"slug": e, "name": e.upper(), "production": e == "env0"}
            for e in env_slugs()
        ],
        "services": [{"slug": s, "name": s} for s in svc_slugs()],
        **rules.model_dump(mode="python", exclude_unset=True),
    }
    lines = [
        "# Written by benchmarks/gate.py: the schedule of benchmarks/gate_eval.py and its catalog.",
        "",
    ]
    for table, rows in data.items():
        for row in rows:
            lines.append(f"[[{table}]]")
            lines.extend(f"{key} = {_toml(value)}" for key, value in row.items())
            lines.append("")
    path.write_text("\n".join(lines))
    loaded = load_config_file(path)
    for part in ("windows", "freezes", "holidays"):
        if getattr(loaded, part) != getattr(rules, part):
            raise RuntimeError(f"{path}: {part} do not read back as generated")
    return loaded


def check_config(path: Path) -> str:
    out = subprocess.run(
        [shiplane_bin(), "config", "check", "--config", str(path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0:
        raise RuntimeError(
            f"shiplane config check rejected {path} ({out.returncode}):\n{out.stdout}{out.stderr}"
        )
    return out.stdout.strip()


def lock_rows(
    past: int,
    env_ids: dict[str, int],
    svc_ids: dict[str, int],
    now: datetime,
    seed: int = 5,
    scheduled: int = 0,
):
    """(environment_id, service_id, scope_key, kind, reason, created_by, created_at, expires_at,
    ended_at, ended_by, end_note, deploy_id, starts_at, started_at), datetimes aware UTC: `past` ended locks over the
    last two years, oldest first, then the active ones, then `scheduled` manual locks ahead (from a
    day from now on, over the next year, none overlapping another on its scope)."""
    rnd = random.Random(seed)
    envs, svcs = list(env_ids.values()), list(svc_ids.values())
    people = ["alice", "bob", "carol", "dave", "erin", "token:ci"]
    starts = sorted(
        now - timedelta(seconds=rnd.uniform(3600, 730 * 86400)) for _ in range(past)
    )
    for created in starts:
        eid = rnd.choice(envs)
        sid = None if rnd.random() < 0.15 else rnd.choice(svcs)
        auto = rnd.random() < 0.1
        expires = (
            created + timedelta(hours=rnd.choice((1, 4, 24)))
            if rnd.random() < 0.3
            else None
        )
        ended = created + timedelta(seconds=rnd.uniform(300, 2 * 86400))
        if expires is not None and expires < ended:
            ended = expires
        ended = min(ended, now - timedelta(minutes=1))
        yield (
            eid,
            sid,
            f"{eid}:{sid if sid is not None else '*'}",
            "auto" if auto else "manual",
            f"deploy #{rnd.randint(1, 99999)} is unhealthy"
            if auto
            else f"release train {rnd.randint(1, 999)}",
            "system" if auto else rnd.choice(people),
            created,
            expires,
            ended,
            "system" if expires == ended else rnd.choice(people),
            None if rnd.random() < 0.7 else "done",
            rnd.randint(1, 99999) if auto else None,
            created,
            created,
        )
    for env, svc, kind, expires_in, reason in ACTIVE_LOCKS:
        eid, sid = env_ids[env], (svc_ids[svc] if svc else None)
        created = now - timedelta(hours=2)
        yield (
            eid,
            sid,
            f"{eid}:{sid if sid is not None else '*'}",
            kind,
            reason,
            "system" if kind == "auto" else "alice",
            created,
            now + expires_in if expires_in is not None else None,
            None,
            None,
            None,
            912 if kind == "auto" else None,
            created,
            created,
        )
    nxt: dict[str, datetime] = {}
    for i in range(scheduled):
        eid = rnd.choice(envs)
        sid = None if rnd.random() < 0.3 else rnd.choice(svcs)
        key = f"{eid}:{sid if sid is not None else '*'}"
        start = nxt.get(key, now + timedelta(days=1)) + timedelta(hours=rnd.randint(1, 200))
        end = start + timedelta(hours=rnd.randint(1, 12))
        nxt[key] = end
        yield (eid, sid, key, "manual", f"release freeze {i}", rnd.choice(people), now, end, None, None, None, None, start, None)


LOCK_COLUMNS = (
    "environment_id, service_id, scope_key, kind, reason, created_by, created_at, expires_at,"
    " ended_at, ended_by, end_note, deploy_id, starts_at, started_at"
)


def _sqlite_ts(value: datetime | None) -> str | None:
    # shiplane.db.UTCDateTime on SQLite: naive UTC text, always 6 fractional digits.
    return (
        None
        if value is None
        else value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    )


def seed_sqlite(path: Path, past: int, scheduled: int = 0) -> None:
    now = datetime.now(UTC)
    ts = _sqlite_ts(now)
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("BEGIN")
        conn.executemany(
            "INSERT INTO environments (slug, name, production, created_at) VALUES (?,?,?,?)",
            [(e, e, 0, ts) for e in env_slugs()],
        )
        conn.executemany(
            "INSERT INTO services (slug, name, repo, branch, paths, created_at) VALUES (?,?,'','main','[]',?)",
            [(s, s, ts) for s in svc_slugs()],
        )
        env_ids = dict(conn.execute("SELECT slug, id FROM environments"))
        svc_ids = dict(conn.execute("SELECT slug, id FROM services"))
        conn.executemany(
            f"INSERT INTO locks ({LOCK_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                (
                    *row[:6],
                    _sqlite_ts(row[6]),
                    _sqlite_ts(row[7]),
                    _sqlite_ts(row[8]),
                    *row[9:12],
                    _sqlite_ts(row[12]),
                    _sqlite_ts(row[13]),
                )
                for row in lock_rows(past, env_ids, svc_ids, now, scheduled=scheduled)
            ),
        )
        conn.execute("COMMIT")
        # No ANALYZE: the server never runs one, so this is the planner users get.
    finally:
        conn.close()


def seed_postgres(url: str, past: int, scheduled: int = 0) -> None:
    import psycopg

    now = datetime.now(UTC)
    with psycopg.connect(url) as conn:
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO environments (slug, name, production, created_at) VALUES (%s,%s,false,%s)",
                [(e, e, now) for e in env_slugs()],
            )
            cur.executemany(
                "INSERT INTO services (slug, name, repo, branch, paths, created_at)"
                " VALUES (%s,%s,'','main','[]',%s)",
                [(s, s, now) for s in svc_slugs()],
            )
            env_ids = dict(cur.execute("SELECT slug, id FROM environments").fetchall())
            svc_ids = dict(cur.execute("SELECT slug, id FROM services").fetchall())
            with cur.copy(f"COPY locks ({LOCK_COLUMNS}) FROM STDIN") as copy:
                for row in lock_rows(past, env_ids, svc_ids, now, scheduled=scheduled):
                    copy.write_row(row)
        conn.commit()
    # Statistics and the visibility map as autovacuum would leave them soon after a bulk load.
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE locks")
        conn.execute("ANALYZE environments")
        conn.execute("ANALYZE services")


def count_rows(db: str, url: str, sql: str, params: tuple = ()) -> int:
    if db == "sqlite":
        conn = sqlite3.connect(
            f"file:{url.removeprefix('sqlite:///')}?mode=ro", uri=True
        )
        try:
            return conn.execute(sql, params).fetchone()[0]
        finally:
            conn.close()
    import psycopg

    with psycopg.connect(url) as conn:
        return conn.execute(sql.replace("?", "%s"), params).fetchone()[0]


# ---------------------------------------------------------------- probes


class Probe:
    """One keep-alive connection asking each scope once, sequentially: per-scope latency and answers."""

    def __init__(self, server: Server) -> None:
        self.conn = http.client.HTTPConnection(HOST, server.port, timeout=30)
        self.headers = {"Authorization": f"Bearer {TOKEN}"}

    def get(self, path: str) -> tuple[int, float, dict[str, Any]]:
        t0 = time.perf_counter()
        self.conn.request("GET", path, headers=self.headers)
        resp = self.conn.getresponse()
        body = resp.read()
        elapsed = time.perf_counter() - t0
        try:
            data = json.loads(body)
        except ValueError:
            data = {"raw": body[:200].decode(errors="replace")}
        return resp.status, elapsed, data

    def sweep(
        self, scopes: list[tuple[str, str]]
    ) -> list[tuple[tuple[str, str], int, float, dict[str, Any]]]:
        return [(scope, *self.get(GATE_PATH + query(scope))) for scope in scopes]

    def close(self) -> None:
        self.conn.close()


def merge_runs(runs: tuple) -> tuple:
    """One scope's probes from several rounds: its median time, and a non-2xx status if any round had one."""
    bad = [r[1] for r in runs if not 200 <= r[1] < 300]
    return (
        runs[0][0],
        bad[0] if bad else runs[0][1],
        statistics.median(r[2] for r in runs),
        runs[0][3],
    )


def describe_sweep(
    name: str, sweep: list, rule_counts: dict[tuple[str, str], int]
) -> tuple[str, list[str], list[str]]:
    """One line of per-scope latency (median, p99, max and the slowest scopes), the problems
    found (non-2xx answers) and the slow scopes (a finding about speed, not a failure)."""
    problems = []
    bad = [(s, st) for s, st, _, _ in sweep if not 200 <= st < 300]
    if bad:
        problems.append(
            f"{name}: {len(bad)} non-2xx answers, e.g. {bad[0][0]} -> {bad[0][1]}"
        )
    ms = sorted(t * 1000 for _, _, t, _ in sweep)
    slowest = sorted(sweep, key=lambda r: -r[2])[:3]
    slow = ", ".join(
        f"{e}/{s} {t * 1000:.1f} ms ({rule_counts[(e, s)]} rules)"
        for (e, s), _, t, _ in slowest
    )
    p99 = ms[min(len(ms) - 1, int(len(ms) * 0.99))]
    median = statistics.median(ms)
    line = f"{name:<44} median {median:6.2f} ms  p99 {p99:6.2f} ms  max {ms[-1]:6.2f} ms; slowest: {slow}"
    outliers = []
    if ms[-1] > max(10 * median, 5.0):
        outliers.append(
            f"SLOW: {name}: one scope much slower than the rest ({slow.split(',')[0]}; median {median:.2f} ms)"
        )
    return line, problems, outliers


def describe_cold(
    sweep: list, rule_counts: dict[tuple[str, str], int]
) -> tuple[str, list[str]]:
    """The cold sweep has one sample per scope: an outlier there may be a one-off stall (a full
    garbage collection of the freshly built timelines, say) rather than a slow scope, so it is
    reported as a note; non-2xx answers are still problems."""
    line, problems, outliers = describe_sweep(
        "cold (first request per scope, 1 sample)", sweep, rule_counts
    )
    if outliers:
        line += " -- single outlier: a one-off stall or a slow scope, compare the warm rows below"
    return line, problems


def check_answers(sweep: list, scopes: list[tuple[str, str]]) -> tuple[str, list[str]]:
    """Allowed/blocked counts and blocker kinds; every scope under an active lock must show it."""
    kinds: dict[str, int] = {}
    allowed = 0
    locked_seen = set()
    for scope, status, _, data in sweep:
        if not 200 <= status < 300:
            continue
        allowed += bool(data.get("allowed"))
        for b in data.get("blockers", []):
            kinds[b["kind"]] = kinds.get(b["kind"], 0) + 1
            if b["kind"] == "lock":
                locked_seen.add(scope)
    expected = expected_locked(scopes)
    problems = []
    if locked_seen != expected:
        problems.append(
            f"lock blockers on {len(locked_seen)} scopes, expected {len(expected)}:"
            f" missing {sorted(expected - locked_seen)[:5]}, unexpected {sorted(locked_seen - expected)[:5]}"
        )
    shown = ", ".join(f"{k} {n}" for k, n in sorted(kinds.items()))
    return (
        f"answers: {allowed} of {len(sweep)} scopes open; blockers by kind: {shown or 'none'}",
        problems,
    )


# ---------------------------------------------------------------- one database


def run_db(
    db: str,
    load: GateLoad,
    workdir: Path,
    args: argparse.Namespace,
    cfg_path: Path,
    scopes: list,
    pg: Postgres | None,
) -> tuple[Result, list[str], list[str]]:
    """Seed, serve, sweep cold, load, sweep warm. Returns the gate result, notes and problems
    (wrong answers: they fail the run; slowness is a note)."""
    from shiplane.locks.calendar import compile_schedule
    from shiplane.settings import load_config_file

    print(f"gate on {db}", flush=True)
    notes: list[str] = []
    problems: list[str] = []
    if db == "sqlite":
        url = f"sqlite:///{workdir / 'gate.db'}"
    else:
        url = pg.create(PG_DB)
    server = None
    profiler = None
    try:
        t0 = time.perf_counter()
        migrate(url)
        migrated = time.perf_counter() - t0
        (
            seed_sqlite(workdir / "gate.db", args.past_locks, args.scheduled_locks)
            if db == "sqlite"
            else seed_postgres(url, args.past_locks, args.scheduled_locks)
        )
        seeded = time.perf_counter() - t0 - migrated
        total = count_rows(db, url, "SELECT count(*) FROM locks")
        active = count_rows(
            db, url, "SELECT count(*) FROM locks WHERE ended_at IS NULL"
        ) - args.scheduled_locks
        notes.append(
            f"dataset: {ENVIRONMENTS} environments, {SERVICES} services, {RULES} rules (+4 on env0),"
            f" {total:,} locks of which {active} active and {args.scheduled_locks:,} scheduled; migrate {migrated:.1f} s, seed {seeded:.1f} s"
        )
        print(f"  {notes[-1]}", flush=True)

        port = free_port()
        cmd = [
            shiplane_bin(),
            "serve",
            "--config",
            str(cfg_path),
            "--host",
            HOST,
            "--port",
            str(port),
        ]
        if args.no_worker:
            cmd.append("--no-worker")
        env = {"SHIPLANE_DATABASE_URL": url, "SHIPLANE_BOOTSTRAP_TOKEN": TOKEN}
        server = spawn(f"gate-{db}", cmd, env, port, workdir)
        if (
            db == "postgresql"
        ):  # for api.py's accounting of backend CPU and sessions opened
            server.pg, server.pg_db = pg, PG_DB
        notes.append(f"server: {shlex.join(cmd)}")
        notes.append(
            f"launch to first 200 from /healthz: {server.ready_s * 1000:.0f} ms"
        )
        print(
            f"  launch to first 200 from /healthz: {server.ready_s * 1000:.0f} ms",
            flush=True,
        )
        if server.ready_s > 5:
            notes.append(
                f"SLOW: start-up on {db}: {server.ready_s:.1f} s to the first /healthz answer"
            )

        schedule = compile_schedule(load_config_file(cfg_path))
        rule_counts = {
            s: len(schedule.for_scope(*s).windows)
            + len(schedule.for_scope(*s).closures)
            for s in scopes
        }
        probe = Probe(server)
        cold = probe.sweep(scopes)  # first request per scope in this process
        line, found = describe_cold(cold, rule_counts)
        notes.append(line)
        problems += found
        line, found = check_answers(cold, scopes)
        notes.append(line)
        problems += found
        probe.close()

        if args.profile:
            out = Path(args.profile) / f"gate-{db}.txt"
            out.parent.mkdir(parents=True, exist_ok=True)
            spy = (
                shutil.which("py-spy", path=str(Path(sys.executable).parent))
                or "py-spy"
            )
            profiler = subprocess.Popen(
                [
                    spy,
                    "record",
                    "--gil",
                    "--format",
                    "raw",
                    "-r",
                    "200",
                    "-p",
                    str(server.proc.pid),
                    "-d",
                    str(round(args.warmup + args.duration)),
                    "-o",
                    str(out),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
            notes.append(
                f"py-spy raw profile (warmup + measured run, perturbs the figures): {out}"
            )

        start = datetime.now(UTC)
        result = load.measure(server, "gate GET", db, "gate")
        if profiler is not None:
            profiler.wait(timeout=60)
        changes = count_rows(
            db,
            url,
            "SELECT count(*) FROM events WHERE kind = 'gate_changed' AND at >= ?",
            (_sqlite_ts(start) if db == "sqlite" else start,),
        )
        notes.append(
            f"worker gate changes during warmup + load: {changes} (each one empties the gate cache)"
        )
        notes.append(f"server RSS after load {rss_kib(server.proc.pid) / 1024:.0f} MiB")

        # Per scope: a miss (every cache entry has expired after 1.2 s idle, TTL 1 s) then a hit;
        # three rounds, the median kept, so that a one-off stall (GC, worker tick) is not
        # mistaken for a slow scope.
        rounds: list[tuple[list, list]] = []
        for _ in range(3):
            time.sleep(1.2)
            probe = Probe(server)
            warm_miss, hit = [], []
            for scope in scopes:
                path = GATE_PATH + query(scope)
                warm_miss.append((scope, *probe.get(path)))
                hit.append((scope, *probe.get(path)))
            probe.close()
            rounds.append((warm_miss, hit))
        warm_miss, hit = (
            [merge_runs(runs) for runs in zip(*(rnd[k] for rnd in rounds))]
            for k in (0, 1)
        )
        for name, sweep in (
            ("warm cache miss (median of 3 rounds)", warm_miss),
            ("cache hit (median of 3 rounds)", hit),
        ):
            line, found, outliers = describe_sweep(name, sweep, rule_counts)
            notes.append(line)
            notes.extend(outliers)
            problems += found
        if result.non_2xx or result.errors:
            problems.extend(server.error_lines())
        return result, notes, problems
    finally:
        if profiler is not None and profiler.poll() is None:
            profiler.kill()
            profiler.wait()
        if server:
            server.stop()
        if db == "postgresql" and not args.keep:
            pg.drop(PG_DB)


# ---------------------------------------------------------------- main


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description="Benchmark GET /api/v1/gate against a bare Starlette GET endpoint."
    )
    p.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="sqlite")
    p.add_argument(
        "--concurrency",
        type=int,
        default=32,
        help="keep-alive connections (default 32)",
    )
    p.add_argument("--threads", type=int, default=2, help="wrk threads (default 2)")
    p.add_argument(
        "--duration",
        type=float,
        default=10.0,
        help="seconds measured per phase (default 10)",
    )
    p.add_argument(
        "--warmup",
        type=float,
        default=2.0,
        help="seconds of unmeasured load before each phase",
    )
    p.add_argument(
        "--scopes",
        type=int,
        default=200,
        help="(environment, service) scopes the load is spread over",
    )
    p.add_argument(
        "--past-locks",
        type=int,
        default=100_000,
        help="ended locks seeded (default 100,000)",
    )
    p.add_argument(
        "--scheduled-locks",
        type=int,
        default=1000,
        help="manual locks scheduled ahead (from tomorrow on), seeded too (default 1,000)",
    )
    p.add_argument(
        "--pg-url",
        default=os.environ.get(
            "SHIPLANE_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/test"
        ),
        help="admin connection used to create and drop the benchmark database",
    )
    p.add_argument(
        "--keep",
        action="store_true",
        help=f"keep the PostgreSQL database {PG_DB} and the work directory",
    )
    p.add_argument(
        "--no-worker", action="store_true", help="pass --no-worker to shiplane serve"
    )
    p.add_argument(
        "--no-targets",
        action="store_true",
        help="show the throughput and p99 targets but do not fail on them;"
        " wrong answers, non-2xx and failed parts still fail (smoke runs)",
    )
    p.add_argument(
        "--profile",
        metavar="DIR",
        help="also record the server with py-spy (--gil, raw) into DIR",
    )
    args = p.parse_args(argv)
    args.loadgen = "wrk"  # what LoadGen reads; the gate script is wrk-only
    args.services = SERVICES
    if not 1 <= args.scopes <= ENVIRONMENTS * SERVICES:
        p.error(f"--scopes must be between 1 and {ENVIRONMENTS * SERVICES}")
    return args


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    command = shlex.join(
        [os.path.relpath(sys.executable, ROOT), os.path.relpath(__file__, ROOT), *argv]
    )
    dbs = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    workdir = Path(tempfile.mkdtemp(prefix="shiplane-gate-bench-"))
    scopes = choose_scopes(args.scopes)
    scopes_file = workdir / "scopes.txt"
    scopes_file.write_text("".join(query(s) + "\n" for s in scopes))
    load = GateLoad(args, workdir, scopes_file)
    pg = Postgres(args.pg_url) if "postgresql" in dbs else None

    import sqlalchemy
    import uvicorn

    print(f"command: {command}", flush=True)
    context = [
        f"command: {command}",
        f"code: {git_revision()}",
        (
            f"load: {load.describe()}; {args.warmup:g} s warmup + {args.duration:g} s measured per phase;"
            f" round-robin over {len(scopes)} scopes in {len({e for e, _ in scopes})} environments"
        ),
        (
            f"machine: {os.cpu_count()} cores, load average at start {os.getloadavg()[0]:.2f};"
            f" Python {platform.python_version()}, uvicorn {uvicorn.__version__},"
            f" SQLAlchemy {sqlalchemy.__version__}, SQLite {sqlite3.sqlite_version}"
        ),
    ]
    if pg:
        context.append(f"PostgreSQL: {pg.describe()}")

    cfg_path = workdir / "shiplane.toml"
    write_config(cfg_path)
    context.append(
        f"config: {cfg_path.stat().st_size / 1024:.0f} KiB TOML; shiplane config check: {check_config(cfg_path)}"
    )
    for line in context[1:]:
        print(line, flush=True)

    src_before = source_fingerprint()
    results: list[tuple[Result, Result, list[str], list[str]]] = []
    failures: list[str] = []
    bare = None
    try:
        print("bare Starlette endpoint", flush=True)
        server = spawn_bare(workdir)
        try:
            bare = load.measure(server, "bare GET", "-", "bare")
        finally:
            server.stop()
        for db in dbs:
            try:
                gate, notes, problems = run_db(
                    db, load, workdir, args, cfg_path, scopes, pg
                )
            except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
                print(f"  FAILED: gate on {db}: {exc}", flush=True)
                failures.append(f"gate on {db}: {str(exc).splitlines()[0]}")
                continue
            gate.bare_rps = bare.rps
            gate.target_p99_ms = TARGET_P99_MS
            results.append((gate, bare, notes, problems))
    finally:
        if args.keep:
            print(f"work directory kept: {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    context.append(f"load average at end {os.getloadavg()[0]:.2f}")
    if source_fingerprint() != src_before:
        context.append(
            "WARNING: src/ changed during the run: the figures may mix versions of the code"
        )
    ok = print_summary(
        bare, results, context, failures, load, enforce_targets=not args.no_targets
    )
    return 0 if ok else 1


def print_summary(
    bare: Result | None,
    results: list,
    context: list[str],
    failures: list[str],
    load: GateLoad,
    enforce_targets: bool = True,
) -> bool:
    ok = bare is not None and not failures
    width = 120
    print("\n" + "=" * width)
    print("SUMMARY: GET /api/v1/gate vs bare Starlette GET")
    for line in context:
        print(f"  {line}")
    for mode, cmd in load.commands.items():
        print(f"  wrk ({mode}): {shlex.join(cmd)}")
    print("-" * width)
    print(
        f"{'endpoint':<12}{'db':<12}{'req/s':>9}{'gate/bare':>11}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}"
        f"{'non-2xx':>9}{'errors':>8}{'cpu srv':>9}{'ms/req':>8}{'pg':>6}{'other':>7}"
    )
    print("-" * width)
    rows = ([bare] if bare else []) + [g for g, *_ in results]
    for r in rows:
        ratio = f"{r.rps / r.bare_rps:.1%}" if r.bare_rps else "-"
        print(
            f"{r.scenario:<12}{r.db:<12}{r.rps:>9.0f}{ratio:>11}{r.p50_ms:>9.2f}{r.p99_ms:>9.2f}{r.max_ms:>9.1f}"
            f"{r.non_2xx:>9}{r.errors:>8}{r.server_cpu:>9.0%}{r.cpu_ms_per_request:>8.3f}"
            f"{(f'{r.db_cpu:.0%}' if r.db == 'postgresql' else '-'):>6}{r.other_cpu:>7.0%}"
        )
        ok &= r.non_2xx == 0 and r.errors == 0
    print("-" * width)
    conc = load.args.concurrency
    for gate, _bare, notes, problems in results:
        ratio = gate.rps / gate.bare_rps
        ratio_ok, p99_ok = ratio >= TARGET_RATIO, gate.p99_ms <= TARGET_P99_MS
        clean = gate.non_2xx == 0 and gate.errors == 0
        ok &= (ratio_ok and p99_ok) or not enforce_targets
        ok &= not problems
        print(f"  {gate.db}:")
        print(
            f"    targets at {conc} connections: gate/bare {ratio:.1%} >= {TARGET_RATIO:.0%}"
            f" {'ok' if ratio_ok else 'MISS'}; p99 {gate.p99_ms:.2f} ms <= {TARGET_P99_MS:g} ms"
            f" {'ok' if p99_ok else 'MISS'}; non-2xx {gate.non_2xx} (must be 0) {'ok' if clean else 'FAIL'}"
        )
        for note in gate.notes + notes:
            print(f"    {note}")
        for problem in problems:
            print(f"    PROBLEM: {problem}")
    for failure in failures:
        print(f"  FAILED: {failure}")
    noisy = [r for r in rows if r.other_cpu > NOISY_OTHER_CPU]
    if noisy:
        print(
            f"  WARNING: unrelated processes used up to {max(r.other_cpu for r in noisy):.0%} of a core during"
            f" {len(noisy)} measured run(s): those figures are perturbed; rerun on an idle machine."
        )
    print(
        "  gate/bare: gate throughput as a share of the bare endpoint's, both with the same wrk script."
    )
    print(
        "  cpu srv: server process CPU during the measured run (1.0 = one core); ms/req: server CPU per answer;"
    )
    print(
        "  pg: CPU of the server's PostgreSQL backends; other: CPU of everything else but wrk (noise)."
    )
    if not enforce_targets:
        print("  targets: shown, not enforced (--no-targets)")
    held = "all targets hold" if enforce_targets else "all checks hold"
    print(f"  result: {held if ok else 'FAILED (see MISS / FAIL / PROBLEM / FAILED above)'}")
    print("=" * width)
    return ok


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
