"""What every forge integration provides, and the plain data it speaks."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from shiplane.enforcement.statuses import DesiredStatus


@dataclass(frozen=True)
class PullRequest:
    number: int
    head_sha: str
    base: str
    updated_at: datetime | None = None
    draft: bool = False
    approved: bool = False
    mergeable: bool | None = None
    title: str = ""
    author: str | None = None
    url: str | None = None


@dataclass(frozen=True)
class Commit:
    sha: str
    message: str = ""
    author_name: str | None = None
    author_email: str | None = None
    author_username: str | None = None
    timestamp: datetime | None = None
    url: str | None = None
    files: tuple[str, ...] = ()

    def columns(self) -> dict[str, Any]:
        """The values stored for a commit, in pushed_commits and deploy_commits alike."""
        return {
            "sha": self.sha,
            "message": self.message[:65536],
            "author_name": self.author_name,
            "author_email": self.author_email,
            "author_username": self.author_username,
            "committed_at": self.timestamp,
            "url": self.url,
            "files": list(self.files)[:1000],
        }

    @classmethod
    def from_row(cls, row: Any) -> Commit:
        return cls(
            sha=row.sha,
            message=row.message,
            author_name=row.author_name,
            author_email=row.author_email,
            author_username=row.author_username,
            timestamp=row.committed_at,
            url=row.url,
            files=tuple(row.files or ()),
        )


# ------------------------------------------------------------ webhook events, forge-neutral


@dataclass(frozen=True)
class PullRequestChanged:
    """Opened, reopened, new commits, ready for review: the head needs the current status."""

    repo: str
    pull: PullRequest


@dataclass(frozen=True)
class PullRequestClosed:
    repo: str
    pull: PullRequest
    merged: bool
    merge_sha: str | None = None
    merged_at: datetime | None = None


@dataclass(frozen=True)
class Review:
    repo: str
    number: int
    approved: bool


@dataclass(frozen=True)
class Pushed:
    repo: str
    branch: str
    commits: tuple[Commit, ...]


@dataclass(frozen=True)
class MergeGroup:
    repo: str
    head_sha: str
    base: str


@dataclass(frozen=True)
class DeploymentStatus:
    repo: str
    environment: str
    sha: str
    state: str  # succeeded | failed | started
    at: datetime | None = None
    url: str | None = None
    author: str | None = None


@dataclass(frozen=True)
class ProtectionRule:
    repo: str
    environment: str
    sha: str | None
    callback_url: str
    run_id: int | None = None


@dataclass(frozen=True)
class Ping:
    pass


@dataclass(frozen=True)
class Ignored:
    reason: str = ""


WebhookEvent = (
    PullRequestChanged
    | PullRequestClosed
    | Review
    | Pushed
    | MergeGroup
    | DeploymentStatus
    | ProtectionRule
    | Ping
    | Ignored
)


@dataclass(frozen=True)
class Delivery:
    """A verified webhook, parsed: its delivery id (for de-duplication) and what it means."""

    forge: str
    delivery_id: str | None
    events: tuple[WebhookEvent, ...] = field(default_factory=tuple)


class Forge(Protocol):
    name: str

    async def open_pull_requests(self, repo: str, branch: str) -> list[PullRequest]: ...

    async def resolve_sha(self, repo: str, sha: str) -> str: ...

    async def post_status(self, repo: str, sha: str, status: DesiredStatus) -> None: ...


def hmac_sha256_matches(secret: str, body: bytes, header: str | None) -> bool:
    """``sha256=<hex>`` signatures (GitHub X-Hub-Signature-256, Bitbucket X-Hub-Signature), in constant time."""
    if not header or not secret:
        return False
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode(), header.strip().encode())


def header(headers: Mapping[str, str], name: str) -> str | None:
    return headers.get(name) or headers.get(name.lower())


def get(d: Any, *path: str, default: Any = None) -> Any:
    for key in path:
        if not isinstance(d, Mapping) or key not in d:
            return default
        d = d[key]
    return d
