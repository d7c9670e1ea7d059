"""Single sign-on with OpenID Connect (SPEC §8.6): the authorization code flow with PKCE, a state
and a nonce, through Authlib's OAuth 2.0 helpers and joserfc (Authlib's JOSE library) for the ID
token. All HTTP goes through ``shiplane.http``.

- ``decide`` is pure: claims and the config in, a role (or the reason for refusing) out.
- ``Provider`` talks to the provider: discovery (cached once it succeeded), the authorization URL,
  and ``finish``, which trades the code for tokens, verifies the ID token (signature from the
  provider's JWKS, issuer, audience, expiry, nonce) and adds the userinfo claims.

The state, nonce and PKCE verifier of a login in progress travel in an HttpOnly cookie (see
``web.sso``): random values the callback compares, so no server-side store or secret is needed.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx
from authlib.oauth2.rfc6749.parameters import prepare_grant_uri, prepare_token_request
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from shiplane import http
from shiplane.auth.service import ROLES
from shiplane.settings import Settings
from shiplane.settings.auth import OidcConfig

CALLBACK = "/login/oidc/callback"
LEEWAY = 60  # seconds of clock difference allowed on the ID token's exp and iat


class LoginFailed(Exception):
    """The login cannot go on: ``status`` 400 (a bad or replayed callback) or 502/503 (the provider)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Outcome:
    username: str
    role: str | None  # None: refused
    reason: str = ""


def _as_list(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, (list, tuple)):
        return [str(v) for v in value if isinstance(v, (str, int))]
    return []


def decide(claims: Mapping[str, Any], cfg: OidcConfig) -> Outcome:
    """Pure: who this is, and the role the claims map to (a list: the highest), or why not."""
    email = claims.get("email") if isinstance(claims.get("email"), str) else None
    username = str(email or claims.get("preferred_username") or claims.get("sub") or "")[:150]
    if not username:
        return Outcome("", None, "the provider named no user (no sub claim)")
    if cfg.allowed_domains:
        domain = email.rsplit("@", 1)[-1].lower() if email and "@" in email else None
        if domain is None:
            return Outcome(username, None, "the provider gave no e-mail address, and only some domains may sign in")
        if claims.get("email_verified") is False:
            return Outcome(username, None, f"the provider has not verified the e-mail address {email}")
        if domain not in cfg.allowed_domains:
            return Outcome(username, None, f"{email} is not in a domain allowed to sign in ({', '.join(cfg.allowed_domains)})")
    values = _as_list(claims.get(cfg.role_claim))
    mapped = [cfg.role_map[v] for v in values if v in cfg.role_map]
    if mapped:
        return Outcome(username, max(mapped, key=ROLES.index))
    if cfg.default_role is not None:
        return Outcome(username, cfg.default_role)
    if values:
        return Outcome(username, None, f"your {cfg.role_claim} ({', '.join(values)}) maps to no Shiplane role")
    return Outcome(username, None, f"your account has no {cfg.role_claim} claim, and there is no default role")


@dataclass(frozen=True)
class Pending:
    """A login in progress: what the callback must see again."""

    state: str
    nonce: str
    verifier: str
    next: str


class Provider:
    def __init__(self, cfg: OidcConfig, public_url: str, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.cfg = cfg
        self.redirect_uri = public_url.rstrip("/") + CALLBACK
        self.transport = transport
        self._metadata: dict[str, Any] | None = None

    async def metadata(self) -> dict[str, Any]:
        """The discovery document, checked; kept once it was good (restart to re-read it)."""
        if self._metadata is not None:
            return self._metadata
        url = self.cfg.issuer + "/.well-known/openid-configuration"
        try:
            async with http.make_client(transport=self.transport) as client:
                doc = (await http.send(client, "GET", url, "OpenID Connect discovery")).json()
        except (http.TransientError, http.PermanentError, ValueError) as exc:
            raise LoginFailed(503, f"{self.cfg.name} is unavailable: {exc}") from exc
        if not isinstance(doc, dict) or doc.get("issuer", "").rstrip("/") != self.cfg.issuer:
            found = doc.get("issuer") if isinstance(doc, dict) else None
            raise LoginFailed(503, f"{url} names the issuer {found!r}, not the configured {self.cfg.issuer!r}")
        missing = [k for k in ("authorization_endpoint", "token_endpoint", "jwks_uri") if not doc.get(k)]
        if missing:
            raise LoginFailed(503, f"{url} has no {', '.join(missing)}")
        self._metadata = doc
        return doc

    async def start(self, next_path: str) -> tuple[str, Pending]:
        """The provider's authorization URL for a new login, and what the callback must check."""
        doc = await self.metadata()
        pending = Pending(secrets.token_urlsafe(24), secrets.token_urlsafe(24), secrets.token_urlsafe(48), next_path)
        url = prepare_grant_uri(
            doc["authorization_endpoint"], self.cfg.client_id, "code", redirect_uri=self.redirect_uri,
            scope=" ".join(self.cfg.scopes), state=pending.state, nonce=pending.nonce,
            code_challenge=create_s256_code_challenge(pending.verifier), code_challenge_method="S256",
        )
        return url, pending

    async def finish(self, code: str, pending: Pending) -> dict[str, Any]:
        """Trade the code for tokens; the verified ID token's claims, with userinfo's added."""
        doc = await self.metadata()
        secret = self.cfg.client_secret.get_secret_value() if self.cfg.client_secret else None
        auth = (self.cfg.client_id, secret) if secret else None  # client_secret_basic; a public client names itself
        body = prepare_token_request(
            "authorization_code", code=code, redirect_uri=self.redirect_uri, code_verifier=pending.verifier,
            **({} if auth else {"client_id": self.cfg.client_id}),
        )
        headers = {"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"}
        try:
            async with http.make_client(transport=self.transport) as client:
                tokens = (await http.send(client, "POST", doc["token_endpoint"], "the token endpoint",
                                          content=body, headers=headers, auth=auth)).json()
                keys = (await http.send(client, "GET", doc["jwks_uri"], "the provider's keys")).json()
                claims = self._verify(tokens.get("id_token"), keys, pending.nonce)
                if doc.get("userinfo_endpoint") and tokens.get("access_token"):
                    info = (await http.send(client, "GET", doc["userinfo_endpoint"], "userinfo",
                                            headers={"Authorization": f"Bearer {tokens['access_token']}"})).json()
                    if isinstance(info, dict) and info.get("sub") == claims.get("sub"):
                        claims = {**info, **claims}
        except http.PermanentError as exc:
            raise LoginFailed(400, f"{self.cfg.name} refused the login: {exc}") from exc
        except (http.TransientError, ValueError) as exc:
            raise LoginFailed(502, f"{self.cfg.name} did not answer: {exc}") from exc
        return claims

    def _verify(self, id_token: Any, keys: Any, nonce: str) -> dict[str, Any]:
        if not isinstance(id_token, str):
            raise LoginFailed(400, "the provider sent no ID token")
        try:
            token = jwt.decode(id_token, KeySet.import_key_set(keys))
            jwt.JWTClaimsRegistry(
                leeway=LEEWAY,
                iss={"essential": True, "value": self.cfg.issuer},
                aud={"essential": True, "value": self.cfg.client_id},
                sub={"essential": True},
                exp={"essential": True},
                nonce={"essential": True, "value": nonce},
            ).validate(token.claims)
        except (JoseError, ValueError, TypeError) as exc:
            raise LoginFailed(400, f"the ID token was refused ({type(exc).__name__}: {exc})") from exc
        return dict(token.claims)


async def online_problems(settings: Settings, *, transport: httpx.AsyncBaseTransport | None = None) -> list[str]:
    """For ``config check --online``: can the provider be discovered as configured?"""
    cfg = settings.config.auth.oidc
    if cfg is None:
        return []
    try:
        await Provider(cfg, settings.config.server.public_url, transport).metadata()
    except LoginFailed as exc:
        return [f"auth.oidc.issuer: {exc}"]
    return []
