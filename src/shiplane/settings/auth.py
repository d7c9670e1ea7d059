"""``[auth]``: whether local passwords work, and single sign-on through an OpenID Connect provider."""

from __future__ import annotations

from typing import Literal

from pydantic import SecretStr, field_validator, model_validator

from shiplane.settings.values import Section

Role = Literal["viewer", "deployer", "admin"]


class OidcConfig(Section):
    """``[auth.oidc]`` (SPEC §8.6). The redirect URI to register is ``public_url`` + ``/login/oidc/callback``."""

    name: str = "single sign-on"  # "Sign in with <name>" on the login page
    issuer: str
    client_id: str
    client_secret: SecretStr | None = None
    scopes: list[str] = ["openid", "email", "profile"]
    role_claim: str = "groups"
    role_map: dict[str, Role] = {}
    default_role: Role | None = None  # None: a user whose claim maps to no role is refused
    allowed_domains: list[str] = []  # e-mail domains allowed in; empty: any

    @field_validator("issuer")
    @classmethod
    def _issuer(cls, value: str) -> str:
        if not value.startswith(("https://", "http://")):
            raise ValueError("must be the provider's issuer URL (https://…), as its discovery document names it")
        return value.rstrip("/")

    @field_validator("scopes")
    @classmethod
    def _scopes(cls, value: list[str]) -> list[str]:
        if "openid" not in value:
            raise ValueError('must include "openid"')
        return value

    @field_validator("allowed_domains")
    @classmethod
    def _domains(cls, value: list[str]) -> list[str]:
        return [d.strip().lower().lstrip("@") for d in value if d.strip()]


class AuthConfig(Section):
    local_login: bool = True  # false: only single sign-on logs people in to the dashboard
    oidc: OidcConfig | None = None

    @model_validator(mode="after")
    def _someone_can_log_in(self) -> AuthConfig:
        if not self.local_login and self.oidc is None:
            raise ValueError("local_login = false needs [auth.oidc]: nobody could log in to the dashboard")
        return self
