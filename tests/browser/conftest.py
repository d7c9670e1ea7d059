"""Playwright driving Debian's Chromium (installed by scripts/test-services.sh) against a real server."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from shiplane import clock
from shiplane.auth import service as auth_service

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# Flags from the machine notes: no sandbox as root, and no background traffic to a network we do not have.
ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
]
ARTIFACTS = Path(os.environ.get("SHIPLANE_ARTIFACTS", Path(__file__).resolve().parents[2] / ".artifacts" / "screenshots"))
PASSWORD = "correct horse battery"

CONFIG = """
[server]
public_url = "http://shiplane.test"

[[environments]]
slug = "staging"

[[environments]]
slug = "production"
production = true

[[services]]
slug = "web"

[[services]]
slug = "api"

[[metrics]]
name = "checkout_errors"
source = "push"
environments = ["production"]
regression = "increase"
critical = true
"""


@pytest.fixture
def browser():
    # Per test, not per session: while Playwright's sync API is running it owns an event
    # loop in this thread, and every later test on this xdist worker that uses asyncio
    # (anyio.run, asyncio.run) would fail. Launching Chromium costs well under a second.
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium is missing at {CHROMIUM}: run `make services` (scripts/test-services.sh installs it)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


@pytest.fixture
def config_file(tmp_path) -> str:
    path = tmp_path / "shiplane.toml"
    path.write_text(CONFIG)
    return str(path)


@pytest.fixture
def users(db):
    with db.write() as conn:
        auth_service.create_user(conn, "dana", "deployer", PASSWORD, clock.now())
        auth_service.create_user(conn, "vic", "viewer", PASSWORD, clock.now())
    return {"deployer": "dana", "viewer": "vic"}


def shot(page, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def login(page, base: str, username: str, password: str = PASSWORD) -> None:
    page.goto(f"{base}/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/")
