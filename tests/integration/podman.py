"""Shiplane's image under podman, for the container test: built by scripts/container-image.sh.

The script keeps podman's settings and image store in its own cache folder; every podman call
here uses the same two files (``CONTAINERS_CONF``, ``CONTAINERS_STORAGE_CONF``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import uuid
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
CACHE = Path(os.environ.get("SHIPLANE_CONTAINER_CACHE", ROOT / ".cache" / "container")).resolve()
TOOLS = ("podman", "buildah", "runc", "debootstrap")


def env() -> dict[str, str]:
    return {
        **os.environ,
        "CONTAINERS_CONF": str(CACHE / "containers.conf"),
        "CONTAINERS_STORAGE_CONF": str(CACHE / "storage.conf"),
    }


def podman(*args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(["podman", *args], env=env(), capture_output=True, text=True, timeout=timeout)
    if check and done.returncode != 0:
        raise AssertionError(f"podman {' '.join(args)} exited {done.returncode}: {done.stderr[-2000:]}")
    return done


def why_podman_cannot_run() -> str | None:
    """Install the tools if missing; None when podman runs containers here, else the reason."""
    if os.geteuid() != 0:
        return "the container test needs root (debootstrap, podman's overlay store)"
    if any(shutil.which(tool) is None for tool in TOOLS):
        subprocess.run(["bash", str(ROOT / "scripts" / "container-tools.sh")], check=True, timeout=900)
    return None


def build(tag: str) -> str:
    """The stand-in base (cached), then the Dockerfile: the image's name."""
    done = subprocess.run(
        ["bash", str(ROOT / "scripts" / "container-image.sh"), tag],
        env={**os.environ, "SHIPLANE_CONTAINER_CACHE": str(CACHE)},
        capture_output=True,
        text=True,
        timeout=1800,
    )
    if done.returncode != 0:
        raise AssertionError(f"image build failed:\n{done.stderr[-4000:]}")
    return done.stdout.strip().splitlines()[-1]


class Container:
    """One ``podman run -d``; stopped and removed on exit."""

    def __init__(self, image: str, *args: str, options: tuple[str, ...] = (), port: int | None = None) -> None:
        self.name = f"shiplane-test-{uuid.uuid4().hex[:10]}"
        self.image, self.args, self.options = image, args, options
        self.url = f"http://127.0.0.1:{port}" if port else None

    def start(self) -> Container:
        # --health-interval=disable: no systemd here to run the timer; `healthcheck run` still works.
        podman("run", "-d", "--name", self.name, "--health-interval=disable", *self.options, self.image, *self.args)
        return self

    def wait_healthy(self, timeout: float = 120) -> float:
        """Seconds until /healthz answers 200."""
        assert self.url
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return time.monotonic() - started
            except httpx.HTTPError:
                pass
            if self.state("{{.State.Running}}") != "true":
                raise AssertionError(f"container exited: {self.logs()}")
            time.sleep(0.05)
        raise AssertionError(f"/healthz did not answer in {timeout} s: {self.logs()}")

    def wait_log(self, text: str, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.logs():
            if time.monotonic() > deadline or self.state("{{.State.Running}}") != "true":
                raise AssertionError(f"{text!r} not logged: {self.logs()}")
            time.sleep(0.2)

    def state(self, template: str) -> str:
        return podman("inspect", "--format", template, self.name).stdout.strip()

    def logs(self) -> str:
        done = podman("logs", self.name, check=False)
        return (done.stdout + done.stderr)[-3000:]

    def stop(self, timeout: int = 30) -> tuple[float, int]:
        """SIGTERM (podman stop), SIGKILL after ``timeout`` s: (seconds to stop, exit code); 137 = killed.

        The grace is generous: the test asks for a clean stop; its time is measured in the benchmark.
        """
        started = time.monotonic()
        podman("stop", "--time", str(timeout), self.name, timeout=timeout + 30)
        return time.monotonic() - started, int(self.state("{{.State.ExitCode}}"))

    def remove(self) -> None:
        podman("rm", "--force", "--volumes", "--time", "0", self.name, check=False)

    def __enter__(self) -> Container:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.remove()
