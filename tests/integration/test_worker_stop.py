"""`shiplane worker` stops on SIGTERM with status 0: what a container's PID 1 needs (there a
signal without a handler is ignored, and `podman stop` or Kubernetes would wait, then kill)."""

from __future__ import annotations

import os
import signal
import subprocess
import time

import pytest

from tests.integration.live import BIN

pytestmark = pytest.mark.slow


# Right away, and later in its first ticks (the first one opens the outbound HTTP clients).
@pytest.mark.parametrize("delay", [0.0, 0.05, 0.5])
def test_the_worker_exits_0_on_sigterm(tmp_path, delay):
    env = {**os.environ, "SHIPLANE_DATABASE_URL": f"sqlite:///{tmp_path / 'shiplane.db'}"}
    env.pop("SHIPLANE_CONFIG", None)
    proc = subprocess.Popen([str(BIN / "shiplane"), "worker"], env=env, stderr=subprocess.PIPE, text=True)
    try:
        assert "shiplane worker running" in proc.stderr.readline()
        time.sleep(delay)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0, proc.stderr.read()
    finally:
        proc.kill()
