"""Single sign-on over HTTP against an in-process provider (an httpx transport at the outbound seam)
that signs real ID tokens: the callback's checks, refusals, local_login, and a provider that is down.
The browser test against a real provider is tests/browser/test_sso.py."""

from __future__ import annotations

import json
import logging
import re
import time
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest
from fastapi.testclient import TestClient
from joserfc import jwt
from joserfc.jwk import RSAKey

from shiplane import clock
from shiplane.app import create_app
from shiplane.auth import oidc
from shiplane.auth import service as auth_service
from shiplane.settings import Config, Settings
from shiplane.settings.auth import OidcConfig
from tests.conftest import make_settings

ISSUER = "https://id.example.com"
PASSWORD = "correct horse battery"
KEY = RSAKey.generate_key(2048, parameters={"kid": "k1"})


class FakeProvider:
    """Discovery, token, JWKS and userinfo endpoints; the claims and the nonce it signs are settable."""

    def __init__(self) -> None:
        self.claims: dict = {"sub": "u1", "email": "alice@example.com", "groups": ["deployers", "admins"]}
        self.nonce: str | None = None  # None: the one the authorization request carried
        self.issuer = ISSUER
        self.seen_nonce = ""
        self.token_requests: list[dict] = []
        self.down = False

    def handle(self, request: httpx.Request) -> httpx.Response:
        if self.down:
            raise httpx.ConnectError("connection refused", request=request)
        path = request.url.path
        if path == "/.well-known/openid-configuration":
            return httpx.Response(200, json={
                "issuer": self.issuer, "authorization_endpoint": f"{ISSUER}/auth", "token_endpoint": f"{ISSUER}/token",
                "jwks_uri": f"{ISSUER}/jwks", "userinfo_endpoint": f"{ISSUER}/me",
            })
        if path == "/token":
            form = dict(parse_qsl(request.content.decode()))
            self.token_requests.append(form | {"authorization": request.headers.get("authorization", "")})
            now = int(time.time())
            claims = {"iss": ISSUER, "aud": "shiplane", "sub": self.claims["sub"], "iat": now, "exp": now + 300,
                      "nonce": self.nonce if self.nonce is not None else self.seen_nonce}
            token = jwt.encode({"alg": "RS256", "kid": "k1"}, claims, KEY)
            return httpx.Response(200, json={"id_token": token, "access_token": "at-1", "token_type": "Bearer"})
        if path == "/jwks":
            return httpx.Response(200, json={"keys": [KEY.as_dict(private=False)]})
        if path == "/me":
            return httpx.Response(200, json=self.claims)
        return httpx.Response(404)


def oidc_config(**extra) -> dict:
    return {"issuer": ISSUER, "client_id": "shiplane", "client_secret": "s3cret", "role_claim": "groups",
            "role_map": {"deployers": "deployer", "admins": "admin"}} | extra


@pytest.fixture
def provider():
    return FakeProvider()


def make_client(db, db_url, provider, **auth) -> TestClient:
    config = Config.model_validate({"server": {"public_url": "http://testserver"}, "auth": auth or {"oidc": oidc_config()}})
    app = create_app(make_settings(db_url, config), db=db, worker=False, source_transport=httpx.MockTransport(provider.handle))
    return TestClient(app)


def begin(client: TestClient, provider: FakeProvider) -> dict:
    r = client.get("/login/oidc?next=/locks", follow_redirects=False)
    assert r.status_code == 303, r.text
    query = dict(parse_qsl(urlsplit(r.headers["location"]).query))
    provider.seen_nonce = query["nonce"]
    return query


def test_it_signs_in_with_the_highest_mapped_role_using_pkce(db, db_url, provider):
    with make_client(db, db_url, provider) as client:
        query = begin(client, provider)
        assert query["code_challenge_method"] == "S256" and query["redirect_uri"] == "http://testserver/login/oidc/callback"
        r = client.get(f"/login/oidc/callback?code=c1&state={query['state']}", follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == "/locks"
        sent = provider.token_requests[0]
        assert sent["code"] == "c1" and len(sent["code_verifier"]) >= 43 and sent["authorization"].startswith("Basic ")
        assert client.get("/", follow_redirects=False).status_code == 200
    with db.read() as conn:
        assert auth_service.user_credentials(conn, "alice@example.com").role == "admin"


def test_a_wrong_nonce_gives_400_and_no_session(db, db_url, provider):
    provider.nonce = "not-the-one-we-sent"
    with make_client(db, db_url, provider) as client:
        query = begin(client, provider)
        r = client.get(f"/login/oidc/callback?code=c1&state={query['state']}", follow_redirects=False)
        assert r.status_code == 400 and "ID token was refused" in r.text and "nonce" in r.text
        assert "shiplane_session" not in r.headers.get("set-cookie", "")
        assert client.get("/", follow_redirects=False).status_code == 303


@pytest.mark.parametrize("state", [None, "guessed"])
def test_a_missing_or_wrong_state_gives_400_and_no_session(db, db_url, provider, state):
    with make_client(db, db_url, provider) as client:
        begin(client, provider)
        r = client.get("/login/oidc/callback?code=c1" + (f"&state={state}" if state else ""), follow_redirects=False)
        assert r.status_code == 400 and "state is missing or does not match" in r.text
        assert provider.token_requests == []  # the code was never traded
        assert client.get("/", follow_redirects=False).status_code == 303


def test_a_claim_that_maps_to_nothing_is_refused_with_a_message(db, db_url, provider):
    provider.claims["groups"] = "contractors"
    with make_client(db, db_url, provider) as client:
        query = begin(client, provider)
        r = client.get(f"/login/oidc/callback?code=c1&state={query['state']}", follow_redirects=False)
        assert r.status_code == 403 and "groups (contractors) maps to no Shiplane role" in r.text


def test_a_local_user_of_the_same_name_is_not_taken_over(db, db_url, provider):
    with db.write() as conn:
        auth_service.create_user(conn, "alice@example.com", "viewer", PASSWORD, clock.now())
    with make_client(db, db_url, provider) as client:
        query = begin(client, provider)
        r = client.get(f"/login/oidc/callback?code=c1&state={query['state']}", follow_redirects=False)
        assert r.status_code == 403 and "local user" in r.text


def test_local_login_can_be_turned_off(db, db_url, provider):
    with db.write() as conn:
        auth_service.create_user(conn, "dana", "deployer", PASSWORD, clock.now())
    with make_client(db, db_url, provider, local_login=False, oidc=oidc_config(name="Example ID")) as client:
        page = client.get("/login")
        assert "Sign in with Example ID" in page.text and 'name="password"' not in page.text
        token = client.cookies.get("shiplane_login_csrf")  # a valid form, posted by hand
        r = client.post("/login", data={"username": "dana", "password": PASSWORD, "csrf": token}, follow_redirects=False)
        assert r.status_code == 403 and "Local passwords are turned off" in r.text
        assert client.get("/", follow_redirects=False).status_code == 303


def test_a_provider_that_is_down_is_logged_and_local_login_keeps_working(db, db_url, provider, caplog):
    provider.down = True
    with db.write() as conn:
        auth_service.create_user(conn, "dana", "deployer", PASSWORD, clock.now())
    with caplog.at_level(logging.ERROR, logger="shiplane.sso"), make_client(db, db_url, provider) as client:
        page = client.get("/login")
        assert "Sign in with single sign-on" in page.text and 'name="password"' in page.text
        token = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
        r = client.post("/login", data={"username": "dana", "password": PASSWORD, "csrf": token}, follow_redirects=False)
        assert r.status_code == 303
        r = client.get("/login/oidc", follow_redirects=False)
        assert r.status_code == 503 and "unavailable" in r.text
    assert any("OpenID Connect discovery" in m for m in caplog.messages)


def test_config_check_online_names_a_wrong_issuer(provider):
    import anyio

    provider.issuer = "https://someone-else.example.com"
    settings = Settings(config=Config.model_validate({"auth": {"oidc": oidc_config()}}))
    found = anyio.run(lambda: oidc.online_problems(settings, transport=httpx.MockTransport(provider.handle)))
    assert found == [f"auth.oidc.issuer: {ISSUER}/.well-known/openid-configuration names the issuer "
                     f"'https://someone-else.example.com', not the configured '{ISSUER}'"]


@pytest.mark.parametrize(
    "claims,extra,role,reason",
    [
        ({"sub": "a", "email": "a@example.com", "groups": ["deployers", "admins"]}, {}, "admin", ""),
        ({"sub": "a", "email": "a@example.com", "groups": "deployers"}, {}, "deployer", ""),
        ({"sub": "a", "email": "a@example.com", "groups": ["nobody"]}, {"default_role": "viewer"}, "viewer", ""),
        ({"sub": "a", "email": "a@example.com"}, {}, None, "your account has no groups claim, and there is no default role"),
        ({"sub": "a", "email": "a@other.org", "groups": ["admins"]}, {"allowed_domains": ["Example.com"]}, None,
         "a@other.org is not in a domain allowed to sign in (example.com)"),
        ({"sub": "a", "email": "a@example.com", "email_verified": False, "groups": ["admins"]}, {"allowed_domains": ["example.com"]},
         None, "the provider has not verified the e-mail address a@example.com"),
        ({"sub": "a", "groups": ["admins"]}, {"allowed_domains": ["example.com"]}, None,
         "the provider gave no e-mail address, and only some domains may sign in"),
    ],
)
def test_decide_maps_claims_to_a_role_or_a_reason(claims, extra, role, reason):
    outcome = oidc.decide(claims, OidcConfig.model_validate(oidc_config(**extra)))
    assert (outcome.role, outcome.reason) == (role, reason)


def test_the_config_refuses_local_login_off_without_sso():
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="nobody could log in"):
        Config.model_validate({"auth": {"local_login": False}})
    assert json.loads(Config.model_validate({"auth": {"oidc": oidc_config()}}).model_dump_json())["auth"]["oidc"]["scopes"] == [
        "openid", "email", "profile"]
