"""A scheduled lock reaches pull request statuses and Slack at its start, with nobody calling (§8.1).

The app's own worker (``make_worker``: the gate scheduler, merge blocking, the notifier) runs tick by
tick; between scheduling the lock and its start, nothing calls Shiplane.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import anyio
import pytest

from shiplane import clock
from shiplane.app import create_app, make_worker
from shiplane.settings import Config
from tests.conftest import BOB, make_settings, sha
from tests.fakes import FakeGitHub
from tests.integration.test_merge_blocking import WEBHOOK_SECRET, github_config, open_pulls
from tests.integration.test_notify import Sink, section


@pytest.fixture
def sink():
    s = Sink()
    s.thread.start()
    yield s
    s.server.shutdown()
    s.server.server_close()


class Harness:
    def __init__(self, db, db_url, config, transport):
        from fastapi.testclient import TestClient

        self.app = create_app(make_settings(db_url, config), db=db, worker=False, forge_transport=transport)
        self.client = TestClient(self.app)
        self.client.__enter__()
        self.worker = make_worker(self.app.state.ctx)

    def api(self, method, url, **kw):
        return self.client.request(method, url, headers={"Authorization": f"Bearer {BOB}"}, **kw)

    def work(self, rounds: int = 30) -> None:
        """What the worker loop does, until it has nothing left to do right now."""

        async def go():
            for _ in range(rounds):
                if await self.worker.tick() > 0:
                    return

        anyio.run(go)

    def close(self):
        self.client.__exit__(None, None, None)


@pytest.mark.slow
def test_a_scheduled_lock_reaches_statuses_and_slack_at_its_start(db, db_url, sink):
    github = FakeGitHub(token="ghp_test_token")
    github.add_repo("acme/web")
    open_pulls(github, 2)
    cfg = github_config().model_dump(mode="json")
    cfg["forges"]["github"].update(token="ghp_test_token", webhook_secret=WEBHOOK_SECRET)  # dumps redact secrets
    cfg["notify"] = [{"kind": "slack", "url": sink.url + "/slack"}]
    h = Harness(db, db_url, Config.model_validate(cfg), github)
    try:
        starts = datetime.now(UTC) + timedelta(seconds=3)
        r = h.api("POST", "/api/v1/locks", json={
            "environment": "production", "reason": "Launch freeze", "starts_at": starts.isoformat(),
            "expires_at": (starts + timedelta(seconds=2)).isoformat(),
        })
        assert r.status_code == 201 and r.json()["state"] == "scheduled"
        h.work()
        assert github.latest_status("acme/web", sha("pr1"), "shiplane")["state"] == "success"
        (scheduled,) = [section(m) for m in sink.json("/slack")]
        assert scheduled.startswith(":calendar: *production* lock scheduled by token:bob")

        time.sleep(max(0.0, (starts - clock.now()).total_seconds()) + 0.2)
        h.work()  # the worker alone: no API call since the lock was scheduled
        for pr in ("pr1", "pr2"):
            status = github.latest_status("acme/web", sha(pr), "shiplane")
            assert (status["state"], status["description"]) == ("pending", "Production locked: Launch freeze (token:bob)")
        started = section(sink.json("/slack")[-1])
        assert started.startswith(":lock: *production* locked (scheduled by token:bob)")

        time.sleep(max(0.0, (starts + timedelta(seconds=2) - clock.now()).total_seconds()) + 0.2)
        h.work()
        assert github.latest_status("acme/web", sha("pr1"), "shiplane")["state"] == "success"
        assert section(sink.json("/slack")[-1]).startswith(":unlock: *production*: lock expired")
        assert github.violations == []
    finally:
        h.close()
