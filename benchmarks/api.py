"""Benchmark the Shiplane HTTP API against a bare Starlette endpoint.

Three parts, each against the real server (``shiplane serve`` in a subprocess,
uvicorn, one worker) on a fresh database:

write    POST /api/v1/deploys, every request a new deploy (unique sha, spread
         over --services services so that no two requests contend for one
         scope), against a bare Starlette endpoint served the same way. The
         database first holds --history earlier deploys (100,000), as a table in
         use would.
list     GET /api/v1/deploys?limit=50, unfiltered and filtered by service and
         environment, on a table seeded with --rows deploys (1,000,000) by
         bulk SQL straight into the database. Target: p99 <= 20 ms.
startup  launch-to-first-answer (spawn -> first 200 from /healthz) and idle
         RSS of ``shiplane serve`` on SQLite.

Load comes from a separate process: wrk when it is installed (Debian: apt-get
install wrk), else a small asyncio client in a subprocess of this script.
Every phase has a warmup whose figures are thrown away.

Run from the repository root:
    .venv/bin/python benchmarks/api.py --db both
    .venv/bin/python benchmarks/api.py --db sqlite --parts write --duration 5
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import resource
import secrets
import shlex
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BARE_APP = Path(__file__).resolve().parent / "_bare.py"
TOKEN = "bench-token-0123456789"
HOST = "127.0.0.1"
ENVIRONMENTS = ("production", "staging", "development")
LIST_TARGET_P99_MS = 20.0
# Names of the PostgreSQL databases this script creates (and drops) on the server of --pg-url.
PG_WRITE_DB = "shiplane_bench_write"
PG_LIST_DB = "shiplane_bench_list"
# Set from --no-worker: serve without the embedded background worker.
NO_WORKER = False
# Where --keep / --skip-seed keep the seeded SQLite list database between runs.
KEPT_SQLITE_LIST = Path(tempfile.gettempdir()) / "shiplane-bench" / "list.db"


def shiplane_bin() -> str:
    """The console script of the interpreter running us (the project's venv)."""
    candidate = Path(sys.executable).parent / "shiplane"
    return str(candidate) if candidate.exists() else (shutil.which("shiplane") or "shiplane")


# ---------------------------------------------------------------- load scripts

# One wrk script for every phase; the mode and the rest come as script args.
# Each wrk thread has its own Lua state: the sha is nonce (per run) + thread
# number + per-thread counter, so it is unique across threads and across the
# warmup and measured runs against one database. A repeated sha would be an
# idempotent 200 instead of a registration.
WRK_LUA = r"""
local threads = {}
local counter = 0

function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end

function init(args)
  mode, nonce, nservices, env = args[1], args[2], tonumber(args[3]), args[4]
  wrk.headers["Authorization"] = "Bearer " .. args[5]
  wrk.headers["Content-Type"] = "application/json"
  statuses = {}
end

function request()
  counter = counter + 1
  local svc = string.format("svc-%02d", counter % nservices)
  if mode == "post" then
    local body = string.format(
      '{"service":"%s","environment":"%s","sha":"%s%02x%010x","status":"succeeded"}',
      svc, env, nonce, tid, counter)
    return wrk.format("POST", "/api/v1/deploys", nil, body)
  elseif mode == "list" then
    return wrk.format("GET", "/api/v1/deploys?limit=50")
  else
    return wrk.format("GET", "/api/v1/deploys?limit=50&service=" .. svc .. "&environment=" .. env)
  end
end

"""

# Shared by every wrk script here: count statuses per thread, print one machine-readable line.
WRK_REPORT_LUA = r"""
function response(status, headers, body)
  local key = tostring(status)
  statuses[key] = (statuses[key] or 0) + 1
end

function done(summary, latency, requests)
  local merged = {}
  for _, t in ipairs(threads) do
    for k, v in pairs(t:get("statuses")) do merged[k] = (merged[k] or 0) + v end
  end
  local parts = {}
  for k, v in pairs(merged) do table.insert(parts, string.format('"%s":%d', k, v)) end
  local e = summary.errors
  io.write(string.format(
    'BENCHJSON {"requests":%d,"duration_us":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,'
      .. '"mean_us":%.1f,"errors":%d,"timeouts":%d,"statuses":{%s}}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, latency.mean,
    e.connect + e.read + e.write, e.timeout, table.concat(parts, ",")))
end
"""


def request_bytes(mode: str, counter: int, nonce: str, worker: int, services: int, env: str, host: str) -> bytes:
    """The same requests as WRK_LUA builds, for the Python load generator."""
    svc = f"svc-{counter % services:02d}"
    head = f"Host: {host}\r\nAuthorization: Bearer {TOKEN}\r\n"
    if mode == "post":
        body = (
            f'{{"service":"{svc}","environment":"{env}",'
            f'"sha":"{nonce}{worker:02x}{counter:010x}","status":"succeeded"}}'
        ).encode()
        return (
            f"POST /api/v1/deploys HTTP/1.1\r\n{head}Content-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode() + body
    path = "/api/v1/deploys?limit=50"
    if mode == "scoped":
        path += f"&service={svc}&environment={env}"
    return f"GET {path} HTTP/1.1\r\n{head}\r\n".encode()


async def _pyload_worker(spec: dict[str, Any], worker: int, deadline: float, latencies: list, statuses: dict) -> int:
    reader, writer = await asyncio.open_connection(spec["host"], spec["port"])
    errors = 0
    counter = 0
    host = f"{spec['host']}:{spec['port']}"
    try:
        while time.perf_counter() < deadline:
            counter += 1
            req = request_bytes(spec["mode"], counter, spec["nonce"], worker, spec["services"], spec["env"], host)
            t0 = time.perf_counter()
            writer.write(req)
            head = await reader.readuntil(b"\r\n\r\n")
            status = head[9:12].decode()
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - t0)
            statuses[status] = statuses.get(status, 0) + 1
    except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
        errors += 1
    finally:
        writer.close()
    return errors


async def _pyload(spec: dict[str, Any]) -> dict[str, Any]:
    latencies: list[float] = []
    statuses: dict[str, int] = {}
    start = time.perf_counter()
    deadline = start + spec["duration"]
    errors = await asyncio.gather(
        *(_pyload_worker(spec, w, deadline, latencies, statuses) for w in range(spec["concurrency"]))
    )
    elapsed = time.perf_counter() - start
    latencies.sort()

    def pct(p: float) -> int:
        return int(latencies[min(len(latencies) - 1, int(len(latencies) * p / 100))] * 1e6) if latencies else 0

    return {
        "requests": len(latencies),
        "duration_us": int(elapsed * 1e6),
        "p50_us": pct(50),
        "p90_us": pct(90),
        "p99_us": pct(99),
        "max_us": int(latencies[-1] * 1e6) if latencies else 0,
        "mean_us": statistics.fmean(latencies) * 1e6 if latencies else 0.0,
        "errors": sum(errors),
        "timeouts": 0,
        "statuses": statuses,
    }


def pyload_main(spec_json: str) -> None:
    """Entry point of the Python load generator subprocess (hidden --_loadgen flag)."""
    spec = json.loads(spec_json)
    with contextlib.suppress(ImportError):
        import uvloop  # the client should not be slower than the server it measures

        uvloop.install()
    print("BENCHJSON " + json.dumps(asyncio.run(_pyload(spec))), flush=True)


# ---------------------------------------------------------------- processes and measurement


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def proc_cpu_seconds(pid: int) -> float:
    """utime + stime of one process, from /proc/PID/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_busy_seconds() -> float:
    """CPU seconds spent in processes (user, nice, system) on all cores together since boot.

    Interrupt time is left out: at 20,000 requests a second the loopback
    network's softirq work is sizeable and belongs to no process, so counting
    it would pass our own traffic off as noise from other processes.
    """
    user, nice, system = (int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:4])
    return (user + nice + system) / os.sysconf("SC_CLK_TCK")


def pg_backends_cpu(dbname: str | None) -> dict[int, float]:
    """pid -> CPU seconds of the live PostgreSQL backends serving dbname (their title names it).

    Backends that end during a run (connections the pool closes) take their
    CPU with them: the figure is a floor, see the sessions note.
    """
    found: dict[int, float] = {}
    if not dbname:
        return found
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            title = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            if title.startswith("postgres:") and f" {dbname} " in title:
                found[int(proc.name)] = proc_cpu_seconds(int(proc.name))
        except OSError:  # the process ended meanwhile
            continue
    return found


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


@dataclass
class Server:
    name: str
    proc: subprocess.Popen
    port: int
    log: Path
    ready_s: float = 0.0
    pg_db: str | None = None  # the PostgreSQL database it uses, for CPU and session accounting
    pg: Postgres | None = None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def error_lines(self, top: int = 3) -> list[str]:
        """The most frequent exception lines in the server log ('pkg.SomeError: ...'), with counts."""
        found: dict[str, int] = {}
        for line in self.log.read_text(errors="replace").splitlines():
            head = line.split(":", 1)[0]
            if not line.startswith((" ", "\t")) and head.endswith(("Error", "Exception", "Violation")):
                key = line[:160]
                found[key] = found.get(key, 0) + 1
        ranked = sorted(found.items(), key=lambda kv: -kv[1])[:top]
        return [f"server log (warmup included) {n}x: {text}" for text, n in ranked]

    def log_tail(self, lines: int = 30) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        if self.proc.poll() is None:
            # SIGINT is uvicorn's graceful shutdown (lifespan shutdown runs).
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def spawn(name: str, cmd: list[str], env: dict[str, str], port: int, workdir: Path) -> Server:
    """Start a server and wait for its first 200 from /healthz; ready_s is spawn -> that answer."""
    log = workdir / f"{name}.log"
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env={**os.environ, **env}, cwd=ROOT, stdout=log.open("wb"), stderr=subprocess.STDOUT)
    server = Server(name, proc, port, log)
    deadline = t0 + 60
    while True:
        if proc.poll() is not None:
            last = server.log_tail(1).strip()
            raise RuntimeError(
                f"{name} exited with {proc.returncode} before answering ({last}); log tail:\n{server.log_tail()}"
            )
        try:
            with urllib.request.urlopen(f"{server.url}/healthz", timeout=2) as resp:
                if resp.status == 200:
                    server.ready_s = time.perf_counter() - t0
                    return server
        except OSError:
            pass
        if time.perf_counter() > deadline:
            server.stop()
            raise RuntimeError(f"{name} did not answer /healthz within 60 s:\n{server.log_tail()}")
        time.sleep(0.005)


def spawn_shiplane(name: str, db_url: str, workdir: Path, *, migrate: bool, pg: Postgres | None = None) -> Server:
    port = free_port()
    cmd = [shiplane_bin(), "serve", "--host", HOST, "--port", str(port)]
    if migrate:
        cmd.append("--migrate")
    if NO_WORKER:
        cmd.append("--no-worker")
    env = {"SHIPLANE_DATABASE_URL": db_url, "SHIPLANE_BOOTSTRAP_TOKEN": TOKEN}
    server = spawn(name, cmd, env, port, workdir)
    if pg is not None:
        server.pg, server.pg_db = pg, db_url.rsplit("/", 1)[1]
    return server


def spawn_bare(workdir: Path) -> Server:
    port = free_port()
    return spawn("bare", [sys.executable, str(BARE_APP), "--host", HOST, "--port", str(port)], {}, port, workdir)


@dataclass
class Result:
    scenario: str
    db: str
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    statuses: dict[str, int]
    errors: int
    # CPU during the measured run, in cores (1.0 = one core busy all along):
    server_cpu: float  # the server process
    loadgen_cpu: float  # the load generator
    db_cpu: float  # the PostgreSQL backends of the server's database
    other_cpu: float  # everything else on the machine: noise that perturbs the figures
    target_p99_ms: float | None = None
    bare_rps: float | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def cpu_ms_per_request(self) -> float:
        """Server CPU per answer: the cost that the throughput of one worker is the inverse of."""
        return self.server_cpu * 1000 / self.rps if self.rps else 0.0

    @property
    def non_2xx(self) -> int:
        return sum(n for code, n in self.statuses.items() if not code.startswith("2"))


class LoadGen:
    def __init__(self, args: argparse.Namespace, workdir: Path) -> None:
        self.args = args
        wrk = shutil.which("wrk")
        self.kind = args.loadgen if args.loadgen != "auto" else ("wrk" if wrk else "python")
        if self.kind == "wrk" and not wrk:
            raise SystemExit("--loadgen wrk: wrk is not installed (Debian: apt-get install -y wrk)")
        self.wrk = wrk
        self.lua = workdir / "load.lua"
        self.lua.write_text(WRK_LUA + WRK_REPORT_LUA)

    def describe(self) -> str:
        if self.kind == "wrk":
            version = subprocess.run([self.wrk, "-v"], capture_output=True, text=True).stdout.splitlines()[0]
            return f"{version.split(' Copyright')[0]}, {self.threads} threads, {self.args.concurrency} connections"
        return f"asyncio client in a subprocess, {self.args.concurrency} connections"

    @property
    def threads(self) -> int:
        return max(1, min(self.args.threads, self.args.concurrency))

    def command(self, server: Server, mode: str, seconds: float, env: str) -> list[str]:
        nonce = secrets.token_hex(4)
        if self.kind == "wrk":
            return [
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
                mode,
                nonce,
                str(self.args.services),
                env,
                TOKEN,
            ]
        spec = dict(
            host=HOST,
            port=server.port,
            mode=mode,
            nonce=nonce,
            duration=seconds,
            concurrency=self.args.concurrency,
            services=self.args.services,
            env=env,
        )
        return [sys.executable, __file__, "--_loadgen", json.dumps(spec)]

    def run(self, server: Server, mode: str, seconds: float, env: str) -> dict[str, Any]:
        cmd = self.command(server, mode, seconds, env)
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60)
        for line in out.stdout.splitlines():
            if line.startswith("BENCHJSON "):
                return json.loads(line[len("BENCHJSON ") :])
        raise RuntimeError(f"load generator failed ({out.returncode}):\n{out.stdout}\n{out.stderr}")

    def measure(self, server: Server, scenario: str, db: str, mode: str, env: str = "production") -> Result:
        """Warm up, then measure one phase, with CPU accounting around the measured run only."""
        if self.args.warmup > 0:
            self.run(server, mode, self.args.warmup, env)

        def cpu() -> tuple[float, float, float]:
            children = resource.getrusage(resource.RUSAGE_CHILDREN)  # the finished load generator runs
            return proc_cpu_seconds(server.proc.pid), children.ru_utime + children.ru_stime, machine_busy_seconds()

        sessions0 = server.pg.sessions(server.pg_db) if server.pg else 0
        before, pg_before = cpu(), pg_backends_cpu(server.pg_db)
        t0 = time.perf_counter()
        data = self.run(server, mode, self.args.duration, env)
        wall = time.perf_counter() - t0
        after, pg_after = cpu(), pg_backends_cpu(server.pg_db)
        if server.proc.poll() is not None:
            raise RuntimeError(f"{server.name} died during {scenario}:\n{server.log_tail()}")
        srv, gen, busy = (b - a for a, b in zip(before, after, strict=True))
        pgc = sum(t - pg_before.get(pid, 0.0) for pid, t in pg_after.items())
        result = Result(
            scenario=scenario,
            db=db,
            requests=data["requests"],
            seconds=data["duration_us"] / 1e6,
            p50_ms=data["p50_us"] / 1000,
            p99_ms=data["p99_us"] / 1000,
            max_ms=data["max_us"] / 1000,
            statuses=data["statuses"],
            errors=data["errors"] + data["timeouts"],
            server_cpu=srv / wall,
            loadgen_cpu=gen / wall,
            db_cpu=pgc / wall,
            other_cpu=max(0.0, busy - srv - gen - pgc) / wall,
        )
        if result.non_2xx or result.errors:
            result.notes.extend(server.error_lines())
        if server.pg:
            # A pool that keeps its connections opens none under steady load;
            # each new one costs PostgreSQL a fork and an authentication.
            opened = server.pg.sessions(server.pg_db) - sessions0
            result.notes.append(f"{opened} PostgreSQL sessions opened during the measured run")
        print(
            f"  {scenario:<22} {db:<10} {result.rps:8.0f} req/s  p50 {result.p50_ms:6.2f} ms"
            f"  p99 {result.p99_ms:6.2f} ms  statuses {result.statuses}  errors {result.errors}"
            f"  cpu: server {result.server_cpu:.0%} loadgen {result.loadgen_cpu:.0%}"
            f" postgres {result.db_cpu:.0%} other {result.other_cpu:.0%}",
            flush=True,
        )
        return result


# ---------------------------------------------------------------- databases


class Postgres:
    """Creates and drops the benchmark databases through the admin database of --pg-url."""

    def __init__(self, admin_url: str) -> None:
        self.admin_url = admin_url

    def _admin(self):
        import psycopg

        return psycopg.connect(self.admin_url, autocommit=True)

    def url(self, name: str) -> str:
        import psycopg.conninfo

        info = psycopg.conninfo.conninfo_to_dict(self.admin_url)
        user = info.get("user", "postgres")
        auth = user + (f":{info['password']}" if info.get("password") else "")
        return f"postgresql://{auth}@{info.get('host', HOST)}:{info.get('port', 5432)}/{name}"

    def create(self, name: str) -> str:
        with self._admin() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def exists(self, name: str) -> bool:
        with self._admin() as conn:
            return conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is not None

    def drop(self, name: str) -> None:
        with self._admin() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def sessions(self, name: str) -> int:
        """Sessions established on a database so far (pg_stat_database.sessions, PostgreSQL 14+)."""
        with self._admin() as conn:
            row = conn.execute("SELECT sessions FROM pg_stat_database WHERE datname = %s", (name,)).fetchone()
            return int(row[0] or 0) if row else 0

    def describe(self) -> str:
        with self._admin() as conn:
            keys = ("server_version", "fsync", "synchronous_commit", "shared_buffers")
            return ", ".join(f"{k}={conn.execute(f'SHOW {k}').fetchone()[0]}" for k in keys)


def migrate(db_url: str) -> None:
    """The schema as the server would create it: `shiplane db upgrade`."""
    env = {**os.environ, "SHIPLANE_DATABASE_URL": db_url}
    out = subprocess.run([shiplane_bin(), "db", "upgrade"], env=env, cwd=ROOT, capture_output=True, text=True)
    if out.returncode != 0:
        lines = (out.stderr or out.stdout).strip().splitlines() or ["(no output)"]
        raise RuntimeError(f"shiplane db upgrade failed ({lines[-1]})")


def catalog_rows(services: int, now: datetime) -> tuple[list[tuple], list[tuple]]:
    svc = [(f"svc-{i:02d}", f"svc-{i:02d}", "", "main", "[]", now) for i in range(services)]
    env = [(slug, slug, slug == "production", now) for slug in ENVIRONMENTS]
    return svc, env


def deploy_rows(rows: int, service_ids: list[int], env_ids: list[int], now: datetime) -> Iterator[tuple]:
    """Finished deploys, one a minute, oldest first, cycling through every service and environment.

    Yields (service_id, environment_id, sha, status, time, version, author);
    time is naive UTC (the caller formats it for its engine) and is used for
    registered_at, finished_at and deployed_at alike.
    """
    start = now.replace(tzinfo=None, microsecond=0) - timedelta(minutes=rows)
    n_svc, n_env = len(service_ids), len(env_ids)
    for i in range(rows):
        yield (
            service_ids[i % n_svc],
            env_ids[(i // n_svc) % n_env],
            f"{(i * 0x9E3779B97F4A7C15F39CC0605CEDC8341082276B) % (1 << 160):040x}",  # unique, spread-out
            "failed" if i % 20 == 0 else "succeeded",
            start + timedelta(minutes=i, microseconds=i % 1000),
            f"1.{i // 1000}.{i % 1000}",
            f"dev{i % 37}",
        )


# Seeded deploys look as the API leaves them once settled: judged (healthy,
# final) and with their change source decided ('none': an untracked service),
# so the worker has no backlog to chew through while the load runs.
DEPLOY_COLUMNS = (
    "service_id, environment_id, sha, status, registered_at, finished_at, deployed_at, version, author,"
    " tags, during_lock, registered_by, has_changes, health_state, health_score, health_final, changes_source"
)


def seed_sqlite(path: Path, rows: int, services: int) -> None:
    now = datetime.now(UTC)
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        # Nothing else has the file open: no journal and no fsync while seeding
        # (a crash here just means seeding again), WAL again afterwards as the
        # server sets it.
        conn.execute("PRAGMA journal_mode=DELETE")
        conn.execute("PRAGMA synchronous=OFF")
        conn.execute("PRAGMA cache_size=-262144")
        conn.execute("BEGIN")
        # SQLAlchemy's SQLite DATETIME text format: naive UTC, always 6 fractional digits.
        ts = now.replace(tzinfo=None).isoformat(" ", "microseconds")
        svc, env = catalog_rows(services, ts)
        conn.executemany("INSERT INTO services (slug, name, repo, branch, paths, created_at) VALUES (?,?,?,?,?,?)", svc)
        conn.executemany("INSERT INTO environments (slug, name, production, created_at) VALUES (?,?,?,?)", env)
        sids = [r[0] for r in conn.execute("SELECT id FROM services ORDER BY slug")]
        eids = [r[0] for r in conn.execute("SELECT id FROM environments ORDER BY id")]
        conn.executemany(
            f"INSERT INTO deploys ({DEPLOY_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,'[]',0,'token:seed',0,'healthy',1.0,1,'none')",
            (
                (s, e, sha, st, t, t, t, v, a)
                for s, e, sha, st, when, v, a in deploy_rows(rows, sids, eids, now)
                for t in (when.isoformat(" ", "microseconds"),)
            ),
        )
        conn.execute("COMMIT")
        # No ANALYZE: the server never runs one, so this is the planner users get.
        conn.execute("PRAGMA journal_mode=WAL")
    finally:
        conn.close()


def seed_postgres(db_url: str, rows: int, services: int) -> None:
    import psycopg

    now = datetime.now(UTC)
    with psycopg.connect(db_url) as conn:
        svc, env = catalog_rows(services, now)
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO services (slug, name, repo, branch, paths, created_at) VALUES (%s,%s,%s,%s,%s,%s)", svc
            )
            cur.executemany("INSERT INTO environments (slug, name, production, created_at) VALUES (%s,%s,%s,%s)", env)
            sids = [r[0] for r in cur.execute("SELECT id FROM services ORDER BY slug")]
            eids = [r[0] for r in cur.execute("SELECT id FROM environments ORDER BY id")]
            # COPY in text format, lines built here in big chunks: far faster
            # than per-row write_row() or INSERTs.
            with cur.copy(f"COPY deploys ({DEPLOY_COLUMNS}) FROM STDIN") as copy:
                chunk: list[str] = []
                for s, e, sha, st, when, v, a in deploy_rows(rows, sids, eids, now):
                    t = when.isoformat(" ", "microseconds") + "+00"
                    chunk.append(
                        f"{s}\t{e}\t{sha}\t{st}\t{t}\t{t}\t{t}\t{v}\t{a}\t[]\tf\ttoken:seed\tf\thealthy\t1\tt\tnone\n"
                    )
                    if len(chunk) == 50_000:
                        copy.write("".join(chunk))
                        chunk.clear()
                copy.write("".join(chunk))
        conn.commit()
    # Statistics and the visibility map as autovacuum would leave them a minute
    # after a bulk load; measuring before that would measure its absence.
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE deploys")
        conn.execute("ANALYZE services")
        conn.execute("ANALYZE environments")


def build_rollups(db_url: str) -> float:
    """Build the DORA day roll-ups of a seeded database, as a server that had been
    running would have them; returns the seconds it took.

    Without this the server's first worker tick rebuilds them from every seeded
    deploy while the load runs (a one-off after an upgrade, not steady state).
    """
    from shiplane.db import Database
    from shiplane.dora.refresh import rebuild
    from shiplane.settings import DoraConfig

    defaults = DoraConfig()
    t0 = time.perf_counter()
    db = Database(db_url)
    try:
        with db.write() as conn:
            rebuild(conn, tz=defaults.timezone, failure_states=defaults.failure_states)
    finally:
        db.dispose()
    return time.perf_counter() - t0


def count_deploys(db: str, url: str) -> int:
    if db == "sqlite":
        path = url.removeprefix("sqlite:///")
        if not Path(path).exists():
            return 0
        with contextlib.closing(sqlite3.connect(path)) as conn:
            try:
                return conn.execute("SELECT count(*) FROM deploys").fetchone()[0]
            except sqlite3.OperationalError:
                return 0
    import psycopg

    with psycopg.connect(url) as conn:
        try:
            return conn.execute("SELECT count(*) FROM deploys").fetchone()[0]
        except psycopg.Error:
            return 0


# ---------------------------------------------------------------- parts


def part_bare(load: LoadGen, workdir: Path) -> dict[str, Result]:
    print("bare Starlette endpoint", flush=True)
    server = spawn_bare(workdir)
    try:
        return {
            "post": load.measure(server, "bare POST", "-", "post"),
            "get": load.measure(server, "bare GET", "-", "list"),
        }
    finally:
        server.stop()


def part_write(
    db: str, load: LoadGen, workdir: Path, pg: Postgres | None, bare: dict[str, Result], history: int
) -> list[Result]:
    print(f"write: POST /api/v1/deploys on {db}", flush=True)
    if db == "sqlite":
        url = f"sqlite:///{workdir / 'write.db'}"
    else:
        url = pg.create(PG_WRITE_DB)
    server = None
    notes = []
    try:
        if history:
            # Registrations land in a table in steady use, not an empty one: the
            # latest-deploy and rollback lookups must stay index lookups as the
            # table grows, and PostgreSQL plans with the statistics autovacuum
            # would have gathered by then (an empty, never-analyzed table is a
            # state a real install leaves within its first minute).
            t0 = time.perf_counter()
            migrate(url)
            if db == "sqlite":
                seed_sqlite(workdir / "write.db", history, load.args.services)
            else:
                seed_postgres(url, history, load.args.services)
            seeded = time.perf_counter() - t0
            rollups = build_rollups(url)
            notes.append(
                f"into a table of {history:,} earlier deploys (seeded in {seeded:.1f} s, DORA roll-ups in {rollups:.1f} s)"
            )
        server = spawn_shiplane(
            f"write-{db}", url, workdir, migrate=db == "postgresql", pg=pg if db == "postgresql" else None
        )
        result = load.measure(server, "register deploy (POST)", db, "post")
        result.notes.extend(notes)
        result.bare_rps = bare["post"].rps if bare else None
        created = result.statuses.get("201", 0)
        if created != result.requests:
            result.notes.append(f"{result.requests - created} of {result.requests} answers were not 201 Created")
        result.notes.append(f"server RSS after load {rss_kib(server.proc.pid) / 1024:.0f} MiB")
        return [result]
    finally:
        if server:
            server.stop()
        if db == "postgresql":
            pg.drop(PG_WRITE_DB)


def part_list(
    db: str, load: LoadGen, workdir: Path, pg: Postgres | None, bare: dict[str, Result], args: argparse.Namespace
) -> list[Result]:
    print(f"list: GET /api/v1/deploys on {db} with {args.rows:,} deploys", flush=True)
    kept = args.keep or args.skip_seed
    if db == "sqlite":
        path = KEPT_SQLITE_LIST if kept else workdir / "list.db"
        path.parent.mkdir(parents=True, exist_ok=True)
        url = f"sqlite:///{path}"
    else:
        url = pg.url(PG_LIST_DB)
    notes = []
    if args.skip_seed:
        have = count_deploys(db, url) if db == "sqlite" or pg.exists(PG_LIST_DB) else 0
        if have < args.rows:
            raise SystemExit(f"--skip-seed: the kept {db} list database has {have:,} deploys, not {args.rows:,}")
        notes.append(f"reused a kept database of {have:,} deploys")
    server = None
    try:
        if not args.skip_seed:
            if db == "sqlite":
                for suffix in ("", "-wal", "-shm"):
                    Path(f"{path}{suffix}").unlink(missing_ok=True)
            else:
                pg.create(PG_LIST_DB)
            t0 = time.perf_counter()
            migrate(url)
            if db == "sqlite":
                seed_sqlite(path, args.rows, args.services)
            else:
                seed_postgres(url, args.rows, args.services)
            seeded = time.perf_counter() - t0
            rollups = build_rollups(url)
            notes.append(f"seeded {args.rows:,} deploys in {seeded:.1f} s, DORA roll-ups in {rollups:.1f} s")
            print(f"  seeded {args.rows:,} deploys in {seeded:.1f} s, DORA roll-ups in {rollups:.1f} s", flush=True)
        server = spawn_shiplane(f"list-{db}", url, workdir, migrate=False, pg=pg if db == "postgresql" else None)
        notes.append(f"launch to first answer on it {server.ready_s * 1000:.0f} ms")
        results = [
            load.measure(server, "list limit=50", db, "list"),
            load.measure(server, "list service+env", db, "scoped"),
        ]
        for r in results:
            r.target_p99_ms = LIST_TARGET_P99_MS
            r.bare_rps = bare["get"].rps if bare else None
        results[0].notes.extend(notes)
        return results
    finally:
        if server:
            server.stop()
        if db == "postgresql" and not kept:
            pg.drop(PG_LIST_DB)


def part_startup(workdir: Path, launches: int) -> dict[str, Any]:
    """Launch-to-first-answer and idle RSS of `shiplane serve` on SQLite."""
    print("startup: shiplane serve on SQLite", flush=True)
    fresh, warm, rss = [], [], []
    for i in range(launches):
        # A fresh database: the launch includes creating the schema.
        url = f"sqlite:///{workdir / f'startup-{i}.db'}"
        server = spawn_shiplane(f"startup-{i}", url, workdir, migrate=False)
        try:
            fresh.append(server.ready_s)
            time.sleep(1.0)  # idle: let start-up garbage settle before reading RSS
            rss.append(rss_kib(server.proc.pid))
        finally:
            server.stop()
        # The same database again: an ordinary restart, schema already current.
        server = spawn_shiplane(f"restart-{i}", url, workdir, migrate=False)
        warm.append(server.ready_s)
        server.stop()
    out = {
        "fresh_ms": statistics.median(fresh) * 1000,
        "restart_ms": statistics.median(warm) * 1000,
        "rss_mib": statistics.median(rss) / 1024,
        "launches": launches,
    }
    print(
        f"  launch to first 200: fresh db {out['fresh_ms']:.0f} ms, restart {out['restart_ms']:.0f} ms"
        f" (median of {launches}); idle RSS {out['rss_mib']:.1f} MiB",
        flush=True,
    )
    return out


# ---------------------------------------------------------------- report


NOISY_OTHER_CPU = 0.25  # cores used by unrelated processes above which a phase is flagged


def print_summary(
    results: list[Result],
    startup: dict[str, Any] | None,
    context: list[str],
    failures: list[str],
    enforce_targets: bool = True,
) -> bool:
    """Print the table; return whether every part ran and every check (no non-2xx, no errors, list p99) held.

    With ``enforce_targets`` off the p99 target is still shown but only the
    correctness checks count: a tiny run on a busy machine says nothing about latency.
    """
    ok = not failures
    width = 136
    print("\n" + "=" * width)
    print("SUMMARY")
    for line in context:
        print(f"  {line}")
    print("-" * width)
    print(
        f"{'scenario':<24}{'db':<11}{'req/s':>8}{'vs bare':>8}{'p50 ms':>8}{'p99 ms':>8}{'max ms':>8}"
        f"{'non-2xx':>8}{'errors':>7}{'cpu srv':>8}{'ms/req':>8}{'pg':>6}{'other':>7}{'p99 target':>13}"
    )
    print("-" * width)
    for r in results:
        ratio = f"{r.rps / r.bare_rps:.1%}" if r.bare_rps else "-"
        target = "-"
        if r.target_p99_ms is not None:
            met = r.p99_ms <= r.target_p99_ms
            ok &= met or not enforce_targets
            target = f"<={r.target_p99_ms:.0f} {'ok' if met else 'MISS'}"
        ok &= r.non_2xx == 0 and r.errors == 0
        pg = f"{r.db_cpu:.0%}" if r.db == "postgresql" else "-"
        print(
            f"{r.scenario:<24}{r.db:<11}{r.rps:>8.0f}{ratio:>8}{r.p50_ms:>8.2f}{r.p99_ms:>8.2f}{r.max_ms:>8.1f}"
            f"{r.non_2xx:>8}{r.errors:>7}{r.server_cpu:>8.0%}{r.cpu_ms_per_request:>8.2f}{pg:>6}{r.other_cpu:>7.0%}"
            f"{target:>13}"
        )
    print("-" * width)
    for r in results:
        for note in r.notes:
            print(f"  {r.scenario} ({r.db}): {note}")
    if startup:
        print(
            f"  startup (sqlite): launch to first 200 from /healthz {startup['fresh_ms']:.0f} ms on a fresh database,"
            f" {startup['restart_ms']:.0f} ms on a migrated one; idle RSS {startup['rss_mib']:.1f} MiB"
            f" (medians of {startup['launches']} launches)"
        )
    for failure in failures:
        print(f"  FAILED part: {failure}")
    if not enforce_targets:
        print("  p99 targets: shown, not enforced (--no-targets)")
    print(f"  checks: {'all passed' if ok else 'FAILED (see failed parts, non-2xx, errors or p99 target above)'}")
    noisy = [r for r in results if r.other_cpu > NOISY_OTHER_CPU]
    if noisy:
        worst = max(r.other_cpu for r in noisy)
        print(
            f"  WARNING: unrelated processes used up to {worst:.0%} of a core during {len(noisy)} measured run(s):"
            " those figures are perturbed; rerun on an idle machine to compare with other runs."
        )
    print("  vs bare: throughput as a share of the bare Starlette endpoint (POST for writes, GET for lists).")
    print("  cpu srv / pg / other: CPU of the server process / its PostgreSQL backends / everything else")
    print("  except the load generator, in shares of one core, during the measured run (pg: live backends only);")
    print("  ms/req: server-process CPU per answer (one worker tops out near 1000 / ms/req answers a second).")
    print("  non-2xx: answers other than 2xx; errors: socket errors and timeouts (a 500 also closes its connection).")
    print("=" * width)
    return ok


def git_revision() -> str:
    """HEAD, and whether src/ differs from it: the figures belong to that code."""
    try:
        head = subprocess.run(
            ["git", "log", "-1", "--format=%h %s"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "src"], cwd=ROOT, capture_output=True, text=True)
        return head + (" (+ uncommitted changes in src/)" if dirty.stdout.strip() else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"


def source_fingerprint() -> tuple[tuple[str, int, int], ...]:
    """Name, size and mtime of every file under src/: changes if someone edits the code mid-run."""
    files = sorted((ROOT / "src").rglob("*.py"))
    return tuple((str(f), f.stat().st_size, f.stat().st_mtime_ns) for f in files if f.exists())


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="Benchmark the Shiplane API against a bare Starlette endpoint.")
    p.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="both")
    p.add_argument(
        "--parts",
        default="write,list,startup",
        help="comma-separated subset of write,list,startup (default: all)",
    )
    p.add_argument("--duration", type=float, default=10.0, help="seconds measured per phase (default 10)")
    p.add_argument("--warmup", type=float, default=2.0, help="seconds of unmeasured load before each phase")
    p.add_argument("--concurrency", type=int, default=16, help="keep-alive connections (default 16)")
    p.add_argument("--threads", type=int, default=2, help="wrk threads (default 2)")
    p.add_argument("--services", type=int, default=50, help="services the load is spread over (default 50)")
    p.add_argument("--rows", type=int, default=1_000_000, help="deploys seeded for the list part")
    p.add_argument(
        "--history",
        type=int,
        default=100_000,
        help="earlier deploys seeded into the write database before registering (default 100,000; 0: empty)",
    )
    p.add_argument("--launches", type=int, default=3, help="launches for the startup part (median reported)")
    p.add_argument("--loadgen", choices=("auto", "wrk", "python"), default="auto")
    p.add_argument(
        "--pg-url",
        default=os.environ.get("SHIPLANE_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/test"),
        help="admin connection used to create and drop the benchmark databases",
    )
    p.add_argument(
        "--keep",
        action="store_true",
        help=f"keep the seeded list databases ({KEPT_SQLITE_LIST}, PostgreSQL {PG_LIST_DB}) for --skip-seed",
    )
    p.add_argument("--skip-seed", action="store_true", help="reuse the list databases kept by an earlier --keep run")
    p.add_argument("--no-bare", action="store_true", help="skip the bare endpoint (no 'vs bare' ratios)")
    p.add_argument(
        "--no-worker",
        action="store_true",
        help="pass --no-worker to shiplane serve (default: the worker runs, as in production)",
    )
    p.add_argument(
        "--no-targets",
        action="store_true",
        help="show the p99 target but do not fail on it; non-2xx answers and failed parts still fail (smoke runs)",
    )
    args = p.parse_args(argv)
    args.parts = {x.strip() for x in args.parts.split(",") if x.strip()}
    unknown = args.parts - {"write", "list", "startup"}
    if unknown:
        p.error(f"unknown part(s): {', '.join(sorted(unknown))}")
    return args


def main(argv: list[str]) -> int:
    if argv[:1] == ["--_loadgen"]:
        pyload_main(argv[1])
        return 0
    args = parse_args(argv)
    global NO_WORKER
    NO_WORKER = args.no_worker
    command = shlex.join([os.path.relpath(sys.executable, ROOT), os.path.relpath(__file__, ROOT), *argv])
    dbs = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    workdir = Path(tempfile.mkdtemp(prefix="shiplane-bench-"))
    load = LoadGen(args, workdir)
    pg = Postgres(args.pg_url) if "postgresql" in dbs and args.parts & {"write", "list"} else None

    import sqlalchemy
    import uvicorn

    context = [
        f"command: {command}",
        f"code: {git_revision()}",
        f"load: {load.describe()}; {args.warmup:g} s warmup + {args.duration:g} s measured per phase",
        f"machine: {os.cpu_count()} cores, load average at start {os.getloadavg()[0]:.2f};"
        f" Python {platform.python_version()}, uvicorn {uvicorn.__version__}, SQLAlchemy {sqlalchemy.__version__},"
        f" SQLite {sqlite3.sqlite_version}",
    ]
    if pg:
        context.append(f"PostgreSQL: {pg.describe()}")
    for line in context:
        print(line)

    results: list[Result] = []
    failures: list[str] = []

    def attempt(part: str, fn: Any, *fn_args: Any) -> Any:
        """Run one part; a failure is reported in the summary and the other parts still run."""
        try:
            return fn(*fn_args)
        except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
            print(f"  FAILED: {part}: {exc}", flush=True)
            failures.append(f"{part}: {str(exc).splitlines()[0]}")
            return None

    src_before = source_fingerprint()
    try:
        bare: dict[str, Result] = {}
        if not args.no_bare and args.parts & {"write", "list"}:
            bare = attempt("bare", part_bare, load, workdir) or {}
        results.extend(bare.values())
        for db in dbs:
            if "write" in args.parts:
                results.extend(attempt(f"write {db}", part_write, db, load, workdir, pg, bare, args.history) or [])
            if "list" in args.parts:
                results.extend(attempt(f"list {db}", part_list, db, load, workdir, pg, bare, args) or [])
        startup = attempt("startup", part_startup, workdir, args.launches) if "startup" in args.parts else None
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    context.append(f"load average at end {os.getloadavg()[0]:.2f}")
    if source_fingerprint() != src_before:
        context.append("WARNING: src/ changed during the run: the figures may mix versions of the code")
    ok = print_summary(results, startup, context, failures, enforce_targets=not args.no_targets)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
