"""What every forge integration provides, and the plain data it speaks."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from pydantic import ConfigDict
from pydantic.dataclasses import dataclass as pydantic_dataclass

from shiplane.changes.commits import Commit
from shiplane.enforcement.statuses import DesiredStatus


# Checked on construction (pydantic, strict): a signed webhook whose fields have the wrong
# types fails here with a ValueError (400), never later as a database error (500).
@pydantic_dataclass(frozen=True, config=ConfigDict(strict=True))
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
    labels: tuple[str, ...] = ()
    body: str = ""  # the description (reverts name what they revert there)


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
    """A GitHub merge queue group: ``checks_requested`` wants our status on its head; ``destroyed``
    says it left the queue (``reason``: merged, invalidated or dequeued)."""

    repo: str
    head_sha: str
    base: str
    action: str = "checks_requested"
    head_ref: str = ""
    reason: str | None = None
    pulls: tuple[int, ...] = ()


@dataclass(frozen=True)
class DeploymentStatus:
    repo: str
    environment: str
    sha: str
    state: str  # succeeded | failed | started | cancelled (GitLab's canceled: ends the deploy in progress)
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


# ------------------------------------------------------------ branch freezes, forge-neutral


@dataclass(frozen=True)
class FreezeSpec:
    """What Shiplane knows of its freeze of one branch (stored in ``branch_freezes``)."""

    name: str  # the GitHub ruleset's name: "shiplane: <service> merge freeze"
    ref: str | None = None  # the forge's id of the object Shiplane created
    previous: Any = None  # GitLab: the protection before the freeze, restored exactly
    writing: bool = False  # a create was sent and its answer never recorded


@dataclass(frozen=True)
class Observed:
    """A branch freeze as the forge has it now (reads only).

    ``matches`` says whether Shiplane's object is exactly as Shiplane wants it (someone may have
    edited it); ``current`` is what a freeze write must start from (GitLab's access levels);
    ``foreign`` names an object Shiplane did not create that stands in the way.
    """

    frozen: bool
    ref: str | None = None
    matches: bool = True
    current: Any = None
    foreign: str | None = None


class Forge(Protocol):
    name: str
    title: str  # as people write it: GitHub, GitLab, Bitbucket

    async def open_pull_requests(self, repo: str, branch: str) -> list[PullRequest]: ...

    async def resolve_sha(self, repo: str, sha: str) -> str: ...

    async def post_status(self, repo: str, sha: str, status: DesiredStatus) -> None: ...

    async def observe_freeze(self, repo: str, branch: str, spec: FreezeSpec) -> Observed: ...

    async def write_freeze(self, repo: str, branch: str, spec: FreezeSpec, observed: Observed, frozen: bool) -> Observed:
        """One write that makes the branch frozen (or open again); returns the new state."""
        ...

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
