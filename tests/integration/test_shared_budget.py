"""The forge write budget holds across worker processes: three `shiplane worker` processes on one
database, against a fake GitHub served over HTTP that counts writes as they arrive, never send more
than `writes_per_minute` in any sliding 60-second window nor more than `writes_per_hour` in all.

Each worker reconciles at start (every open pull request gets a status), so 20 writes are due at
once; with per-process budgets three workers would send 12 in the first minute and 18 in the hour.
"""

from __future__ import annotations

import os
import subprocess
import time
from datetime import UTC, datetime, timedelta

from tests.conftest import sha
from tests.fakes import FakeGitHub
from tests.fakes.serve import Served
from tests.integration.live import BIN

PER_MINUTE, PER_HOUR, WORKERS, PULLS = 4, 6, 3, 20


def test_three_workers_share_one_write_budget(db, db_url, tmp_path):
    fake = FakeGitHub(token="ghp_test_token")
    fake.add_repo("acme/web")
    base = datetime(2026, 11, 1, tzinfo=UTC)
    for n in range(1, PULLS + 1):
        fake.add_pull("acme/web", n, sha(f"pr{n}"), updated_at=base + timedelta(minutes=n))
    with Served(fake) as served:
        config = tmp_path / "shiplane.toml"
        config.write_text(
            '[[environments]]\nslug = "production"\nproduction = true\n\n'
            '[[services]]\nslug = "web"\nrepo = "github:acme/web"\nbranch = "main"\n\n'
            f'[forges.github]\napi_url = "{served.url}"\ntoken = "ghp_test_token"\n'
            f"writes_per_minute = {PER_MINUTE}\nwrites_per_hour = {PER_HOUR}\n"
        )
        env = dict(os.environ, SHIPLANE_DATABASE_URL=db_url)
        env.pop("SHIPLANE_CONFIG", None)
        workers = [
            subprocess.Popen([str(BIN / "shiplane"), "worker", "--config", str(config)], env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            for _ in range(WORKERS)
        ]
        try:
            start = time.monotonic()
            while time.monotonic() - start < 90 and not fake.writes:  # three processes starting on a busy machine
                time.sleep(0.2)
            assert fake.writes, [proc.poll() for proc in workers]
            # The first minute's share goes out at once; then nothing until the first writes leave the window.
            time.sleep(max(0.0, fake.writes[0] + 50 - time.monotonic()))
            assert len(fake.writes) == PER_MINUTE, "the workers together sent more than the minute's budget"
            # Past the window: the hour's remainder follows, and then nothing more.
            time.sleep(max(0.0, fake.writes[0] + 72 - time.monotonic()))
            for proc in workers:
                assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
        finally:
            for proc in workers:
                proc.terminate()
            for proc in workers:
                proc.wait(10)
    writes = sorted(fake.writes)
    assert len(writes) == PER_HOUR
    for first in writes:
        assert sum(1 for t in writes if first <= t < first + 60) <= PER_MINUTE
    assert writes[-1] - writes[0] >= 60, "the later writes waited for the window to slide"
    assert fake.violations == []
