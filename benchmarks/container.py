"""The container image: its size over the base, start to /healthz, and stop on SIGTERM.

Builds the Dockerfile with podman (scripts/container-image.sh: a local debootstrap stand-in
for debian:bookworm-slim, then ``podman build --pull=never``; rebuilds hit the layer cache),
then, for each of ``--runs`` rounds:

- container start to /healthz: ``podman run -d`` (port 8700 published on 127.0.0.1, SQLite in a
  volume) until the first 200 from /healthz, on a fresh volume and again on the now-migrated one;
- SIGTERM stop: ``podman stop`` (SIGTERM to PID 1, SIGKILL after 10 s) until the container is
  gone, with its exit status (0 = a clean stop, 137 = it had to be killed); the same for a
  ``shiplane worker`` container.

The reference in the same run: the same server outside any container (``.venv/bin/shiplane
serve`` on a temporary SQLite file), launch to /healthz and SIGTERM to exit.

Targets (issue 16): layers added on top of the base ≤ 350 MB; container start to /healthz
≤ 5 s (every run); stop on SIGTERM clean (exit 0) within 5 s. Exit status 1 when one is
missed (with --no-targets, never for a target). Needs root and podman
(scripts/container-tools.sh).

    nice -n 10 .venv/bin/python benchmarks/container.py             # about a minute once built
    .venv/bin/python benchmarks/container.py --runs 1 --no-targets
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
CACHE = Path(os.environ.get("SHIPLANE_CONTAINER_CACHE", ROOT / ".cache" / "container")).resolve()
SIZE_TARGET_MB = 350.0
START_TARGET_S = 5.0
STOP_TARGET_S = 5.0
PODMAN_ENV = {
    **os.environ,
    "CONTAINERS_CONF": str(CACHE / "containers.conf"),
    "CONTAINERS_STORAGE_CONF": str(CACHE / "storage.conf"),
}


def podman(*args: str) -> str:
    done = subprocess.run(["podman", *args], env=PODMAN_ENV, capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise SystemExit(f"podman {' '.join(args)} exited {done.returncode}: {done.stderr[-2000:]}")
    return done.stdout.strip()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthz(url: str, started: float, alive, timeout: float = 60) -> float:
    while time.monotonic() - started < timeout:
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return time.monotonic() - started
        except httpx.HTTPError:
            pass
        if not alive():
            raise SystemExit(f"the server at {url} exited before /healthz answered")
        time.sleep(0.02)
    raise SystemExit(f"/healthz at {url} did not answer in {timeout} s")


def container_round(image: str, volume: str) -> tuple[float, float, int]:
    """One serve container on the volume: (start to /healthz, stop on SIGTERM, exit status)."""
    name, port = f"shiplane-bench-{uuid.uuid4().hex[:10]}", free_port()
    started = time.monotonic()
    podman(
        "run", "-d", "--name", name, "--health-interval=disable", "-p", f"127.0.0.1:{port}:8700", "-v", f"{volume}:/data", image
    )
    try:
        up = wait_healthz(
            f"http://127.0.0.1:{port}", started, lambda: podman("inspect", "-f", "{{.State.Running}}", name) == "true"
        )
        return (up, *stop(name))
    finally:
        podman("rm", "--force", "--volumes", "--time", "0", name)


def stop(name: str) -> tuple[float, int]:
    started = time.monotonic()
    podman("stop", "--time", "10", name)
    took, code = time.monotonic() - started, int(podman("inspect", "-f", "{{.State.ExitCode}}", name))
    if code != 0:
        print(f"{name} exited {code} on SIGTERM; its log ends:\n{logs(name)[-1500:]}")
    return took, code


def logs(name: str) -> str:
    done = subprocess.run(["podman", "logs", name], env=PODMAN_ENV, capture_output=True, text=True, timeout=60)
    return done.stdout + done.stderr


def worker_round(image: str, volume: str) -> tuple[float, int]:
    name = f"shiplane-bench-{uuid.uuid4().hex[:10]}"
    podman("run", "-d", "--name", name, "--health-interval=disable", "-v", f"{volume}:/data", image, "worker")
    try:
        deadline = time.monotonic() + 60
        # Past its start (it says so on stderr): the stop is what is measured.
        while "shiplane worker running" not in logs(name):
            if time.monotonic() > deadline:
                raise SystemExit(f"the worker did not start: {logs(name)}")
            time.sleep(0.1)
        return stop(name)
    finally:
        podman("rm", "--force", "--volumes", "--time", "0", name)


def outside_round(db: Path) -> tuple[float, float, int]:
    """The reference: `shiplane serve` from the venv, no container."""
    port = free_port()
    env = {**os.environ, "SHIPLANE_DATABASE_URL": f"sqlite:///{db}", "SHIPLANE_PORT": str(port)}
    env.pop("SHIPLANE_CONFIG", None)
    started = time.monotonic()
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "shiplane"), "serve"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        up = wait_healthz(f"http://127.0.0.1:{port}", started, lambda: proc.poll() is None)
        stopping = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(30)
        return up, time.monotonic() - stopping, code
    finally:
        if proc.poll() is None:
            proc.kill()


def spread(values: list[float]) -> str:
    return f"median {statistics.median(values):6.2f} s   max {max(values):6.2f} s"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5, help="rounds of start and stop (each: fresh volume, then restart)")
    parser.add_argument("--tag", default="localhost/shiplane:bench")
    parser.add_argument("--no-targets", action="store_true", help="print the targets but do not fail on them")
    args = parser.parse_args()

    started = time.monotonic()
    build = subprocess.run(
        ["bash", str(ROOT / "scripts" / "container-image.sh"), args.tag],
        env={**os.environ, "SHIPLANE_CONTAINER_CACHE": str(CACHE)},
        capture_output=True,
        text=True,
    )
    if build.returncode != 0:
        raise SystemExit(f"image build failed:\n{build.stderr[-4000:]}")
    print(f"build (with podman's layer cache): {time.monotonic() - started:.1f} s")

    image_size, base_size = (
        int(v) for v in podman("image", "inspect", "-f", "{{.Size}}", args.tag, "debian:bookworm-slim").split()
    )
    added_mb = (image_size - base_size) / 1e6
    print(f"base debian:bookworm-slim (stand-in)   {base_size / 1e6:7.1f} MB")
    print(f"layers the Dockerfile adds             {added_mb:7.1f} MB   target ≤ {SIZE_TARGET_MB:.0f} MB")
    for line in podman("history", "--format", "{{.Size}}\t{{.CreatedBy}}", args.tag).splitlines():
        size, _, created = line.partition("\t")
        if not size.startswith("0 B"):
            print(f"    {size:>9}  {created[:90]}")

    fresh, again, stops, codes, worker_stops = [], [], [], [], []
    outside_up, outside_stop, outside_codes = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.runs):
            volume = f"shiplane-bench-{uuid.uuid4().hex[:10]}"
            podman("volume", "create", volume)
            try:
                for into in (fresh, again):
                    up, down, code = container_round(args.tag, volume)
                    into.append(up)
                    stops.append(down)
                    codes.append(code)
                down, code = worker_round(args.tag, volume)
                worker_stops.append(down)
                codes.append(code)
            finally:
                podman("volume", "rm", "--force", volume)
            for _ in range(2):  # fresh file, then restart: as in the container
                up, down, code = outside_round(Path(tmp) / f"ref-{i}.db")
                outside_up.append(up)
                outside_stop.append(down)
                outside_codes.append(code)

    print(f"\n{args.runs} round(s); start = launch to the first 200 from /healthz")
    print(f"container start, fresh volume          {spread(fresh)}")
    print(f"container start, restart on the volume {spread(again)}")
    print(f"outside, same server (reference)       {spread(outside_up)}")
    print(f"container stop on SIGTERM (serve)      {spread(stops)}")
    print(f"container stop on SIGTERM (worker)     {spread(worker_stops)}")
    print(f"outside, SIGTERM to exit (reference)   {spread(outside_stop)}")
    print(f"exit statuses: containers {sorted(set(codes))}, outside {sorted(set(outside_codes))}")

    missed = []
    if added_mb > SIZE_TARGET_MB:
        missed.append(f"added layers {added_mb:.1f} MB > {SIZE_TARGET_MB:.0f} MB")
    if max(fresh + again) > START_TARGET_S:
        missed.append(f"start to /healthz {max(fresh + again):.2f} s > {START_TARGET_S:.0f} s")
    if max(stops + worker_stops) > STOP_TARGET_S:
        missed.append(f"stop on SIGTERM {max(stops + worker_stops):.2f} s > {STOP_TARGET_S:.0f} s")
    # Outside, uvicorn re-raises the SIGTERM it handled once it has shut down (-15); as PID 1
    # in a container that re-raised signal is ignored and the status is 0.
    if set(codes) != {0} or not set(outside_codes) <= {0, -signal.SIGTERM}:
        print("check failed: a stop on SIGTERM that was not clean (exit status not 0)")
        return 1
    print("checks: every stop on SIGTERM was clean")
    for line in missed:
        print(f"target missed: {line}")
    if not missed:
        print("targets met")
    return 1 if missed and not args.no_targets else 0


if __name__ == "__main__":
    sys.exit(main())
