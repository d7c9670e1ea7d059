"""In a real browser: schedule a lock from the form, then see it on the locks page and its 14-day strip."""

from __future__ import annotations

from datetime import UTC, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest

from shiplane import clock
from tests.browser.conftest import CONFIG, login, shot
from tests.conftest import BOB
from tests.integration.live import LiveServer

pytestmark = pytest.mark.slow
BERLIN = ZoneInfo("Europe/Berlin")


@pytest.fixture
def server(db, db_url, tmp_path, users):
    path = tmp_path / "shiplane.toml"
    path.write_text(CONFIG.replace('slug = "production"\nproduction = true', 'slug = "production"\nproduction = true\ntimezone = "Europe/Berlin"'))
    s = LiveServer(db_url, config=str(path)).start(timeout=120)  # a loaded CI machine starts slowly
    try:
        yield s
    finally:
        s.stop()


def test_a_lock_scheduled_from_the_form_shows_on_the_locks_page_and_the_strip(browser, server):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    login(page, server.url, "dana")
    page.goto(f"{server.url}/locks")
    assert page.get_attribute('#lock-zones [data-zone-of="production"]', "data-zone") == "Europe/Berlin"
    assert "Europe/Berlin" in page.inner_text("#lock-zones")  # the form says which zone
    start = (clock.now() + timedelta(days=2)).astimezone(BERLIN).replace(hour=22, minute=0, second=0, microsecond=0)
    end = start + timedelta(hours=4)
    page.select_option("#lock-form select[name=environment]", "production")
    page.fill("#lock-form input[name=reason]", "Launch freeze")
    page.fill("#lock-form input[name=starts_at]", start.strftime("%Y-%m-%dT%H:%M"))
    page.fill("#lock-form input[name=expires_at]", end.strftime("%Y-%m-%dT%H:%M"))
    page.click("#lock-form button[type=submit]")
    page.wait_for_url(f"{server.url}/locks?created=*")
    assert "Scheduled" in page.inner_text("#lock-created")  # a lock ahead is not "refused now"

    row = page.locator('#scheduled-locks tr[data-state="scheduled"]')
    assert row.count() == 1 and "Launch freeze" in row.inner_text()
    (lk,) = httpx.get(f"{server.url}/api/v1/locks", params={"state": "scheduled"}, headers={"Authorization": f"Bearer {BOB}"}).json()["items"]
    assert lk["starts_at"] == start.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")  # 22:00 in Berlin, not the browser's zone
    bar = page.locator('figure[data-strip="production"] rect[data-kind="lock"]')
    assert bar.count() == 1 and "Lock: Launch freeze" in bar.locator("title").text_content()
    assert page.locator('figure[data-strip="staging"] rect[data-kind="lock"]').count() == 0
    assert "/api/v1/calendar.ics?environment=production" in page.inner_text("#h-feed ~ ul")
    assert "Launch freeze" not in page.inner_text("#h-past ~ *")  # not a past lock
    shot(page, "locks-scheduled")
    # the gate is still open now: the lock is ahead
    gate = httpx.get(f"{server.url}/api/v1/gate", params={"environment": "production"}, headers={"Authorization": f"Bearer {BOB}"}).json()
    assert gate["allowed"] is True and gate["next_change_at"] == lk["starts_at"]
