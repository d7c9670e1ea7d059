"""Benchmark deploy registration through two `shiplane serve` replicas behind HAProxy, on PostgreSQL.

One fresh database, one `shiplane worker` process, two `serve --no-worker` replicas, and in the
same run three ways in, measured one after the other with the same load (wrk, --concurrency
connections, every request a new deploy spread over --services services):

  one replica, direct        the reference: what a single process does without a balancer
  one replica via HAProxy    what the balancer's hop costs
  two replicas via HAProxy   the configuration of docs/operations.md, "Several replicas"

Target (issue 16): two replicas keep the registration p99 <= 50 ms at 16 connections. This
machine has 2 cores shared by both replicas, PostgreSQL, HAProxy and wrk: it measures what a
second replica costs or buys here, and promises no scaling.

HAProxy runs from deploy/haproxy/haproxy.cfg with this run's ports (scripts/haproxy.sh installs it).

Run from the repository root:
    nice -n 10 .venv/bin/python benchmarks/replicas.py
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from api import (
    HOST,
    ROOT,
    TOKEN,
    LoadGen,
    Postgres,
    Server,
    free_port,
    git_revision,
    migrate,
    proc_cpu_seconds,
    shiplane_bin,
    spawn,
)

sys.path.insert(0, str(ROOT))
from tests.integration.replicas import HAPROXY, haproxy_config  # noqa: E402 - one HAProxy config for the test and this

TARGET_P99_MS = 50.0


def spawn_haproxy(name: str, backends: list[Server], workdir: Path) -> Server:
    port = free_port()
    config = workdir / f"{name}.cfg"
    config.write_text(haproxy_config(port, [b.port for b in backends]))
    check = subprocess.run([HAPROXY, "-c", "-f", str(config)], capture_output=True, text=True)
    if check.returncode != 0:
        raise SystemExit(f"haproxy -c refused {config}:\n{check.stdout}{check.stderr}")
    return spawn(name, [HAPROXY, "-db", "-f", str(config)], {}, port, workdir)


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--pg-url", default="postgresql://postgres@127.0.0.1:5432/postgres", help="admin database URL")
    p.add_argument("--duration", type=float, default=10.0, help="seconds measured per scenario")
    p.add_argument("--warmup", type=float, default=3.0, help="seconds of load thrown away first")
    p.add_argument("--concurrency", type=int, default=16)
    p.add_argument("--threads", type=int, default=2, help="wrk threads")
    p.add_argument("--services", type=int, default=16)
    p.add_argument("--loadgen", choices=("auto", "wrk", "python"), default="auto")
    p.add_argument("--no-targets", action="store_true", help="print the target, do not fail on it")
    args = p.parse_args(argv)
    args.database = f"shiplane_bench_replicas_{os.getpid()}"  # never a name a concurrent run uses
    return args


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="shiplane-replicas-"))
    pg = Postgres(args.pg_url)
    url = pg.create(args.database)
    started: list[Server] = []
    worker = None
    try:
        migrate(url)
        env = {"SHIPLANE_DATABASE_URL": url, "SHIPLANE_BOOTSTRAP_TOKEN": TOKEN}
        replicas = []
        for name in ("replica-a", "replica-b"):
            port = free_port()
            cmd = [shiplane_bin(), "serve", "--no-worker", "--host", HOST, "--port", str(port)]
            replicas.append(spawn(name, cmd, env, port, workdir))
            started.append(replicas[-1])
        worker = subprocess.Popen([shiplane_bin(), "worker"], env={**os.environ, **env}, cwd=ROOT,
                                  stdout=subprocess.DEVNULL, stderr=(workdir / "worker.log").open("wb"))
        one = spawn_haproxy("haproxy-one", replicas[:1], workdir)
        started.append(one)
        two = spawn_haproxy("haproxy-two", replicas, workdir)
        started.append(two)
        load = LoadGen(args, workdir)
        version = subprocess.run([HAPROXY, "-v"], capture_output=True, text=True).stdout.splitlines()[0]
        print(f"commit {git_revision().split()[0]}, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at start")
        print(f"load: {load.describe()}; {version}; PostgreSQL: {pg.describe()}")
        print(f"{args.duration:g} s measured after {args.warmup:g} s of warmup, {args.services} services\n")
        header = f"{'scenario':<26} {'req/s':>7} {'p50 ms':>7} {'p99 ms':>7} {'max ms':>7} {'non-2xx':>7} {'errors':>6} {'replica cpu':>11}"
        print(header)
        rows = {}
        for label, entry in (("one replica, direct", replicas[0]), ("one replica via HAProxy", one),
                             ("two replicas via HAProxy", two)):
            if args.warmup > 0:
                load.run(entry, "post", args.warmup, "production")
            cpu0 = sum(proc_cpu_seconds(r.proc.pid) for r in replicas)
            t0 = time.perf_counter()
            data = load.run(entry, "post", args.duration, "production")
            wall = time.perf_counter() - t0
            cpu = (sum(proc_cpu_seconds(r.proc.pid) for r in replicas) - cpu0) / wall
            non_2xx = sum(n for code, n in data["statuses"].items() if not code.startswith("2"))
            rows[label] = data
            print(
                f"{label:<26} {data['requests'] / (data['duration_us'] / 1e6):7.0f} {data['p50_us'] / 1000:7.2f}"
                f" {data['p99_us'] / 1000:7.2f} {data['max_us'] / 1000:7.1f} {non_2xx:7d} {data['errors'] + data['timeouts']:6d}"
                f" {cpu:10.0%}",
                flush=True,
            )
            for server in (*replicas, one, two):
                if server.proc.poll() is not None:
                    raise RuntimeError(f"{server.name} died during {label}:\n{server.log_tail()}")
        bad = [label for label, d in rows.items()
               if d["errors"] + d["timeouts"] or any(not c.startswith("2") for c in d["statuses"])]
        if bad:
            print(f"checks: failed (errors or non-2xx answers in {', '.join(bad)})")
            return 1
        p99 = rows["two replicas via HAProxy"]["p99_us"] / 1000
        met = p99 <= TARGET_P99_MS
        print(f"\ntarget: two replicas via HAProxy p99 {p99:.1f} ms <= {TARGET_P99_MS:.0f} ms: {'met' if met else 'NOT met'}")
        print("checks: all passed")
        return 0 if met or args.no_targets else 2
    finally:
        for server in reversed(started):
            server.stop()
        if worker is not None:
            worker.terminate()
            worker.wait(10)
        pg.drop(args.database)
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
