"""Where deploys go: the server, the database, environments and services."""

from __future__ import annotations

import ipaddress
import re
from datetime import timedelta
from typing import Annotated, Literal

from pydantic import Field, StrictStr, ValidationInfo, field_validator

from shiplane.settings.values import Duration, Section, Slug, TimeZoneName

MergeFreeze = Literal["statuses", "branch", "both"]
Label = Annotated[StrictStr, Field(min_length=1, max_length=100)]  # GitHub label names: at most 50; GitLab: 255


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
    timezone: TimeZoneName = "UTC"  # what a bare HH:MM means for its locks (CLI, Slack, dashboard)
    cooldown: Duration | None = None  # after a deploy of a service finishes, wait this long before the next

    @field_validator("cooldown")
    @classmethod
    def _positive_cooldown(cls, value: timedelta | None) -> timedelta | None:
        if value is not None and value <= timedelta(0):
            raise ValueError("must be more than 0s")
        return value


class ServiceConfig(Section):
    slug: Slug
    name: str = ""
    repo: str = ""
    branch: str = "main"
    paths: list[str] = []
    merge_gate: str = ""
    status_context: str = "shiplane"
    git_remote: str = ""  # remote of the local bare mirror used for change tracking
    merge_freeze: MergeFreeze = "statuses"  # how a closed merge gate reaches the merge button
    exempt_labels: list[Label] = []  # a pull request with one of these labels gets `success` during a lock

    @field_validator("repo")
    @classmethod
    def _repo(cls, value: str) -> str:
        if value and not re.match(r"^(github|bitbucket|gitlab):[\w.-]+(/[\w.-]+)+$", value):
            raise ValueError(
                f"expected 'github:owner/name', 'bitbucket:workspace/slug' or 'gitlab:group/project': {value!r}"
            )
        return value

    @field_validator("merge_freeze")
    @classmethod
    def _freeze_needs_a_repo(cls, value: str, info: ValidationInfo) -> str:
        if value != "statuses" and not info.data.get("repo"):
            raise ValueError(f"merge_freeze {value!r} needs a repo whose branch to freeze (set services.repo)")
        return value

    @field_validator("exempt_labels")
    @classmethod
    def _labels_need_labels(cls, value: list[str], info: ValidationInfo) -> list[str]:
        repo = info.data.get("repo") or ""
        if value and repo.startswith("bitbucket:"):
            # Bitbucket Cloud pull requests have no labels: such an exemption could never apply.
            raise ValueError(f"Bitbucket Cloud pull requests have no labels (repo {repo!r}): {value!r}")
        return value
