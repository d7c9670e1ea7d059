"""The forges whose merge buttons a lock reaches: GitHub, Bitbucket, GitLab."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr

from shiplane.settings.values import Section

BlockedState = Literal["pending", "failure"]


class GitHubConfig(Section):
    api_url: str = "https://api.github.com"
    token: SecretStr | None = None
    webhook_secret: SecretStr | None = None
    blocked_state: BlockedState = "pending"
    writes_per_minute: int = Field(80, ge=0)
    writes_per_hour: int = Field(500, ge=0)
    app_id: int | None = None
    private_key: SecretStr | None = None
    installation_id: int | None = None


class BitbucketConfig(Section):
    api_url: str = "https://api.bitbucket.org"
    email: str = ""
    api_token: SecretStr | None = None
    token: SecretStr | None = None
    username: str = ""  # alias of email (app passwords were retired in 2026)
    app_password: SecretStr | None = None  # alias of api_token
    webhook_secret: SecretStr | None = None
    blocked_state: BlockedState = "pending"
    writes_per_minute: int = Field(0, ge=0)
    writes_per_hour: int = Field(0, ge=0)


class GitLabConfig(Section):
    api_url: str = "https://gitlab.com/api/v4"
    token: SecretStr | None = None
    webhook_token: SecretStr | None = None
    blocked_state: BlockedState = "pending"
    writes_per_minute: int = Field(0, ge=0)
    writes_per_hour: int = Field(0, ge=0)


class ForgesConfig(Section):
    github: GitHubConfig | None = None
    bitbucket: BitbucketConfig | None = None
    gitlab: GitLabConfig | None = None
