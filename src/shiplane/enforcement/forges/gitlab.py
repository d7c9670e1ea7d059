"""GitLab: commit statuses on merge request heads, open merge requests, merge freezes, webhooks.

A merge freeze sets the branch's protection so that no one may merge ("Protected branches API",
docs.gitlab.com/api/protected_branches/): one PATCH that destroys every merge access level by id
and adds ``access_level: 0`` (No one), and one PATCH that puts the stored levels back. A branch
that was not protected at all is protected for the freeze and unprotected again (one POST, one
DELETE), which restores it exactly.
"""

from __future__ import annotations

import hmac
import json
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import httpx

from shiplane import http
from shiplane.changes.commits import Commit
from shiplane.enforcement.forges.base import (
    Delivery,
    DeploymentStatus,
    FreezeSpec,
    Ignored,
    Observed,
    PullRequest,
    PullRequestChanged,
    PullRequestClosed,
    Pushed,
    WebhookEvent,
    get,
    header,
)
from shiplane.enforcement.statuses import DesiredStatus
from shiplane.http import PermanentError
from shiplane.settings import GitLabConfig

STATES = {"success": "success", "pending": "pending", "failure": "failed"}
NO_ONE = 0  # access_level 0: "No one"
DEVELOPERS = 30
NEEDS_MAINTAINER = "the token needs the Maintainer role (and the api scope) to change the branch's protection"


def _project(repo: str) -> str:
    return quote(repo, safe="")


def _level(entry: Mapping[str, Any]) -> dict[str, Any]:
    """One merge access level as the update API takes it back: a user, a group, or a role."""
    for key in ("user_id", "group_id"):
        if entry.get(key) is not None:
            return {key: entry[key]}
    return {"access_level": entry.get("access_level")}


def _frozen(levels: list[Mapping[str, Any]]) -> bool:
    return bool(levels) and all(_level(e) == {"access_level": NO_ONE} for e in levels)


class GitLab:
    name = "gitlab"
    title = "GitLab"

    def __init__(self, config: GitLabConfig, client: httpx.AsyncClient) -> None:
        self.config = config
        self.client = client
        self.api = config.api_url.rstrip("/")

    def _headers(self) -> dict[str, str]:
        if not self.config.token:
            raise PermanentError("GitLab: no token configured ([forges.gitlab] token)")
        return {"PRIVATE-TOKEN": self.config.token.get_secret_value()}

    async def open_pull_requests(self, repo: str, branch: str) -> list[PullRequest]:
        pulls = []
        page: str | None = "1"
        while page:
            response = await http.send(
                self.client,
                "GET",
                f"{self.api}/projects/{_project(repo)}/merge_requests",
                f"GitLab list merge requests {repo}",
                params={"state": "opened", "target_branch": branch, "per_page": 100, "page": page},
                headers=self._headers(),
            )
            pulls.extend(_pull(item) for item in response.json())
            page = response.headers.get("x-next-page") or None
        return pulls

    async def resolve_sha(self, repo: str, sha: str) -> str:
        if re.fullmatch(r"[0-9a-f]{40}", sha):
            return sha
        raise PermanentError(f"GitLab: not a full commit sha: {sha!r}")

    async def post_status(self, repo: str, sha: str, status: DesiredStatus) -> None:
        try:
            await http.send(
                self.client,
                "POST",
                f"{self.api}/projects/{_project(repo)}/statuses/{sha}",
                f"GitLab status {repo}@{sha[:12]}",
                json={
                    "state": STATES[status.state],
                    "name": status.context,
                    "target_url": status.target_url,
                    "description": status.description,
                },
                headers=self._headers(),
            )
        except PermanentError as exc:
            # GitLab refuses pending → pending ("Cannot transition status via :enqueue
            # from :pending"): the commit already has the state we want.
            if "Cannot transition status" not in str(exc):
                raise

    # ---------------------------------------------------------------- merge freeze (protected branches)

    def _protected(self, repo: str, branch: str) -> str:
        return f"{self.api}/projects/{_project(repo)}/protected_branches/{quote(branch, safe='')}"

    async def _protection_call(self, method: str, url: str, what: str, **kwargs: Any) -> httpx.Response:
        try:
            return await http.send(self.client, method, url, what, headers=self._headers(), **kwargs)
        except PermanentError as exc:
            if "HTTP 403" in str(exc):
                raise PermanentError(f"{exc} ({NEEDS_MAINTAINER})") from exc
            raise

    async def observe_freeze(self, repo: str, branch: str, spec: FreezeSpec) -> Observed:
        try:
            response = await self._protection_call("GET", self._protected(repo, branch), f"GitLab protected branch {repo}:{branch}")
        except PermanentError as exc:
            if "HTTP 404" in str(exc):
                return Observed(frozen=False, current={"protected": False, "merge": []})
            raise
        levels = response.json().get("merge_access_levels") or []
        current = {
            "protected": True,
            "merge": [{"id": e.get("id"), **_level(e)} for e in levels],
        }
        return Observed(frozen=_frozen(levels), current=current)

    async def write_freeze(self, repo: str, branch: str, spec: FreezeSpec, observed: Observed, frozen: bool) -> Observed:
        current = observed.current or {"protected": False, "merge": []}
        destroy = [{"id": e["id"], "_destroy": True} for e in current["merge"] if e.get("id") is not None]
        what = f"GitLab {'freeze' if frozen else 'restore'} {repo}:{branch}"
        if frozen and not current["protected"]:
            # Unprotected, developers could push and merge: protect for the freeze only.
            await self._protection_call(
                "POST", f"{self.api}/projects/{_project(repo)}/protected_branches", what,
                json={"name": branch, "merge_access_level": NO_ONE, "push_access_level": DEVELOPERS, "allow_force_push": True},
            )
        elif frozen:
            await self._protection_call(
                "PATCH", self._protected(repo, branch), what, json={"allowed_to_merge": destroy + [{"access_level": NO_ONE}]}
            )
        elif spec.previous is not None and not spec.previous.get("protected"):
            try:
                await self._protection_call("DELETE", self._protected(repo, branch), what)
            except PermanentError as exc:
                if "HTTP 404" not in str(exc):
                    raise
        elif spec.previous is not None:
            restore = [_level(e) for e in spec.previous.get("merge", [])]
            await self._protection_call("PATCH", self._protected(repo, branch), what, json={"allowed_to_merge": destroy + restore})
        return Observed(frozen=frozen)

    def verify(self, headers: Mapping[str, str], body: bytes) -> bool:
        expected = self.config.webhook_token.get_secret_value() if self.config.webhook_token else ""
        given = header(headers, "X-Gitlab-Token") or ""
        return bool(expected) and hmac.compare_digest(expected.encode(), given.encode())


def _pull(item: Mapping[str, Any]) -> PullRequest:
    return PullRequest(
        number=item["iid"],
        head_sha=item.get("sha") or "",
        base=item.get("target_branch") or "",
        updated_at=http.parse_time(item.get("updated_at")),
        draft=bool(item.get("draft") or item.get("work_in_progress")),
        mergeable=item.get("detailed_merge_status") == "mergeable" if "detailed_merge_status" in item else None,
        title=item.get("title") or "",
        author=get(item, "author", "username"),
        url=item.get("web_url"),
        labels=tuple(str(label) for label in item.get("labels") or []),
    )


def parse_webhook(headers: Mapping[str, str], body: bytes) -> Delivery:
    kind = header(headers, "X-Gitlab-Event") or ""
    delivery = header(headers, "X-Gitlab-Event-UUID") or header(headers, "Idempotency-Key")
    payload = json.loads(body)
    repo = get(payload, "project", "path_with_namespace", default="")
    event: WebhookEvent
    if kind == "Merge Request Hook":
        attrs = payload.get("object_attributes", {})
        pull = PullRequest(
            number=attrs.get("iid", 0),
            head_sha=get(attrs, "last_commit", "id", default=""),
            base=attrs.get("target_branch", ""),
            updated_at=http.parse_time(attrs.get("updated_at")),
            draft=bool(attrs.get("draft") or attrs.get("work_in_progress")),
            title=attrs.get("title", ""),
            url=attrs.get("url"),
            # Merge request hooks carry labels at the top level (objects with a title).
            labels=tuple(label.get("title", "") for label in payload.get("labels") or [] if isinstance(label, dict)),
        )
        action = attrs.get("action")
        if action in ("open", "reopen", "update"):
            event = PullRequestChanged(repo, pull)
        elif action in ("merge", "close"):
            event = PullRequestClosed(
                repo, pull, merged=action == "merge", merge_sha=attrs.get("merge_commit_sha"), merged_at=pull.updated_at
            )
        else:
            event = Ignored(f"merge request {action}")
    elif kind == "Push Hook":
        ref = payload.get("ref", "")
        commits = tuple(
            Commit(
                sha=c.get("id", ""),
                message=c.get("message", "") or "",
                author_name=get(c, "author", "name"),
                author_email=get(c, "author", "email"),
                timestamp=http.parse_time(c.get("timestamp")),
                url=c.get("url"),
                files=tuple(c.get("added", []) + c.get("modified", []) + c.get("removed", [])),
            )
            for c in payload.get("commits", [])
        )
        event = Pushed(repo, ref.removeprefix("refs/heads/"), commits) if ref.startswith("refs/heads/") else Ignored("tag push")
    elif kind == "Deployment Hook" or payload.get("object_kind") == "deployment":
        event = _deployment(repo, payload)
    else:
        event = Ignored(kind)
    return Delivery("gitlab", delivery, (event,))


# Deployment events: https://docs.gitlab.com/user/project/integrations/webhook_events/#deployment-events
DEPLOYMENT_STATES = {"running": "started", "success": "succeeded", "failed": "failed", "canceled": "cancelled"}
_SHA = re.compile(r"^[0-9a-fA-F]{7,64}$")


def _gitlab_time(value: Any) -> Any:
    """``2021-04-28 21:50:00 +0200`` (what deployment events send) or ``… UTC``; None when absent or unreadable."""
    if not isinstance(value, str):
        return None
    return http.parse_time(value.removesuffix(" UTC") + (" +00:00" if value.endswith(" UTC") else ""))


def _deployment(repo: str, payload: Mapping[str, Any]) -> WebhookEvent:
    status = payload.get("status")
    state = DEPLOYMENT_STATES.get(status) if isinstance(status, str) else None
    if state is None:
        return Ignored(f"deployment {status}")
    # The sha is the last path segment of commit_url (.../-/commit/<sha>); else the short sha.
    commit_url = payload.get("commit_url")
    sha = commit_url.rstrip("/").rsplit("/", 1)[-1] if isinstance(commit_url, str) else ""
    if not _SHA.match(sha):
        sha = payload.get("short_sha") or ""
    return DeploymentStatus(
        repo,
        environment=payload.get("environment") or "",
        sha=sha,
        state=state,
        at=_gitlab_time(payload.get("status_changed_at")),
        url=payload.get("deployable_url") or payload.get("environment_external_url"),
        author=get(payload, "user", "username"),
    )
