"""Where deploys go: the server, the database, environments and services."""

from __future__ import annotations

import ipaddress
import re
from datetime import timedelta

from pydantic import field_validator

from shiplane.settings.values import Duration, Section, Slug


class ServerConfig(Section):
    public_url: str = ""
    auto_create: bool = True
    public_dashboard: bool = False
    # Proxies (addresses or networks) whose X-Forwarded-For is believed; nobody's by default.
    trusted_proxies: list[str] = []
    header_timeout: Duration = timedelta(seconds=10)  # a client must send its request headers within this

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        for item in value:
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError:
                raise ValueError(f"not an IP address or network: {item!r}") from None
        return value

    @field_validator("header_timeout")
    @classmethod
    def _positive(cls, value: timedelta) -> timedelta:
        if value <= timedelta(0):
            raise ValueError("must be more than 0s")
        return value


class DatabaseConfig(Section):
    url: str = ""


class EnvironmentConfig(Section):
    slug: Slug
    name: str = ""
    production: bool | None = None
    position: int | None = None  # lane order on the dashboard; default staging-like first, production last


class ServiceConfig(Section):
    slug: Slug
    name: str = ""
    repo: str = ""
    branch: str = "main"
    paths: list[str] = []
    merge_gate: str = ""
    status_context: str = "shiplane"
    git_remote: str = ""  # remote of the local bare mirror used for change tracking

    @field_validator("repo")
    @classmethod
    def _repo(cls, value: str) -> str:
        if value and not re.match(r"^(github|bitbucket|gitlab):[\w.-]+(/[\w.-]+)+$", value):
            raise ValueError(
                f"expected 'github:owner/name', 'bitbucket:workspace/slug' or 'gitlab:group/project': {value!r}"
            )
        return value
