"""Several Shiplane processes on one PostgreSQL database behind HAProxy: two `serve --no-worker`
replicas and one `shiplane worker` (tests/integration/test_replicas.py, benchmarks/replicas.py).

HAProxy (Debian's package, installed by scripts/haproxy.sh) runs from a temporary config on free
ports, in the foreground, as a child of the test; no system service is involved.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import httpx

from tests.conftest import ROOT
from tests.integration.live import BIN, LiveServer, free_port

HAPROXY = shutil.which("haproxy") or "/usr/sbin/haproxy"

EXAMPLE = ROOT / "deploy" / "haproxy" / "haproxy.cfg"


def haproxy_config(port: int, backends: list[int]) -> str:
    """The documented example (deploy/haproxy/haproxy.cfg) with this run's ports."""
    lines = []
    for line in EXAMPLE.read_text().splitlines():
        if line.strip().startswith("bind "):
            line = f"    bind 127.0.0.1:{port}"
        elif line.strip().startswith("server "):
            continue
        lines.append(line)
    lines += [f"    server r{n} 127.0.0.1:{p} check inter 500ms fall 2 rise 1" for n, p in enumerate(backends)]
    return "\n".join(lines) + "\n"


class Balancer:
    def __init__(self, backends: list[int], workdir: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.path = workdir / "haproxy.cfg"
        self.path.write_text(haproxy_config(self.port, backends))
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 10.0) -> Balancer:
        check = subprocess.run([HAPROXY, "-c", "-f", str(self.path)], capture_output=True, text=True)
        assert check.returncode == 0, check.stdout + check.stderr
        self.proc = subprocess.Popen([HAPROXY, "-db", "-f", str(self.path)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"haproxy exited: {self.proc.stderr.read().decode()}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=0.5).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError("haproxy did not answer in time")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)


class Worker:
    def __init__(self, db_url: str, config: str | None = None) -> None:
        env = dict(os.environ, SHIPLANE_DATABASE_URL=db_url)
        env.pop("SHIPLANE_CONFIG", None)
        cmd = [str(BIN / "shiplane"), "worker"] + (["--config", config] if config else [])
        self.proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


class Cluster:
    """Two `serve --no-worker` replicas, one worker, HAProxy in front."""

    def __init__(self, db_url: str, workdir: Path, *, config: str | None = None, replicas: int = 2, extra_env: dict | None = None) -> None:
        self.replicas = [LiveServer(db_url, config=config, args=["--no-worker"], extra_env=extra_env) for _ in range(replicas)]
        self.worker: Worker | None = None
        self.db_url, self.config = db_url, config
        self.balancer = Balancer([r.port for r in self.replicas], workdir)

    def __enter__(self) -> Cluster:
        try:
            for replica in self.replicas:
                replica.start(timeout=90)  # a busy 2-core machine
            self.worker = Worker(self.db_url, self.config)
            self.balancer.start()
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.balancer.stop()
        if self.worker is not None:
            self.worker.stop()
        for replica in self.replicas:
            replica.stop()
