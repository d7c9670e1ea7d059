"""GitHub (and GitHub Enterprise): commit statuses, open pulls, webhooks, protection rules.

REST shapes follow GitHub's OpenAPI description (tests validate every request
against it). Auth is a token, or a GitHub App: a JWT signed with the app's
key is exchanged for an installation token, refreshed before it expires.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

import httpx

from shiplane import clock, http
from shiplane.changes.commits import Commit
from shiplane.enforcement.forges.base import (
    Delivery,
    DeploymentStatus,
    Ignored,
    MergeGroup,
    Ping,
    ProtectionRule,
    PullRequest,
    PullRequestChanged,
    PullRequestClosed,
    Pushed,
    Review,
    WebhookEvent,
    get,
    header,
    hmac_sha256_matches,
)
from shiplane.enforcement.statuses import DesiredStatus
from shiplane.http import PermanentError
from shiplane.settings import GitHubConfig

_NEXT = re.compile(r'<([^>]+)>;\s*rel="next"')
_REFRESH_MARGIN = 300  # seconds before expiry at which an installation token is renewed


class GitHub:
    name = "github"

    def __init__(self, config: GitHubConfig, client: httpx.AsyncClient) -> None:
        self.config = config
        self.client = client
        self.api = config.api_url.rstrip("/")
        self._installation_token: tuple[str, float] | None = None

    # ---------------------------------------------------------------- auth

    def _app_jwt(self) -> str:
        import jwt

        assert self.config.app_id and self.config.private_key
        now = int(clock.now().timestamp())
        # iat 60 s in the past tolerates clock drift; GitHub caps exp at 10 minutes.
        claims = {"iat": now - 60, "exp": now + 540, "iss": str(self.config.app_id)}
        return jwt.encode(claims, self.config.private_key.get_secret_value(), algorithm="RS256")

    async def _token(self) -> str:
        if self.config.app_id and self.config.private_key and self.config.installation_id:
            cached = self._installation_token
            if cached and cached[1] - _REFRESH_MARGIN > clock.now().timestamp():
                return cached[0]
            response = await http.send(
                self.client,
                "POST",
                f"{self.api}/app/installations/{self.config.installation_id}/access_tokens",
                "GitHub installation token",
                headers={"Authorization": f"Bearer {self._app_jwt()}", "Accept": "application/vnd.github+json"},
            )
            body = response.json()
            expires = http.parse_time(body.get("expires_at"))
            fallback = clock.now().timestamp() + 3000
            self._installation_token = (body["token"], expires.timestamp() if expires else fallback)
            return body["token"]
        if self.config.token:
            return self.config.token.get_secret_value()
        raise PermanentError("GitHub: no token or app credentials configured ([forges.github])")

    async def _headers(self) -> dict[str, str]:
        return {
            "Authorization": f"Bearer {await self._token()}",
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": "2022-11-28",
        }

    # ---------------------------------------------------------------- REST

    async def open_pull_requests(self, repo: str, branch: str) -> list[PullRequest]:
        url: str | None = f"{self.api}/repos/{repo}/pulls"
        params: dict[str, Any] | None = {"state": "open", "base": branch, "per_page": 100}
        pulls: list[PullRequest] = []
        while url:
            response = await http.send(
                self.client, "GET", url, f"GitHub list pulls {repo}", params=params, headers=await self._headers()
            )
            for item in response.json():
                pulls.append(_pull(item))
            match = _NEXT.search(response.headers.get("link", ""))
            url, params = (match.group(1), None) if match else (None, None)
        return pulls

    async def resolve_sha(self, repo: str, sha: str) -> str:
        if re.fullmatch(r"[0-9a-f]{40}", sha):
            return sha
        raise PermanentError(f"GitHub: not a full commit sha: {sha!r}")

    async def post_status(self, repo: str, sha: str, status: DesiredStatus) -> None:
        await http.send(
            self.client,
            "POST",
            f"{self.api}/repos/{repo}/statuses/{sha}",
            f"GitHub status {repo}@{sha[:12]}",
            json={
                "state": status.state,
                "target_url": status.target_url,
                "description": status.description,
                "context": status.context,
            },
            headers=await self._headers(),
        )

    async def review_protection_rule(self, callback_url: str, environment: str, approve: bool, comment: str) -> None:
        """Answer a deployment protection rule: GitHub Environments then obey the gate."""
        await http.send(
            self.client,
            "POST",
            callback_url,
            f"GitHub protection rule {environment}",
            json={"environment_name": environment, "state": "approved" if approve else "rejected", "comment": comment},
            headers=await self._headers(),
        )

    # ---------------------------------------------------------------- webhooks

    def verify(self, headers: Mapping[str, str], body: bytes) -> bool:
        secret = self.config.webhook_secret.get_secret_value() if self.config.webhook_secret else ""
        return hmac_sha256_matches(secret, body, header(headers, "X-Hub-Signature-256"))


def _pull(item: Mapping[str, Any]) -> PullRequest:
    return PullRequest(
        number=item["number"],
        head_sha=get(item, "head", "sha", default=""),
        base=get(item, "base", "ref", default=""),
        updated_at=http.parse_time(item.get("updated_at")),
        draft=bool(item.get("draft")),
        # The list endpoint carries no review state; auto-merge enabled is the
        # strongest "about to merge" signal it has. Approvals come from
        # pull_request_review webhooks.
        approved=bool(item.get("auto_merge")),
        mergeable=item.get("mergeable"),
        title=item.get("title") or "",
        author=get(item, "user", "login"),
        url=item.get("html_url"),
    )


def _commit(c: Mapping[str, Any]) -> Commit:
    files = tuple(c.get("added", []) or []) + tuple(c.get("modified", []) or []) + tuple(c.get("removed", []) or [])
    return Commit(
        sha=c.get("id", ""),
        message=c.get("message", "") or "",
        author_name=get(c, "author", "name"),
        author_email=get(c, "author", "email"),
        author_username=get(c, "author", "username"),
        timestamp=http.parse_time(c.get("timestamp")),
        url=c.get("url"),
        files=files,
    )


def _branch(ref: str | None) -> str:
    return (ref or "").removeprefix("refs/heads/")


def parse_webhook(headers: Mapping[str, str], body: bytes) -> Delivery:
    kind = header(headers, "X-GitHub-Event") or ""
    delivery = header(headers, "X-GitHub-Delivery")
    payload = json.loads(body)
    repo = get(payload, "repository", "full_name", default="")
    action = payload.get("action")
    event: WebhookEvent
    if kind == "ping":
        event = Ping()
    elif kind == "pull_request":
        pull = _pull(payload["pull_request"])
        if action in ("opened", "reopened", "synchronize", "ready_for_review", "converted_to_draft", "edited"):
            event = PullRequestChanged(repo, pull)
        elif action == "closed":
            pr = payload["pull_request"]
            event = PullRequestClosed(
                repo,
                pull,
                merged=bool(pr.get("merged")),
                merge_sha=pr.get("merge_commit_sha"),
                merged_at=http.parse_time(pr.get("merged_at")),
            )
        else:
            event = Ignored(f"pull_request {action}")
    elif kind == "pull_request_review" and action in ("submitted", "dismissed"):
        state = get(payload, "review", "state", default="")
        event = Review(repo, get(payload, "pull_request", "number"), approved=state == "approved" and action == "submitted")
    elif kind == "push":
        ref = payload.get("ref", "")
        if ref.startswith("refs/heads/") and not payload.get("deleted"):
            event = Pushed(repo, _branch(ref), tuple(_commit(c) for c in payload.get("commits", [])))
        else:
            event = Ignored("push of a tag or a deletion")
    elif kind == "merge_group" and action == "checks_requested":
        group = payload["merge_group"]
        event = MergeGroup(repo, group["head_sha"], _branch(group.get("base_ref")))
    elif kind == "deployment_status":
        state = get(payload, "deployment_status", "state", default="")
        mapped = {"success": "succeeded", "failure": "failed", "error": "failed", "in_progress": "started"}.get(state)
        if mapped is None:
            event = Ignored(f"deployment_status {state}")
        else:
            event = DeploymentStatus(
                repo,
                environment=get(payload, "deployment", "environment", default=""),
                sha=get(payload, "deployment", "sha", default=""),
                state=mapped,
                at=http.parse_time(get(payload, "deployment_status", "created_at")),
                url=get(payload, "deployment_status", "target_url") or get(payload, "deployment_status", "log_url"),
                author=get(payload, "deployment_status", "creator", "login"),
            )
    elif kind == "deployment_protection_rule" and action == "requested":
        callback = payload.get("deployment_callback_url", "")
        run = re.search(r"/runs/(\d+)/", callback)
        event = ProtectionRule(
            repo,
            environment=payload.get("environment", ""),
            sha=get(payload, "deployment", "sha"),
            callback_url=callback,
            run_id=int(run.group(1)) if run else None,
        )
    else:
        event = Ignored(f"{kind} {action or ''}".strip())
    return Delivery("github", delivery, (event,))
