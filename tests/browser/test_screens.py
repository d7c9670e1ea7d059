"""Unlocking with a note, a healthy verdict ending an auto-lock, the phone layout, focus during live updates, axe-core."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest

from shiplane import clock
from shiplane.locks import service as locks_service
from tests.browser.conftest import login, shot
from tests.conftest import BOB, sha
from tests.integration.live import LiveServer

pytestmark = pytest.mark.slow
AUTH = {"Authorization": f"Bearer {BOB}"}
AXE = Path(__file__).resolve().parents[2] / ".cache" / "axe" / "node_modules" / "axe-core" / "axe.min.js"
LONG_REASON = ("Checkout errors after the payment provider's certificate rotation; " * 15)[:960] + " " + "x" * 39


@pytest.fixture
def server(db, db_url, config_file, users):
    with LiveServer(db_url, config=config_file) as s:
        yield s


def _post(base: str, path: str, body: dict) -> dict:
    r = httpx.post(f"{base}{path}", json=body, headers=AUTH)
    assert r.status_code in (200, 201), r.text
    return r.json()


def _lock(base: str, lock_id: int) -> dict:
    items = httpx.get(f"{base}/api/v1/locks", params={"limit": 100}, headers=AUTH).json()["items"]
    return next(lk for lk in items if lk["id"] == lock_id)


def test_unlock_asks_for_confirmation_and_keeps_the_note(browser, server):
    lock = _post(server.url, "/api/v1/locks", {"environment": "production", "reason": "release train"})
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    dialogs = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    login(page, server.url, "dana")
    page.goto(f"{server.url}/locks")
    page.get_by_role("link", name=re.compile("^Unlock")).first.click()
    page.wait_for_url(re.compile(rf"/locks/{lock['id']}/unlock"))
    assert _lock(server.url, lock["id"])["active"]  # nothing ended yet: this is the confirmation step
    note = page.locator("[name=note]")
    assert note.count() == 1 and page.get_by_label(re.compile("^Note")).count() == 1
    note.fill("train left; all clear")
    page.get_by_role("button", name=re.compile("^Unlock")).click()
    page.wait_for_url(f"{server.url}/locks")
    ended = _lock(server.url, lock["id"])
    assert not ended["active"] and ended["end_note"] == "train left; all clear" and ended["ended_by"] == "dana"
    assert dialogs == []  # no JavaScript prompt
    page.close()


def test_a_persons_healthy_verdict_ends_the_auto_lock_the_deploy_caused(browser, server, db):
    bad = _post(server.url, "/api/v1/deploys", {"service": "web", "environment": "production", "sha": sha(1)})
    with db.write() as conn:
        auto = locks_service.create_auto(
            conn, environment="production", service=None, reason=f"web #{bad['id']}: checkout_errors +340% since deploy",
            deploy_id=bad["id"], now=clock.now(),
        )
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    login(page, server.url, "dana")
    banner = page.locator("[data-environment=production] .banner-lock")
    assert "Locked automatically" in banner.inner_text() and "clears when" in banner.inner_text()
    banner.get_by_role("link", name=f"deploy #{bad['id']}").click()
    page.wait_for_url(f"{server.url}/deploys/{bad['id']}")
    assert page.locator("[data-locked-by-deploy]").inner_text().startswith("This deploy locked production at")
    page.get_by_role("button", name="Mark healthy").click()
    page.wait_for_url(f"{server.url}/deploys/{bad['id']}")
    ended = _lock(server.url, auto["id"])
    assert not ended["active"] and ended["ended_by"] == "dana"
    events = httpx.get(f"{server.url}/api/v1/events", params={"kind": "lock_ended"}, headers=AUTH).json()["items"]
    assert [e["actor"] for e in events] == ["dana"]
    assert httpx.get(f"{server.url}/api/v1/gate", params={"environment": "production"}, headers=AUTH).json()["allowed"]
    page.close()


def test_phone_layout_puts_production_first_and_clamps_a_long_reason(browser, server):
    for n, env in enumerate(("staging", "production")):
        _post(server.url, "/api/v1/deploys", {"service": "web", "environment": env, "sha": sha(n + 1)})
    _post(server.url, "/api/v1/locks", {"environment": "production", "reason": LONG_REASON})
    assert len(LONG_REASON) == 1000
    page = browser.new_page(viewport={"width": 390, "height": 844}, is_mobile=True)
    login(page, server.url, "dana")
    for path in ("/", "/locks", "/services", "/deploys"):
        page.goto(f"{server.url}{path}")
        assert page.evaluate("document.documentElement.scrollWidth") <= 390, path  # no sideways scroll
    page.goto(f"{server.url}/")
    prod = page.locator("[data-environment=production]").bounding_box()
    staging = page.locator("[data-environment=staging]").bounding_box()
    assert prod["y"] < staging["y"] and prod["y"] < 844  # production on the first screen
    reason = page.locator("[data-environment=production] .banner-lock .reason")
    assert reason.bounding_box()["height"] < 100  # clamped to a few lines
    page.locator("[data-environment=production] .more-toggle").click()
    assert reason.bounding_box()["height"] > 200 and reason.text_content() == LONG_REASON
    shot(page, "phone-overview")
    page.goto(f"{server.url}/locks")
    labels = page.locator("table.locks td[data-label]").evaluate_all(
        "tds => tds.map(td => getComputedStyle(td, '::before').content)"
    )
    assert any("Since" in c for c in labels) and any("Until" in c for c in labels)  # stacked rows keep their labels
    shot(page, "phone-locks")
    page.close()


def test_live_updates_keep_focus_and_announce_only_the_change(browser, server):
    _post(server.url, "/api/v1/deploys", {"service": "web", "environment": "production", "sha": sha(1)})
    _post(server.url, "/api/v1/deploys", {"service": "api", "environment": "staging", "sha": sha(2)})
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    login(page, server.url, "vic")
    page.wait_for_selector("#lanes[data-live-ready]")
    link = page.locator("[data-environment=production] [data-service=web] th a").first
    link.focus()
    before = page.get_attribute("#lanes", "data-refreshed")
    _post(server.url, "/api/v1/locks", {"environment": "staging", "reason": "staging rebuild"})
    for _ in range(100):  # the page's CSP forbids wait_for_function's eval: poll from here
        if page.get_attribute("#lanes", "data-refreshed") != before:
            break
        page.wait_for_timeout(100)
    assert page.get_attribute("#lanes", "data-refreshed") != before
    assert page.evaluate("document.activeElement.closest('[data-service]')?.getAttribute('data-service')") == "web"
    assert page.evaluate("document.activeElement.getAttribute('href')") == link.get_attribute("href")
    said = page.inner_text("#announce")
    assert "staging" in said and "production" not in said
    assert page.locator("[aria-live]").count() == 1  # one small polite region, not the lanes
    page.close()


def _axe(page) -> list[dict]:
    page.add_script_tag(path=str(AXE))
    result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    return [
        {"id": v["id"], "impact": v["impact"], "nodes": [n["target"] for n in v["nodes"]][:3]}
        for v in result["violations"] if v["impact"] in ("serious", "critical")
    ]


def test_axe_finds_no_serious_or_critical_violation_on_any_page(browser, server):
    assert AXE.exists(), "run `make services` (scripts/axe-core.sh installs axe-core)"
    d = _post(server.url, "/api/v1/deploys", {"service": "web", "environment": "production", "sha": sha(1), "version": "1.2.0"})
    _post(server.url, "/api/v1/deploys", {"service": "api", "environment": "staging", "sha": sha(2), "status": "started"})
    lock = _post(server.url, "/api/v1/locks", {"environment": "staging", "service": "api", "reason": "schema change"})
    # Playwright injects axe through the page's CSP (script-src 'self') only with bypass_csp.
    context = browser.new_context(viewport={"width": 1400, "height": 900}, bypass_csp=True)
    page = context.new_page()
    pages = [
        "/login", "/", "/?ask_service=web&ask_environment=production", "/?environment=production", "/services",
        "/deploys", "/deploys?service=web&environment=production", f"/deploys/{d['id']}", "/locks",
        f"/locks/{lock['id']}/unlock", "/dora",
    ]
    found = {}
    page.goto(f"{server.url}/login")
    found["/login"] = _axe(page)
    login(page, server.url, "dana")
    titles = set()
    for path in pages[1:]:
        page.goto(f"{server.url}{path}")
        titles.add(page.title())
        found[path] = _axe(page)
    assert {p: v for p, v in found.items() if v} == {}
    assert len(titles) >= len(pages) - 3  # distinct titles (the overview with a question keeps its own)
    context.close()
