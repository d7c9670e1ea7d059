from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, ConfigDict, Field, model_validator

from shiplane.schemas import SHA_PATTERN, UTC, Body, Reason, Slug, Strict

Sha = Annotated[str, Field(pattern=SHA_PATTERN), AfterValidator(str.lower)]
ShortText = Annotated[str, Field(max_length=200)]


class CommitAuthor(Strict):
    model_config = ConfigDict(extra="ignore")
    name: Annotated[str, Field(max_length=200)] | None = None
    email: Annotated[str, Field(max_length=254)] | None = None
    username: Annotated[str, Field(max_length=200)] | None = None


class CommitIn(Strict):
    """A Sleuth-style commit. Extra keys (e.g. ``files``) are accepted and ignored."""

    model_config = ConfigDict(extra="ignore")
    revision: Annotated[str, Field(min_length=1, max_length=64)]
    message: Annotated[str, Field(max_length=65536)] = ""
    author: CommitAuthor | None = None
    date: UTC | None = None
    url: Annotated[str, Field(max_length=2000)] | None = None
    files: Annotated[list[Any], Field(max_length=5000)] | None = None  # paths (the sleuth CLI sends strings)


class DeployIn(Body):
    service: Slug
    environment: Slug
    sha: Sha
    status: Literal["started", "succeeded", "failed"] = "succeeded"
    started_at: UTC | None = None
    finished_at: UTC | None = None
    version: ShortText | None = None
    author: ShortText | None = None
    email: Annotated[str, Field(max_length=254)] | None = None
    url: Annotated[str, Field(max_length=2000)] | None = None
    tags: Annotated[list[Annotated[str, Field(min_length=1, max_length=100)]], Field(max_length=50)] = []
    commits: Annotated[list[CommitIn], Field(max_length=10000)] | None = None
    override_reason: Reason | None = None
    rollback: bool = Field(False, description="this deploy rolls back: it passes [gate] rollback_passes blockers")

    @model_validator(mode="after")
    def _times(self) -> DeployIn:
        if self.started_at and self.finished_at and self.finished_at < self.started_at:
            raise ValueError("finished_at is before started_at")
        if self.status == "started" and self.finished_at:
            raise ValueError("a started deploy has no finished_at")
        return self


class DeployPatch(Body):
    status: Literal["succeeded", "failed", "cancelled", "rolled_back"]
    finished_at: UTC | None = None
