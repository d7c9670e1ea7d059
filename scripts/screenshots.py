"""Refresh the README's dashboard screenshots (docs/screenshots/) from a demo server.

Starts `shiplane serve` on a throw-away SQLite file with a demo config (three
environments, a deploy window on production), registers deploys with commits and
pushed metrics through the API as CI would, locks staging, then photographs the
pages in Debian's Chromium. Run from the repository root after `make test` once:

    .venv/bin/python scripts/screenshots.py
"""

from __future__ import annotations

import random
import sys
import tempfile
from datetime import timedelta
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from shiplane import clock, migrate  # noqa: E402
from shiplane.auth import service as auth_service  # noqa: E402
from shiplane.db import Database  # noqa: E402
from tests.browser.conftest import ARGS, CHROMIUM  # noqa: E402
from tests.integration.live import LiveServer  # noqa: E402

OUT = ROOT / "docs" / "screenshots"
TOKEN = "demo-admin-token"
CONFIG = """
[server]
public_url = "http://127.0.0.1"

[[environments]]
slug = "staging"
[[environments]]
slug = "canary"
[[environments]]
slug = "production"
production = true

[[windows]]
environments = ["production"]
days = ["mon", "tue", "wed", "thu", "fri"]
start = "09:00"
end = "15:30"
timezone = "America/Los_Angeles"

[[metrics]]
name = "5xx rate"
source = "push"
environments = ["production", "canary"]
regression = "increase"
critical = true
"""
SERVICES = ["web", "api", "billing", "search", "worker"]
PEOPLE = ["Ana Lima", "Ben Ode", "Chen Wu", "Dana Scully", "Eli Park"]
MESSAGES = ["PROJ-{n} Speed up checkout totals (#{pr})", "Fix flaky retry in webhook sender (#{pr})",
            "PROJ-{n} Add audit trail to refunds", "Bump httpx to 0.28 (#{pr})"]


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="shiplane-demo-"))
    url = f"sqlite:///{work / 'demo.db'}"
    (work / "shiplane.toml").write_text(CONFIG)
    db = Database(url)
    migrate.upgrade(db.engine)
    with db.write() as conn:
        auth_service.create_token(conn, "demo", "admin", clock.now(), token=TOKEN)
        auth_service.create_user(conn, "dana", "deployer", "demo password", clock.now())
    rnd = random.Random(3)
    with LiveServer(url, config=str(work / "shiplane.toml")) as server:
        api = httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {TOKEN}"})
        now = clock.now().replace(microsecond=0)
        n = 0
        for env, age_h in (("staging", 1), ("canary", 2), ("production", 3)):
            for i, svc in enumerate(SERVICES):
                n += 1
                at = now - timedelta(hours=age_h, minutes=37 * i)
                bad = env == "production" and svc == "billing"
                samples = [{"metric": "5xx rate", "environment": env, "service": svc,
                            "at": (at + timedelta(minutes=5 * k)).isoformat(),
                            "value": (rnd.uniform(0.8, 1.2) if k < 0 or not bad else rnd.uniform(3.5, 4.5))}
                           for k in range(-12, 12)]
                api.post("/api/v1/metrics", json={"samples": samples}).raise_for_status()
                commits = [{"revision": f"{rnd.getrandbits(160):040x}", "author": {"name": rnd.choice(PEOPLE)},
                            "message": rnd.choice(MESSAGES).format(n=100 + rnd.randint(1, 99), pr=400 + rnd.randint(1, 99))}
                           for _ in range(rnd.randint(1, 6))]
                api.post("/api/v1/deploys", json={
                    "service": svc, "environment": env, "sha": f"{rnd.getrandbits(160):040x}",
                    "author": rnd.choice(PEOPLE), "started_at": (at - timedelta(minutes=4)).isoformat(),
                    "finished_at": at.isoformat(), "commits": commits, "override_reason": "demo data",
                }).raise_for_status()
        api.post("/api/v1/deploys", json={"service": "api", "environment": "staging", "sha": "ab" * 20,
                                          "status": "started", "author": "Eli Park"}).raise_for_status()
        api.post("/api/v1/locks", json={"environment": "staging", "reason": "QA sign-off for release 2026.48 in progress"}).raise_for_status()

        from playwright.sync_api import sync_playwright

        OUT.mkdir(parents=True, exist_ok=True)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.goto(f"{server.url}/login")
            page.fill("input[name=username]", "dana")
            page.fill("input[name=password]", "demo password")
            page.click("button[type=submit]")
            page.wait_for_url(f"{server.url}/")
            for _ in range(40):  # the worker judges the after-the-fact deploys within seconds
                page.reload()
                if "unhealthy" in page.inner_text("#lanes"):
                    break
                page.wait_for_timeout(250)
            page.screenshot(path=str(OUT / "overview.png"), full_page=True)
            bad_id = api.get("/api/v1/deploys", params={"service": "billing", "environment": "production"}).json()["items"][0]["id"]
            page.goto(f"{server.url}/deploys/{bad_id}")
            page.screenshot(path=str(OUT / "deploy.png"), full_page=True)
            page.goto(f"{server.url}/locks")
            page.screenshot(path=str(OUT / "locks.png"), full_page=True)
            page.goto(f"{server.url}/services")
            page.screenshot(path=str(OUT / "services.png"), full_page=True)
            phone = browser.new_page(viewport={"width": 390, "height": 844}, is_mobile=True, device_scale_factor=2)
            phone.context.add_cookies(page.context.cookies())
            phone.goto(f"{server.url}/")
            phone.screenshot(path=str(OUT / "phone-overview.png"), full_page=False)
            browser.close()
    print(f"wrote {', '.join(sorted(p.name for p in OUT.glob('*.png')))} to {OUT}")


if __name__ == "__main__":
    main()
