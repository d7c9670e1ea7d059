"""A real `shiplane serve` process for tests that need one (kill -9, concurrency, CLI)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LiveServer:
    def __init__(self, db_url: str, *, config: str | None = None, extra_env: dict | None = None, args=()) -> None:
        self.db_url = db_url
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.config = config
        self.extra_env = extra_env or {}
        self.args = list(args)
        self.proc: subprocess.Popen | None = None

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update({"SHIPLANE_DATABASE_URL": self.db_url, "SHIPLANE_PORT": str(self.port)})
        env.pop("SHIPLANE_CONFIG", None)
        env.update(self.extra_env)
        return env

    def start(self, timeout: float = 90.0) -> LiveServer:
        # Generous: a loaded 2-core CI machine has taken over 20 s to start a server; a server that
        # exits early is reported at once (poll below), so only a hung start waits this long.
        cmd = [str(BIN / "shiplane"), "serve", *self.args]
        if self.config:
            cmd += ["--config", self.config]
        self.proc = subprocess.Popen(cmd, env=self.env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {self.proc.stdout.read().decode()}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=0.5).status_code == 200:
                    return self
            except httpx.HTTPError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError("server did not start in time")

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    def __enter__(self) -> LiveServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
