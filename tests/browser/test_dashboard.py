"""The dashboard in a real browser: login, the overview, live locks, escaping, charts, phone width."""

from __future__ import annotations

import re
from datetime import timedelta

import httpx
import pytest

from shiplane import clock
from tests.browser.conftest import PASSWORD, login, shot
from tests.conftest import BOB, sha
from tests.integration.live import LiveServer

pytestmark = pytest.mark.slow
AUTH = {"Authorization": f"Bearer {BOB}"}
HOSTILE = '<img src=x onerror="window.pwned=1"><script>window.pwned=1</script>&amp; "quoted"'


def _deploy(base: str, service: str, environment: str, n: int, **extra) -> dict:
    body = {"service": service, "environment": environment, "sha": sha(n), "author": extra.pop("author", "Dana Scully")}
    body.update(extra)
    r = httpx.post(f"{base}/api/v1/deploys", json=body, headers=AUTH)
    assert r.status_code in (200, 201), r.text
    return r.json()


@pytest.fixture
def server(db, db_url, config_file, users):
    with LiveServer(db_url, config=config_file) as s:
        yield s


def test_login_rejects_a_wrong_password_then_shows_the_overview(browser, server):
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    page.goto(f"{server.url}/")
    assert page.url.startswith(f"{server.url}/login")  # not public: sent to log in
    page.fill("input[name=username]", "dana")
    page.fill("input[name=password]", "wrong password")
    page.click("button[type=submit]")
    assert "Wrong username or password" in page.inner_text("[role=alert]")
    login(page, server.url, "dana")
    assert page.locator("section.lane h2").all_inner_texts() == ["staging", "production"]  # staging → production
    assert page.locator("section.lane").nth(0).get_attribute("data-environment") == "staging"
    assert page.locator("section.lane").nth(1).get_attribute("data-environment") == "production"
    page.close()


def test_overview_shows_gate_in_progress_and_latest_deploys(browser, server):
    _deploy(server.url, "web", "production", 1, status="succeeded")
    _deploy(server.url, "api", "production", 2, status="succeeded", author="Fox Mulder")
    _deploy(server.url, "web", "staging", 3, status="started")
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    login(page, server.url, "dana")
    prod = page.locator("section.lane[data-environment=production]")
    assert "Open" in prod.locator(".gate").inner_text()
    rows = prod.locator("table.deploys tbody tr")
    assert rows.count() == 2
    assert rows.nth(0).locator("th").inner_text().startswith("web")  # config order, the same in every lane
    assert "Fox Mulder" in rows.nth(1).inner_text()
    assert sha(2)[:7] in rows.nth(1).inner_text()
    # every health badge carries a word, not only a colour
    assert all(t.strip() for t in prod.locator(".badge").all_inner_texts())
    staging = page.locator("section.lane[data-environment=staging]")
    assert "deploying" in staging.locator("[data-service=web]").inner_text()
    assert staging.locator("[data-service=web]").get_attribute("data-gate") == "closed"  # its deploy is in progress
    assert page.evaluate("document.documentElement.scrollWidth") <= 1400  # no sideways scroll on a laptop
    shot(page, "overview")
    page.close()


def test_a_lock_made_in_the_form_appears_live_in_another_page(browser, server):
    _deploy(server.url, "web", "production", 1, status="succeeded")
    watcher = browser.new_page(viewport={"width": 1400, "height": 900})
    login(watcher, server.url, "vic")  # a viewer watches
    watcher.wait_for_selector("#lanes[data-live-ready]")
    watcher.evaluate("window.notReloaded = true")
    assert watcher.locator("section.lane[data-environment=production] .gate").inner_text().startswith("● Open")

    actor = browser.new_page(viewport={"width": 1400, "height": 900})
    login(actor, server.url, "dana")
    actor.goto(f"{server.url}/locks")
    actor.select_option("select[name=environment]", "production")
    actor.fill("input[name=reason]", "Incident INC-7: checkout errors")
    actor.click("#lock-form button[type=submit]")
    actor.wait_for_url(re.compile(r"/locks\?created=\d+$"))
    assert actor.locator("#lock-created").inner_text().startswith("Locked production")  # confirmed
    assert "Incident INC-7" in actor.locator("table.locks").first.inner_text()

    prod = watcher.locator("section.lane[data-environment=production]")
    prod.locator(".banner-lock").wait_for(timeout=10_000)
    assert "Incident INC-7: checkout errors" in prod.locator(".banner-lock").inner_text()
    assert "dana" in prod.locator(".banner-lock").inner_text()
    assert "Locked" in prod.locator(".gate").inner_text()
    assert watcher.evaluate("window.notReloaded") is True  # live, not a reload
    assert watcher.locator("section.lane[data-environment=production] .banner-lock a.unlock").count() == 0  # viewers cannot unlock
    shot(watcher, "overview-locked")

    # and the gate really is closed for CI
    gate = httpx.get(f"{server.url}/api/v1/gate", params={"environment": "production"}, headers=AUTH).json()
    assert gate["allowed"] is False and gate["blockers"][0]["reason"] == "Incident INC-7: checkout errors"

    # unlock from the overview banner; the watcher sees it open again
    actor.goto(f"{server.url}/")
    actor.get_by_role("link", name=re.compile("^Unlock")).first.click()
    actor.fill("textarea[name=note]", "checkout fixed")  # the confirmation step, with a note
    actor.get_by_role("button", name=re.compile("^Unlock")).click()
    actor.wait_for_url(f"{server.url}/")
    watcher.locator("section.lane[data-environment=production] .banner-lock").wait_for(state="detached", timeout=10_000)
    assert "Open" in prod.locator(".gate").inner_text()
    watcher.close()
    actor.close()


def test_a_hostile_lock_reason_and_author_are_shown_as_text(browser, server):
    _deploy(server.url, "web", "production", 1, status="succeeded", author=HOSTILE)
    r = httpx.post(f"{server.url}/api/v1/locks", json={"environment": "production", "reason": HOSTILE}, headers=AUTH)
    assert r.status_code == 201
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    dialogs = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    login(page, server.url, "dana")
    banner = page.locator("section.lane[data-environment=production] .banner-lock .reason")
    assert banner.inner_text() == HOSTILE
    assert HOSTILE in page.locator("table.deploys").inner_text()
    for path in ("/", "/locks", f"/deploys/{r.json()['id'] and 1}"):
        page.goto(f"{server.url}{path}")
        assert page.evaluate("window.pwned") is None
        assert page.locator("main img").count() == 0 and page.locator("main script").count() == 0
    assert dialogs == []
    page.close()


def test_deploy_page_shows_changes_and_the_impact_chart(browser, server, db):
    # A deploy registered after the fact, with pushed samples around it: the worker judges it at once.
    now = clock.now().replace(microsecond=0)
    deployed = now - timedelta(hours=3)
    samples = [
        {"metric": "checkout_errors", "environment": "production", "service": "web",
         "at": (deployed + timedelta(minutes=5 * i)).isoformat(), "value": (2.0 if i < 0 else 9.0) + (i % 3) * 0.1}
        for i in range(-12, 12)
    ]
    r = httpx.post(f"{server.url}/api/v1/metrics", json={"samples": samples}, headers=AUTH)
    assert r.status_code in (200, 201, 202), r.text
    d = _deploy(
        server.url, "web", "production", 9, status="succeeded",
        started_at=(deployed - timedelta(minutes=2)).isoformat(), finished_at=deployed.isoformat(),
        commits=[{"revision": sha(90), "message": "PROJ-12 Fix checkout <b>rounding</b> (#41)", "author": {"name": "Dana"}}],
    )
    page = browser.new_page(viewport={"width": 1400, "height": 1000}, timezone_id="Europe/Berlin")
    login(page, server.url, "dana")
    page.goto(f"{server.url}/deploys/{d['id']}")
    assert "PROJ-12" in page.locator("#h-changes + *").inner_text() or "PROJ-12" in page.inner_text("main")
    assert "Fix checkout <b>rounding</b> (#41)" in page.inner_text(".commits")
    # the worker judges it within a few seconds
    for _ in range(40):
        if page.locator("figure.metric svg").count():
            break
        page.wait_for_timeout(250)
        page.reload()
    svg = page.locator("figure.metric svg").first
    assert svg.get_attribute("role") == "img"
    assert page.locator("figure.metric .marker").count() >= 1
    assert page.locator("figure.metric .baseline").count() >= 1 and page.locator("figure.metric .current").count() >= 1
    assert page.locator("figure.metric .no-data").count() == 0  # the series were stored with the verdict
    assert "unhealthy" in page.locator("figure.metric figcaption").first.inner_text()
    # one plain sentence; the statistics wait behind "details"
    sentence = page.locator("figure.metric .sentence").first.inner_text()
    assert re.match(r"checkout_errors \+\d+% since the deploy \(9\.\d+, was 2\.\d+\): clearly worse\.", sentence), sentence
    assert not page.locator("figure.metric details.stats p").first.is_visible()
    page.locator("figure.metric details.stats summary").first.click()
    assert page.locator("figure.metric details.stats p").first.is_visible()
    # the healthy band is in the legend, and the time axis speaks the page's zone (Berlin: CET or CEST)
    assert "healthy range" in svg.locator(".legend").all_text_contents()
    assert re.search(r" CES?T$", svg.locator("text.tick.x").last.text_content())
    # readable on a phone: the narrow chart is drawn at about its own size, so its text is not shrunk
    page.set_viewport_size({"width": 390, "height": 844})
    narrow = page.locator("figure.metric .chart-narrow svg").first
    assert narrow.is_visible() and not svg.is_visible()
    assert narrow.bounding_box()["width"] >= 0.9 * float(narrow.get_attribute("viewBox").split()[2])
    page.set_viewport_size({"width": 1400, "height": 1000})
    shot(page, "deploy")
    # a deployer overrides the verdict, with a note; it is recorded
    page.fill(".verdict-form input[name=note]", "known noisy metric")
    page.click(".verdict-form button[value=healthy]")
    page.wait_for_url(f"{server.url}/deploys/{d['id']}")
    assert "set healthy by dana: known noisy metric" in page.inner_text(".verdict")
    page.close()


def test_phone_viewport_has_no_sideways_scroll(browser, server):
    for i, svc in enumerate(("web", "api")):
        _deploy(server.url, svc, "production", 20 + i, status="succeeded")
    httpx.post(f"{server.url}/api/v1/locks", json={"environment": "production", "reason": "Release train boarding " * 4}, headers=AUTH)
    page = browser.new_page(viewport={"width": 390, "height": 844}, is_mobile=True, device_scale_factor=2)
    login(page, server.url, "dana")
    for path, name in (("/", "phone-overview"), ("/locks", "phone-locks"), ("/dora", "phone-dora")):
        page.goto(f"{server.url}{path}")
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"{path} is {width}px wide on a 390px phone"
        shot(page, name)
    page.close()


def _contrast(a, b) -> float:
    def luminance(rgb):
        def channel(c):
            c = c / 255
            return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4
        r, g, b_ = (channel(c) for c in rgb)
        return 0.2126 * r + 0.7152 * g + 0.0722 * b_
    hi, lo = sorted((luminance(a), luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def test_keyboard_focus_is_visible(browser, server):
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    login(page, server.url, "dana")
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline not in ("none", ""), outline
    # the ring has at least 3:1 contrast against the page and the cards (WCAG 2.2, 1.4.11)
    page.goto(f"{server.url}/locks")
    page.focus("#lock-form select[name=environment]")
    colour = page.evaluate("getComputedStyle(document.activeElement).outlineColor")
    rgb = [int(c) for c in re.findall(r"\d+", colour)[:3]]
    for background in ((255, 255, 255), (246, 247, 249)):
        assert _contrast(rgb, background) >= 3.0, (colour, background)
    page.close()


def test_a_lock_through_another_server_process_appears_live(browser, pg_url, config_file):
    """PostgreSQL: two server processes; the page served by one hears of a lock taken through the other."""
    from tests.conftest import migrated, wipe

    db = migrated(pg_url)
    wipe(db)
    with db.write() as conn:
        from shiplane.auth import service as auth_service

        auth_service.create_token(conn, "bob", "deployer", clock.now(), token=BOB)
        auth_service.create_user(conn, "vic", "viewer", PASSWORD, clock.now())
    with LiveServer(pg_url, config=config_file) as a, LiveServer(pg_url, config=config_file) as b:
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        login(page, a.url, "vic")
        page.wait_for_selector("#lanes[data-live-ready]")
        r = httpx.post(f"{b.url}/api/v1/locks", json={"environment": "production", "reason": "Locked via process B"}, headers=AUTH)
        assert r.status_code == 201
        banner = page.locator("section.lane[data-environment=production] .banner-lock")
        banner.wait_for(timeout=10_000)
        assert "Locked via process B" in banner.inner_text()
        page.close()
