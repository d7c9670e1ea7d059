"""The forges whose merge buttons a lock reaches: GitHub, Bitbucket, GitLab."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr, ValidationInfo, field_validator

from shiplane.settings.values import Section

BlockedState = Literal["pending", "failure"]

# The actor types of GitHub's rulesets API ("repository-ruleset-bypass-actor" in its OpenAPI
# description): Integration, RepositoryRole, Team and User name an actor by id; an
# OrganizationAdmin needs none; a DeployKey must have none.
_NEEDS_ID = ("Integration", "RepositoryRole", "Team", "User")


class BypassActor(Section):
    """Who may still merge while Shiplane freezes a branch, in the shape GitHub's rulesets API takes."""

    actor_type: Literal["Integration", "OrganizationAdmin", "RepositoryRole", "Team", "DeployKey", "User"]
    actor_id: int | None = Field(None, ge=1, validate_default=True)
    bypass_mode: Literal["always", "pull_request", "exempt"] = "always"

    @field_validator("actor_id")
    @classmethod
    def _id(cls, value: int | None, info: ValidationInfo) -> int | None:
        kind = info.data.get("actor_type")
        if kind in _NEEDS_ID and value is None:
            raise ValueError(f"actor_type {kind!r} needs an actor_id (the role, team, user or app id)")
        if kind == "DeployKey" and value is not None:
            raise ValueError(f"actor_type 'DeployKey' takes no actor_id (got {value!r})")
        return value

    @field_validator("bypass_mode")
    @classmethod
    def _mode(cls, value: str, info: ValidationInfo) -> str:
        if value == "pull_request" and info.data.get("actor_type") == "DeployKey":
            raise ValueError("bypass_mode 'pull_request' does not apply to actor_type 'DeployKey'")
        return value

    def to_api(self) -> dict[str, object]:
        return {"actor_id": self.actor_id, "actor_type": self.actor_type, "bypass_mode": self.bypass_mode}


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
    freeze_bypass: list[BypassActor] = []  # bypass actors of the merge-freeze ruleset (merge_freeze = "branch" | "both")


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
