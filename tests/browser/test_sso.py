"""Single sign-on in a real browser (Chromium through Playwright) against a real OpenID provider:
the npm package oidc-provider, run with Node.js (scripts/oidc-provider.sh installs it; the accounts
and the client are in tests/browser/oidc_provider.mjs)."""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit

import httpx
import pytest
from sqlalchemy import select

from shiplane.tables.auth import users
from tests.conftest import ROOT
from tests.integration.live import LiveServer, free_port

pytestmark = pytest.mark.slow
PROVIDER_SCRIPT = Path(__file__).with_name("oidc_provider.mjs")
PACKAGE = ROOT / ".cache" / "oidc" / "node_modules" / "oidc-provider" / "package.json"


@pytest.fixture
def provider_port():
    if not PACKAGE.exists() or not shutil.which("node"):
        pytest.fail("oidc-provider is missing: run `make services` (scripts/oidc-provider.sh installs it)")
    return free_port()


@pytest.fixture
def sso(db, db_url, tmp_path, provider_port):
    """Shiplane (local login off) and the provider, each knowing the other's address."""
    issuer = f"http://127.0.0.1:{provider_port}"
    server = LiveServer(db_url)
    server.config = str(tmp_path / "shiplane.toml")
    Path(server.config).write_text(f"""
[server]
public_url = "{server.url}"

[[environments]]
slug = "production"
production = true

[auth]
local_login = false

[auth.oidc]
name = "Example ID"
issuer = "{issuer}"
client_id = "shiplane"
client_secret = "shiplane-test-secret"
scopes = ["openid", "email", "profile", "groups"]
role_claim = "groups"
role_map = {{ deployers = "deployer", admins = "admin" }}
allowed_domains = ["example.com"]
""")
    node = subprocess.Popen(["node", str(PROVIDER_SCRIPT), str(provider_port), f"{server.url}/login/oidc/callback"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{issuer}/.well-known/openid-configuration", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert node.poll() is None and time.monotonic() < deadline, node.stdout.read().decode()[-2000:]
            time.sleep(0.1)
        server.start(timeout=90)  # a busy 2-core machine
        try:
            yield server
        finally:
            server.stop()
    finally:
        node.terminate()
        node.wait(10)


def sign_in_at_provider(page, login: str) -> None:
    """oidc-provider's development login (any password), then its consent page."""
    page.wait_for_selector("input[name=login]")
    page.fill("input[name=login]", login)
    page.fill("input[name=password]", "any password")
    page.click("button[type=submit]")
    page.wait_for_load_state()
    if page.locator("input[name=prompt][value=consent]").count():
        page.click("button[type=submit]")


def test_a_first_login_creates_the_user_with_the_mapped_role_and_logout_ends_it(browser, sso, db):
    page = browser.new_page()
    page.goto(f"{sso.url}/")
    assert page.url.startswith(f"{sso.url}/login")
    assert page.locator("input[name=password]").count() == 0  # local_login = false
    page.click("text=Sign in with Example ID")
    sign_in_at_provider(page, "alice")
    page.wait_for_url(f"{sso.url}/")
    assert "alice@example.com" in page.inner_text("body")
    with db.read() as conn:
        row = conn.execute(select(users.c.role, users.c.password_hash).where(users.c.username == "alice@example.com")).one()
    assert row.role == "admin"  # groups ["deployers", "admins"]: the highest
    assert row.password_hash == "!sso"
    page.click("text=Log out")
    page.wait_for_url(re.compile(r".*/login$"))
    page.goto(f"{sso.url}/")
    assert page.url.startswith(f"{sso.url}/login")  # the session is gone
    page.close()


def test_a_user_whose_claim_maps_to_no_role_is_refused_with_the_reason(browser, sso, db):
    page = browser.new_page()
    page.goto(f"{sso.url}/login")
    page.click("text=Sign in with Example ID")
    with page.expect_response(re.compile(r".*/login/oidc/callback.*")) as answer:
        sign_in_at_provider(page, "mallory")
    assert answer.value.status == 403
    assert "Sign-in refused" in page.inner_text("h1")
    assert "groups (contractors) maps to no Shiplane role" in page.inner_text("[role=alert]")
    assert not [c for c in page.context.cookies() if c["name"] == "shiplane_session"]
    with db.read() as conn:
        assert conn.execute(select(users.c.id).where(users.c.username == "mallory@example.com")).first() is None
    page.close()
    # A user from a domain that is not allowed: refused too, whatever their groups.
    page = browser.new_page()  # a new browser context: not signed in at the provider
    page.goto(f"{sso.url}/login/oidc")
    sign_in_at_provider(page, "eve")
    page.wait_for_url(re.compile(r".*/login/oidc/callback.*"))
    assert "not in a domain allowed to sign in (example.com)" in page.inner_text("[role=alert]")
    page.close()


def test_a_tampered_state_is_refused_without_a_session(browser, sso):
    """The state Shiplane sent is changed on its way to the provider, which hands it back as given."""
    page = browser.new_page()
    start = page.request.get(f"{sso.url}/login/oidc", max_redirects=0)  # sets the login cookie in this browser
    assert start.status == 303
    url = urlsplit(start.headers["location"])
    query = dict(parse_qsl(url.query))
    assert query["code_challenge_method"] == "S256" and query["code_challenge"] and query["nonce"]
    tampered = url._replace(query=urlencode(query | {"state": query["state"][:-2] + "xx"})).geturl()
    page.goto(tampered)
    with page.expect_response(re.compile(r".*/login/oidc/callback.*")) as answer:
        sign_in_at_provider(page, "alice")
    assert answer.value.status == 400
    assert "Sign-in failed" in page.inner_text("h1")
    assert "state is missing or does not match" in page.inner_text("[role=alert]")
    assert not [c for c in page.context.cookies() if c["name"] == "shiplane_session"]
    page.goto(f"{sso.url}/")
    assert page.url.startswith(f"{sso.url}/login")
    page.close()
