"""What every forge integration provides, and the plain data it speaks."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from shiplane.changes.commits import Commit
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

    def verify(self, headers: Mapping[str, str], body: bytes) -> bool: ...


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
