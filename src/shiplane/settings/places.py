"""Where deploys go: the server, the database, environments and services."""

from __future__ import annotations

import re

from pydantic import field_validator

from shiplane.settings.values import Section, Slug


class ServerConfig(Section):
    public_url: str = ""
    auto_create: bool = True
    public_dashboard: bool = False


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
