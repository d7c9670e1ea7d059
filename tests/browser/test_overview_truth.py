"""The overview tells the truth: every row's data-gate and each lane's opening time agree with GET /api/v1/gate."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from shiplane import clock
from tests.browser.conftest import login, shot
from tests.conftest import BOB, sha
from tests.integration.live import LiveServer

pytestmark = pytest.mark.slow
AUTH = {"Authorization": f"Bearer {BOB}"}
SERVICES = ["web", "api", "worker", "batch", "cron"]


def _iso(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _hhmm(t: datetime) -> str:
    return t.strftime("%H:%M")


def _config(now: datetime) -> str:
    # A window for `api` alone that is closed now (an hour's window two hours from now, or
    # four hours ago when that would cross midnight); staging gets the same window and a freeze
    # over its next opening, so its real opening is the window a day later.
    start = now + timedelta(hours=2) if now.hour < 20 else now - timedelta(hours=4)
    end = start + timedelta(hours=1)
    freeze_end = now + timedelta(days=1, hours=6)  # past the next occurrence of the window, not the one after
    services = "".join(f'\n[[services]]\nslug = "{s}"\nname = "{s.capitalize()} app"\n' for s in SERVICES)
    return f"""
[server]
public_url = "http://shiplane.test"

[[environments]]
slug = "staging"

[[environments]]
slug = "production"
name = "Production (Gulf)"
production = true

[[environments]]
slug = "qa"
{services}
[[windows]]
environments = ["production"]
services = ["api"]
days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
start = "{_hhmm(start)}"
end = "{_hhmm(end)}"

[[windows]]
environments = ["staging"]
days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
start = "{_hhmm(start)}"
end = "{_hhmm(end)}"

[[freezes]]
environments = ["staging"]
start = "{_iso(now - timedelta(hours=1))}"
end = "{_iso(freeze_end)}"
reason = "Holiday: National Day"

[[freezes]]
environments = ["qa"]
start = "{_iso(now - timedelta(hours=1))}"
end = "{_iso(now + timedelta(days=1))}"
reason = "Holiday, day one"

[[freezes]]
environments = ["qa"]
start = "{_iso(now + timedelta(days=1))}"
end = "{_iso(now + timedelta(days=2))}"
reason = "Holiday, day two"
"""


@pytest.fixture
def server(db, db_url, tmp_path, users):
    path = tmp_path / "shiplane.toml"
    path.write_text(_config(clock.now()))
    with LiveServer(db_url, config=str(path)) as s:
        yield s


def _post(base: str, path: str, body: dict) -> dict:
    r = httpx.post(f"{base}{path}", json=body, headers=AUTH)
    assert r.status_code in (200, 201), r.text
    return r.json()


def _gate(base: str, environment: str, service: str | None = None) -> dict:
    params = {"environment": environment} | ({"service": service} if service else {})
    r = httpx.get(f"{base}/api/v1/gate", params=params, headers=AUTH)
    assert r.status_code == 200, r.text
    return r.json()


def _rows(page, environment: str) -> dict[str, str]:
    lane = page.locator(f"[data-environment={environment}]")
    return {
        row.get_attribute("data-service"): row.get_attribute("data-gate")
        for row in lane.locator("[data-service]").all()
    }


def _api_rows(base: str, environment: str) -> dict[str, str]:
    return {s: "open" if _gate(base, environment, s)["allowed"] else "closed" for s in SERVICES}


def test_every_row_agrees_with_the_gate_api_and_follows_a_live_change(browser, server):
    base = server.url
    for i, s in enumerate(SERVICES):
        _post(base, "/api/v1/deploys", {"service": s, "environment": "production", "sha": sha(i + 1), "status": "succeeded"})
    _post(base, "/api/v1/locks", {"environment": "production", "service": "worker", "reason": "DB migration for worker"})
    _post(base, "/api/v1/deploys", {"service": "web", "environment": "production", "sha": sha(20), "status": "started"})
    batch = _post(base, "/api/v1/deploys", {"service": "batch", "environment": "production", "sha": sha(21), "status": "succeeded"})
    _post(base, f"/api/v1/deploys/{batch['id']}/health", {"state": "unhealthy", "note": "errors up"})

    expected = {"web": "closed", "api": "closed", "worker": "closed", "batch": "closed", "cron": "open"}
    assert _api_rows(base, "production") == expected  # the scenario is what we meant

    page = browser.new_page(viewport={"width": 1400, "height": 900})
    login(page, base, "vic")
    page.wait_for_selector("#lanes[data-live-ready]")
    assert _rows(page, "production") == _api_rows(base, "production")
    lane = page.locator("[data-environment=production]")
    # the environment is open, but not for every service, and the summary says so
    assert "Open · 1 of 5 services" in lane.locator(".gate").inner_text()
    assert "Production (Gulf)" in lane.locator("h2").inner_text() and "(production)" not in lane.locator("h2").inner_text()
    # the live deploy stays visible beside the one in progress
    web = lane.locator("[data-service=web]")
    assert sha(1)[:7] in web.inner_text() and sha(20)[:7] in web.inner_text() and "deploying" in web.inner_text()

    # a live change: lock cron through the API; the open page follows without a reload
    page.evaluate("window.notReloaded = true")
    _post(base, "/api/v1/locks", {"environment": "production", "service": "cron", "reason": "cron rewrite"})
    page.wait_for_selector("[data-environment=production] [data-service=cron][data-gate=closed]", timeout=10_000)
    assert page.evaluate("window.notReloaded") is True
    assert _rows(page, "production") == _api_rows(base, "production") == dict.fromkeys(SERVICES, "closed")
    assert "cron" in page.inner_text("#announce")  # the change, and only it, is announced
    shot(page, "overview-truth")
    page.close()


def test_lane_headline_is_the_gates_next_opening(browser, server):
    base = server.url
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    login(page, base, "vic")
    for env in ("staging", "qa"):
        gate = _gate(base, env)
        assert not gate["allowed"] and gate["next_change_at"]
        # the bug this guards against: a blocker's own end is not the opening
        assert all(b["until"] != gate["next_change_at"] for b in gate["blockers"]), gate
        headline = page.locator(f"[data-environment={env}] [data-headline]")
        assert headline.inner_text().startswith("Opens")
        shown = headline.locator("time").first.get_attribute("datetime")
        assert datetime.fromisoformat(shown) == datetime.fromisoformat(gate["next_change_at"])
        assert re.search(r"\(in [12] d( \d+ h)?\)", headline.inner_text()), headline.inner_text()  # relative, too
    # every instant in the page carries its offset
    for value in page.locator("time[datetime]").evaluate_all("els => els.map(e => e.getAttribute('datetime'))"):
        assert value.endswith("Z") or value[-6] in "+-", value
    # a lock without expiry: no scheduled opening
    _post(base, "/api/v1/locks", {"environment": "production", "reason": "incident"})
    page.reload()
    assert _gate(base, "production")["next_change_at"] is None
    assert "No scheduled opening" in page.locator("[data-environment=production] [data-headline]").inner_text()
    page.close()


def test_can_i_deploy_picker_answers_like_the_api(browser, server):
    base = server.url
    _post(base, "/api/v1/deploys", {"service": "api", "environment": "production", "sha": sha(1), "status": "succeeded"})
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    login(page, base, "vic")
    page.select_option("select[name=ask_service]", "api")
    page.select_option("select[name=ask_environment]", "production")
    page.click("text=Check now")
    answer = page.locator("#answer")
    gate = _gate(base, "production", "api")
    assert answer.get_attribute("data-answer") == ("open" if gate["allowed"] else "closed") == "closed"
    assert answer.inner_text().startswith("No: Api app may not deploy to Production (Gulf) now.")
    assert "outside deploy window" in answer.inner_text()
    shown = answer.locator("time").first.get_attribute("datetime")
    assert datetime.fromisoformat(shown) == datetime.fromisoformat(gate["next_change_at"])
    page.close()
