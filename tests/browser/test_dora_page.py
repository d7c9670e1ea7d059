"""/dora in a real browser: every number links to the deploys behind it; an empty install is neutral."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest

from shiplane import clock
from tests.browser.conftest import login, shot
from tests.conftest import BOB, sha
from tests.integration.live import LiveServer

pytestmark = pytest.mark.slow
AUTH = {"Authorization": f"Bearer {BOB}"}


@pytest.fixture
def server(db, db_url, config_file, users):
    with LiveServer(db_url, config=config_file) as s:
        yield s


def _deploy(base: str, n: int, at, **extra) -> dict:
    body = {"service": "web", "environment": "production", "sha": sha(n), "finished_at": at.isoformat(), **extra}
    r = httpx.post(f"{base}/api/v1/deploys", json=body, headers=AUTH)
    assert r.status_code in (200, 201), r.text
    return r.json()


def test_every_number_on_dora_opens_the_deploys_behind_it(browser, server):
    now = clock.now()
    first = _deploy(server.url, 1, now - timedelta(days=3), commits=[{"revision": sha("c1"), "date": (now - timedelta(days=4)).isoformat()}])
    _deploy(server.url, 2, now - timedelta(days=2))
    rollback = _deploy(server.url, 1, now - timedelta(days=1))  # rolls back deploy 2: one failure, one rework
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    login(page, server.url, "vic")
    page.goto(f"{server.url}/dora")
    assert "since" in page.inner_text("main")  # the range starts where tracking began
    assert page.locator("[data-partial-bucket]").count() == 1  # the range ends now: the last bucket is partial
    links = page.locator("main .keys a")
    hrefs = sorted({links.nth(i).get_attribute("href") for i in range(links.count())})
    metrics = {h.split("metric=")[1].split("&")[0] for h in hrefs}
    assert metrics == {"deploys", "failed", "lead_time", "recovery", "rework"}
    shot(page, "dora")

    page.locator("main .keys a", has_text="3 deploys").click()
    page.wait_for_url("**/dora/deploys?**")
    assert page.locator("tr[data-deploy-id]").count() == 3
    page.go_back()
    page.locator(".keys section", has_text="Change failure rate").locator("p.big a").click()
    page.wait_for_url("**metric=failed**")
    rows = page.locator("tr[data-deploy-id]")
    assert rows.count() == 1 and f"rolled back by #{rollback['id']}" in rows.first.inner_text()
    page.go_back()
    page.locator(".keys section", has_text="Deployment rework rate").locator("p.big a").click()
    page.wait_for_url("**metric=rework**")
    assert f"rollback of #{first['id']}" in page.locator("tr[data-deploy-id]").first.inner_text()
    shot(page, "dora-deploys-rework")
    page.close()


def test_an_empty_install_shows_a_neutral_dora_page(browser, server):
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    login(page, server.url, "vic")
    page.goto(f"{server.url}/dora")
    assert page.locator("[data-empty=dora]").count() == 1
    assert page.locator(".band-low, .band-elite, .band-high, .band-medium").count() == 0
    page.goto(f"{server.url}/dora/deploys?metric=failed")
    assert page.locator(".band-low").count() == 0
    shot(page, "dora-empty")
    page.close()


def test_hovering_a_trend_point_reaches_its_dated_tooltip(browser, server):
    now = clock.now()
    noon = (now - timedelta(days=2)).replace(hour=12, minute=0, second=0, microsecond=0)  # one whole UTC day
    for n in range(3):
        _deploy(server.url, n, noon + timedelta(minutes=n))
    page = browser.new_page(viewport={"width": 390, "height": 844}, is_mobile=True, device_scale_factor=2)
    login(page, server.url, "vic")
    page.goto(f"{server.url}/dora?days=7&bucket=day")
    chart = page.locator(".keys section", has_text="Deploy frequency").locator("svg.trend-chart")
    assert chart.locator("text.tick.x").count() >= 2  # a dated axis
    # What the pointer meets over a point is that bucket's hover region, not the line or another element.
    for day, expected in ((noon, "3 a day"), (now, "0 a day")):
        box = chart.locator("rect.bucket", has=page.locator(f"title:text-matches('^{day:%Y-%m-%d}:')")).bounding_box()
        hit = page.evaluate(
            "([x, y]) => { const e = document.elementFromPoint(x, y); return [e.getAttribute('class'), e.textContent]; }",
            [box["x"] + box["width"] / 2, box["y"] + box["height"] / 2],
        )
        assert hit == ["bucket", f"{day:%Y-%m-%d}: {expected}"]
    page.close()
