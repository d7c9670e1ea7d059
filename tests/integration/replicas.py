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

from tests.integration.live import BIN, LiveServer, free_port

HAPROXY = shutil.which("haproxy") or "/usr/sbin/haproxy"

CONFIG = """\
global
    maxconn 4096

defaults
    mode http
    timeout connect 2s
    timeout client 60s
    timeout server 60s
    # Server-sent events: a stream stays open for as long as the page does.
    timeout tunnel 1h
    # A connection refused by a dead replica is retried on the other one (never a request that
    # reached a replica: a POST is not repeated).
    retries 3
    option redispatch 1
    retry-on conn-failure

frontend shiplane
    bind 127.0.0.1:{port}
    default_backend replicas

backend replicas
    balance roundrobin
    option httpchk GET /healthz
    http-check expect status 200
{servers}
"""


def haproxy_config(port: int, backends: list[int]) -> str:
    servers = "\n".join(
        f"    server r{n} 127.0.0.1:{p} check inter 500ms fall 2 rise 1" for n, p in enumerate(backends)
    )
    return CONFIG.format(port=port, servers=servers)


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
