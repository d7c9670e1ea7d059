"""GitHub (and GitHub Enterprise): commit statuses, open pulls, merge-freeze rulesets, webhooks, protection rules.

REST shapes follow GitHub's OpenAPI description (tests validate every request
against it). Auth is a token, or a GitHub App: a JWT signed with the app's
key is exchanged for an installation token, refreshed before it expires.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs

import httpx

from shiplane import clock, http
from shiplane.changes.commits import Commit
from shiplane.enforcement.forges.base import (
    Delivery,
    DeploymentStatus,
    FreezeSpec,
    Ignored,
    MergeGroup,
    Observed,
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
_QUEUE_REF = re.compile(r"^(?:refs/heads/)?gh-readonly-queue/.+?/pr-(\d+)-[0-9a-f]+$")
# The merge-freeze ruleset's one rule: "Restrict updates — only allow users with bypass permission
# to update matching refs" (docs.github.com, "Available rules for rulesets"). Merging a pull request
# updates the branch, so the merge button is closed for everyone but the bypass actors.
FREEZE_RULE = {"type": "update", "parameters": {"update_allows_fetch_and_merge": False}}
NEEDS_ADMINISTRATION = (
    "the token or GitHub App lacks the repository's Administration permission (write), "
    "which GitHub requires to manage rulesets"
)


class GitHub:
    name = "github"
    title = "GitHub"

    def __init__(self, config: GitHubConfig, client: httpx.AsyncClient) -> None:
        self.config = config
        self.client = client
        self.api = config.api_url.rstrip("/")
        self._installation_token: tuple[str, float] | None = None
        self.permissions: dict[str, str] | None = None  # a GitHub App installation's, from its token

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
            self.permissions = body.get("permissions")
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

    # ---------------------------------------------------------------- merge freeze (rulesets)

    def ruleset(self, name: str, branch: str) -> dict[str, Any]:
        """The ruleset Shiplane wants while the branch is frozen, as GitHub's rulesets API takes it."""
        return {
            "name": name,
            "target": "branch",
            "enforcement": "active",
            "bypass_actors": [actor.to_api() for actor in self.config.freeze_bypass],
            "conditions": {"ref_name": {"include": [f"refs/heads/{branch}"], "exclude": []}},
            "rules": [FREEZE_RULE],
        }

    def _matches(self, found: Mapping[str, Any], name: str, branch: str) -> bool:
        want = self.ruleset(name, branch)

        def actors(items: Any) -> set[tuple]:
            # GitHub ignores the id of an OrganizationAdmin (and may answer one): compare without it.
            return {
                (a.get("actor_type"), None if a.get("actor_type") == "OrganizationAdmin" else a.get("actor_id"),
                 a.get("bypass_mode", "always"))
                for a in items or []
            }

        rules = [{"type": r.get("type"), "parameters": r.get("parameters") or {}} for r in found.get("rules") or []]
        ref_name = get(found, "conditions", "ref_name", default={}) or {}
        return (
            found.get("name") == name
            and found.get("target", "branch") == "branch"
            and found.get("enforcement") == "active"
            and list(ref_name.get("include") or []) == want["conditions"]["ref_name"]["include"]
            and not ref_name.get("exclude")
            and rules == [FREEZE_RULE]
            and actors(found.get("bypass_actors")) == actors(want["bypass_actors"])
        )

    async def _ruleset_call(self, method: str, url: str, what: str, **kwargs: Any) -> httpx.Response:
        try:
            return await http.send(self.client, method, url, what, headers=await self._headers(), **kwargs)
        except PermanentError as exc:
            if "HTTP 403" in str(exc):  # not a rate limit: http.check made those transient
                raise PermanentError(f"{exc} ({NEEDS_ADMINISTRATION})") from exc
            raise

    async def _get_ruleset(self, repo: str, ruleset_id: str) -> dict[str, Any] | None:
        try:
            response = await self._ruleset_call(
                "GET", f"{self.api}/repos/{repo}/rulesets/{ruleset_id}", f"GitHub get ruleset {repo}#{ruleset_id}",
                params={"includes_parents": "false"},
            )
        except PermanentError as exc:
            if "HTTP 404" in str(exc):
                return None  # deleted (by hand): the caller looks for it by name, then creates it again
            raise
        return response.json()

    async def _find_ruleset(self, repo: str, name: str) -> dict[str, Any] | None:
        """Shiplane's ruleset by its name, among the repository's own (a create whose answer was lost)."""
        url: str | None = f"{self.api}/repos/{repo}/rulesets"
        params: dict[str, Any] | None = {"includes_parents": "false", "targets": "branch", "per_page": 100}
        while url:
            response = await self._ruleset_call("GET", url, f"GitHub list rulesets {repo}", params=params)
            for item in response.json():
                if item.get("name") == name and item.get("source_type", "Repository") == "Repository":
                    return await self._get_ruleset(repo, str(item["id"]))  # the listing omits rules and conditions
            match = _NEXT.search(response.headers.get("link", ""))
            url, params = (match.group(1), None) if match else (None, None)
        return None

    async def observe_freeze(self, repo: str, branch: str, spec: FreezeSpec) -> Observed:
        found = await self._get_ruleset(repo, spec.ref) if spec.ref else None
        if found is None:
            found = await self._find_ruleset(repo, spec.name)
        if found is None:
            return Observed(frozen=False)
        return Observed(frozen=True, ref=str(found["id"]), matches=self._matches(found, spec.name, branch))

    async def write_freeze(self, repo: str, branch: str, spec: FreezeSpec, observed: Observed, frozen: bool) -> Observed:
        if frozen and observed.ref:  # ours, edited by hand: put it back as it should be
            response = await self._ruleset_call(
                "PUT", f"{self.api}/repos/{repo}/rulesets/{observed.ref}", f"GitHub restore ruleset {repo}#{observed.ref}",
                json=self.ruleset(spec.name, branch),
            )
            return Observed(frozen=True, ref=str(response.json()["id"]))
        if frozen:
            response = await self._ruleset_call(
                "POST", f"{self.api}/repos/{repo}/rulesets", f"GitHub create ruleset {repo}",
                json=self.ruleset(spec.name, branch),
            )
            return Observed(frozen=True, ref=str(response.json()["id"]))
        if observed.ref:
            try:
                await self._ruleset_call(
                    "DELETE", f"{self.api}/repos/{repo}/rulesets/{observed.ref}", f"GitHub delete ruleset {repo}#{observed.ref}"
                )
            except PermanentError as exc:
                if "HTTP 404" not in str(exc):  # already gone is what we wanted
                    raise
        return Observed(frozen=False)

    async def freeze_permission_problem(self) -> str | None:
        """A GitHub App says what its installation may do: without Administration (write), a freeze will be refused.

        A token does not say (only a write would tell): the first freeze's answer is recorded then.
        """
        if not (self.config.app_id and self.config.private_key and self.config.installation_id):
            return None
        await self._token()
        if (self.permissions or {}).get("administration") != "write":
            return f"the GitHub App installation has no Administration (write) permission: {NEEDS_ADMINISTRATION}"
        return None

    # ---------------------------------------------------------------- deployment protection rules

    def callback_allowed(self, url: str) -> bool:
        """Is a deployment_callback_url on the configured API (``[forges.github] api_url``)?

        The callback is answered with our token, so a URL anywhere else (a forged or a
        misdirected webhook whose secret leaked) must never receive a request.
        """
        return callback_on_api(self.api, url)

    async def review_protection_rule(self, callback_url: str, environment: str, approve: bool, comment: str) -> None:
        """Answer a deployment protection rule: GitHub Environments then obey the gate."""
        if not self.callback_allowed(callback_url):
            raise PermanentError(f"GitHub protection rule {environment}: callback URL {callback_url[:300]!r} is not on {self.api}; refused")
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


def callback_on_api(api_url: str, url: str) -> bool:
    """Same scheme, host and port as ``api_url``, no user info, and a path under its ``/repos/``."""
    try:
        api, given = httpx.URL(api_url), httpx.URL(url)
    except (httpx.InvalidURL, TypeError):
        return False
    base = api.path.rstrip("/")
    return (
        given.scheme == api.scheme
        and given.scheme in ("http", "https")
        and given.host.lower() == api.host.lower()
        and given.port == api.port
        and not given.userinfo
        and given.path.startswith(f"{base}/repos/")
        and "/../" not in given.path + "/"
    )


def _labels(item: Mapping[str, Any]) -> tuple[str, ...]:
    return tuple(label["name"] for label in item.get("labels") or [] if isinstance(label, Mapping) and label.get("name"))


def queued_pulls(head_ref: str) -> tuple[int, ...]:
    """The pull request a merge group was built for, from its ref (gh-readonly-queue/<base>/pr-<n>-<sha>)."""
    match = _QUEUE_REF.match(head_ref or "")
    return (int(match.group(1)),) if match else ()


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
        body=str(item.get("body") or "")[:65536],
        author=get(item, "user", "login"),
        url=item.get("html_url"),
        labels=_labels(item),
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


def payload_of(headers: Mapping[str, str], body: bytes) -> Any:
    """The JSON payload, whichever content type the webhook was set up with.

    GitHub's default is ``application/x-www-form-urlencoded``: the JSON is the ``payload``
    form field. The signature covers the raw body either way, so it is checked before this.
    """
    ctype = (header(headers, "Content-Type") or "").split(";")[0].strip().lower()
    if ctype == "application/x-www-form-urlencoded":
        fields = parse_qs(body.decode("utf-8"), max_num_fields=10)
        if "payload" not in fields:
            raise ValueError("a form-encoded webhook without its payload field")
        return json.loads(fields["payload"][0])
    return json.loads(body)


def parse_webhook(headers: Mapping[str, str], body: bytes) -> Delivery:
    kind = header(headers, "X-GitHub-Event") or ""
    delivery = header(headers, "X-GitHub-Delivery")
    payload = payload_of(headers, body)
    repo = get(payload, "repository", "full_name", default="")
    action = payload.get("action")
    event: WebhookEvent
    if kind == "ping":
        event = Ping()
    elif kind == "pull_request":
        pull = _pull(payload["pull_request"])
        # labeled/unlabeled: the payload's pull request carries its labels after the change.
        if action in ("opened", "reopened", "synchronize", "ready_for_review", "converted_to_draft", "edited", "labeled", "unlabeled"):
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
    elif kind == "merge_group" and action in ("checks_requested", "destroyed"):
        group = payload["merge_group"]
        head_ref = group.get("head_ref") or ""
        event = MergeGroup(
            repo,
            group["head_sha"],
            _branch(group.get("base_ref")),
            action=action,
            head_ref=head_ref,
            reason=payload.get("reason"),
            pulls=queued_pulls(head_ref),
        )
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
