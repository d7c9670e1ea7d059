"""Bitbucket Cloud: build statuses, open pull requests, merge freezes, webhooks.

Pull request payloads and listings carry 12-character commit hashes; build
statuses must be posted on the full hash, so every head is resolved first.
Auth: an API token (Basic ``email:api_token``) or an access token (Bearer);
``username``/``app_password`` are accepted as aliases (app passwords were
retired in 2026).

A merge freeze is a ``restrict_merges`` branch restriction with empty ``users`` and ``groups``
("Branch restrictions", developer.atlassian.com/cloud/bitbucket/rest/api-group-branch-restrictions/:
empty lists deny everybody), created and deleted. Restrictions have no name: Shiplane's is the one
whose id it stored. Two glob restrictions of one kind and pattern cannot coexist, so a
``restrict_merges`` on the branch that Shiplane did not create is reported, never edited.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Mapping
from typing import Any

import httpx

from shiplane import http
from shiplane.changes.commits import Commit
from shiplane.enforcement.forges.base import (
    Delivery,
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
    hmac_sha256_matches,
)
from shiplane.enforcement.statuses import DesiredStatus
from shiplane.http import PermanentError
from shiplane.settings import BitbucketConfig

STATES = {"success": "SUCCESSFUL", "pending": "INPROGRESS", "failure": "FAILED"}
_RAW_AUTHOR = re.compile(r"^(.*?)\s*<([^>]+)>\s*$")
NEEDS_ADMIN = "the account needs admin rights on the repository (scope repository:admin) to manage branch restrictions"


class Bitbucket:
    name = "bitbucket"
    title = "Bitbucket"

    def __init__(self, config: BitbucketConfig, client: httpx.AsyncClient) -> None:
        self.config = config
        self.client = client
        self.api = config.api_url.rstrip("/")
        self._resolved: dict[tuple[str, str], str] = {}

    def _headers(self) -> dict[str, str]:
        c = self.config
        if c.token:
            return {"Authorization": f"Bearer {c.token.get_secret_value()}"}
        user = c.email or c.username
        secret = c.api_token or c.app_password
        if user and secret:
            raw = f"{user}:{secret.get_secret_value()}".encode()
            return {"Authorization": "Basic " + base64.b64encode(raw).decode()}
        raise PermanentError("Bitbucket: configure email + api_token, or token ([forges.bitbucket])")

    async def open_pull_requests(self, repo: str, branch: str) -> list[PullRequest]:
        url: str | None = f"{self.api}/2.0/repositories/{repo}/pullrequests"
        # Listings omit participants (and so approvals) unless asked for.
        params: dict[str, Any] | None = {"state": "OPEN", "pagelen": 50, "fields": "+values.participants"}
        pulls = []
        while url:
            response = await http.send(
                self.client, "GET", url, f"Bitbucket list pull requests {repo}", params=params, headers=self._headers()
            )
            body = response.json()
            for item in body.get("values", []):
                pull = _pull(item)
                if pull.base == branch:
                    pulls.append(pull)
            url, params = body.get("next"), None
        return pulls

    async def resolve_sha(self, repo: str, sha: str) -> str:
        if re.fullmatch(r"[0-9a-f]{40}", sha):
            return sha
        key = (repo, sha)
        if key not in self._resolved:
            response = await http.send(
                self.client,
                "GET",
                f"{self.api}/2.0/repositories/{repo}/commit/{sha}",
                f"Bitbucket resolve {repo}@{sha}",
                headers=self._headers(),
            )
            full = response.json().get("hash", "")
            if not re.fullmatch(r"[0-9a-f]{40}", full):
                raise PermanentError(f"Bitbucket: {sha!r} did not resolve to a full hash")
            self._resolved[key] = full
        return self._resolved[key]

    async def post_status(self, repo: str, sha: str, status: DesiredStatus) -> None:
        full = await self.resolve_sha(repo, sha)
        await http.send(
            self.client,
            "POST",
            f"{self.api}/2.0/repositories/{repo}/commit/{full}/statuses/build",
            f"Bitbucket build status {repo}@{full[:12]}",
            json={
                "key": status.context,
                "state": STATES[status.state],
                "name": status.context,
                "url": status.target_url,
                "description": status.description,
            },
            headers=self._headers(),
        )

    # ---------------------------------------------------------------- merge freeze (branch restrictions)

    @staticmethod
    def restriction(branch: str) -> dict[str, Any]:
        return {"kind": "restrict_merges", "branch_match_kind": "glob", "pattern": branch, "users": [], "groups": []}

    @staticmethod
    def _matches(found: Mapping[str, Any], branch: str) -> bool:
        return (
            found.get("kind") == "restrict_merges"
            and found.get("branch_match_kind", "glob") == "glob"
            and found.get("pattern") == branch
            and not found.get("users")
            and not found.get("groups")
        )

    async def _restriction_call(self, method: str, url: str, what: str, **kwargs: Any) -> httpx.Response:
        try:
            return await http.send(self.client, method, url, what, headers=self._headers(), **kwargs)
        except PermanentError as exc:
            if "HTTP 403" in str(exc):
                raise PermanentError(f"{exc} ({NEEDS_ADMIN})") from exc
            raise

    async def observe_freeze(self, repo: str, branch: str, spec: FreezeSpec) -> Observed:
        base = f"{self.api}/2.0/repositories/{repo}/branch-restrictions"
        if spec.ref:
            try:
                found = (await self._restriction_call("GET", f"{base}/{spec.ref}", f"Bitbucket restriction {repo}#{spec.ref}")).json()
                return Observed(frozen=True, ref=str(found["id"]), matches=self._matches(found, branch))
            except PermanentError as exc:
                if "HTTP 404" not in str(exc):
                    raise
        response = await self._restriction_call(
            "GET", base, f"Bitbucket list restrictions {repo}", params={"kind": "restrict_merges", "pattern": branch}
        )
        same = [r for r in response.json().get("values", []) if r.get("pattern") == branch and r.get("kind") == "restrict_merges"]
        if not same:
            return Observed(frozen=False)
        if spec.writing and self._matches(same[0], branch):
            # Our create went through but its answer was lost: this one is ours.
            return Observed(frozen=True, ref=str(same[0]["id"]))
        return Observed(frozen=False, foreign=f"Bitbucket branch restriction {same[0].get('id')} (restrict_merges on {branch!r})")

    async def write_freeze(self, repo: str, branch: str, spec: FreezeSpec, observed: Observed, frozen: bool) -> Observed:
        base = f"{self.api}/2.0/repositories/{repo}/branch-restrictions"
        if frozen and observed.ref:  # ours, edited by hand
            response = await self._restriction_call(
                "PUT", f"{base}/{observed.ref}", f"Bitbucket restore restriction {repo}#{observed.ref}", json=self.restriction(branch)
            )
            return Observed(frozen=True, ref=str(response.json()["id"]))
        if frozen:
            response = await self._restriction_call("POST", base, f"Bitbucket create restriction {repo}", json=self.restriction(branch))
            return Observed(frozen=True, ref=str(response.json()["id"]))
        if observed.ref:
            try:
                await self._restriction_call("DELETE", f"{base}/{observed.ref}", f"Bitbucket delete restriction {repo}#{observed.ref}")
            except PermanentError as exc:
                if "HTTP 404" not in str(exc):
                    raise
        return Observed(frozen=False)

    def verify(self, headers: Mapping[str, str], body: bytes) -> bool:
        secret = self.config.webhook_secret.get_secret_value() if self.config.webhook_secret else ""
        return hmac_sha256_matches(secret, body, header(headers, "X-Hub-Signature"))


def _pull(item: Mapping[str, Any]) -> PullRequest:
    return PullRequest(
        number=item["id"],
        head_sha=get(item, "source", "commit", "hash", default=""),
        base=get(item, "destination", "branch", "name", default=""),
        updated_at=http.parse_time(item.get("updated_on")),
        draft=bool(item.get("draft")),
        approved=any(p.get("approved") for p in item.get("participants", []) or []),
        title=item.get("title") or "",
        author=get(item, "author", "display_name"),
        url=get(item, "links", "html", "href"),
    )


def _commit(c: Mapping[str, Any]) -> Commit:
    raw = get(c, "author", "raw", default="") or ""
    m = _RAW_AUTHOR.match(raw)
    return Commit(
        sha=c.get("hash", ""),
        message=c.get("message", "") or "",
        author_name=(m.group(1) if m else raw) or get(c, "author", "user", "display_name"),
        author_email=m.group(2) if m else None,
        author_username=get(c, "author", "user", "nickname"),
        timestamp=http.parse_time(c.get("date")),
        url=get(c, "links", "html", "href"),
    )


def parse_webhook(headers: Mapping[str, str], body: bytes) -> Delivery:
    kind = header(headers, "X-Event-Key") or ""
    delivery = header(headers, "X-Request-UUID") or header(headers, "X-Hook-UUID")
    payload = json.loads(body)
    repo = get(payload, "repository", "full_name", default="")
    events: list[WebhookEvent] = []
    if kind in ("pullrequest:created", "pullrequest:updated"):
        events.append(PullRequestChanged(repo, _pull(payload["pullrequest"])))
    elif kind in ("pullrequest:fulfilled", "pullrequest:rejected"):
        pr = payload["pullrequest"]
        events.append(
            PullRequestClosed(
                repo,
                _pull(pr),
                merged=kind == "pullrequest:fulfilled",
                merge_sha=get(pr, "merge_commit", "hash"),
                merged_at=http.parse_time(pr.get("updated_on")),
            )
        )
    elif kind == "repo:push":
        for change in get(payload, "push", "changes", default=[]) or []:
            new = change.get("new") or {}
            if new.get("type") == "branch":
                # Bitbucket lists a push's commits newest first; we keep them oldest first.
                commits = tuple(_commit(c) for c in reversed(change.get("commits", []) or []))
                events.append(Pushed(repo, new.get("name", ""), commits))
        if not events:
            events.append(Ignored("push without branch changes"))
    else:
        events.append(Ignored(kind))
    return Delivery("bitbucket", delivery, tuple(events))
