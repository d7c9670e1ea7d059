"""In-process fake of the Bitbucket Cloud REST API 2.0 (api.bitbucket.org/2.0) as an httpx transport.

Where the shapes come from:
- Atlassian's reference, developer.atlassian.com/cloud/bitbucket/rest/: "Pullrequests" (GET
  /repositories/{workspace}/{repo_slug}/pullrequests; `state` OPEN|MERGED|DECLINED|SUPERSEDED, may repeat,
  default OPEN), "Commits" (GET .../commit/{commit}), "Commit statuses" (POST
  .../commit/{commit}/statuses/build with `key`, `state` INPROGRESS|SUCCESSFUL|FAILED|STOPPED and `url`
  required, `name`, `description`, `refname` optional; "If the specified key already exists, the existing
  status object will be overwritten"; GET .../statuses and .../statuses/build/{key}), "Pagination" (`page`,
  `pagelen`, `size`, `values`, and `next`/`previous` as absolute URLs) and the error shape
  {"type": "error", "error": {"message": ...}}.
- Response objects are the real recorded responses in ../shared/data/bitbucket/rest.pullrequests.open.json
  and rest.commit-statuses-build.json (from jenkinsci/bitbucket-branch-source-plugin) with our values put
  in; `participants` entries follow the webhook payloads in ../shared/data/bitbucket/webhooks/.
- Quirks reproduced: pull requests carry 12-character short hashes (source.commit.hash), and a build status
  must be posted to the FULL 40-hex hash (posting to a short one is recorded as a violation and answered
  400); list items are ordered by updated_on, newest first, as recorded; `pagelen` above 50 on pullrequests
  answers 400 "Invalid pagelen" (confirmed by a maintainer in jenkinsci/bitbucket-branch-source-plugin#1182);
  list items omit `participants` unless asked for with `fields=+values.participants`.
- "Branch restrictions" (developer.atlassian.com/cloud/bitbucket/rest/api-group-branch-restrictions/):
  GET/POST .../branch-restrictions (list filtered by `kind` and `pattern`), GET/PUT/DELETE .../{id}.
  `restrict_merges` and `push` need `users` and `groups` (empty lists deny everybody); `branch_match_kind`
  `glob` (with `pattern`) or `branching_model` (with `branch_type`); "the combination of kind and match
  must be unique" (the status of a duplicate is not documented: the fake answers 409). Every operation
  needs the `repository:admin` scope: set `admin = False` for the 403 Bitbucket gives a token without it.
"""

from __future__ import annotations

import base64
import copy
import fnmatch
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx

from tests.fakes.base import (
    HEX40,
    FakeForge,
    Reply,
    Request,
    fake_sha,
    is_http_url,
    iso,
    json_response,
    load_json,
    page_of,
)

API = "https://api.bitbucket.org/2.0"
BUILD_STATES = ("INPROGRESS", "SUCCESSFUL", "FAILED", "STOPPED")
PR_STATES = ("OPEN", "MERGED", "DECLINED", "SUPERSEDED")
STATUS_FIELDS = {"key", "state", "url", "name", "description", "refname", "type"}


@dataclass
class BbPull:
    id: int
    source_hash: str  # full 40-hex; the API shows its first 12 characters
    source_branch: str
    destination: str = "main"
    updated_on: str = ""
    created_on: str = ""
    draft: bool = False
    state: str = "OPEN"
    title: str = ""
    author: str = "Shiplane Tester"
    participants: dict[str, bool] = field(default_factory=dict)  # display name -> approved


@dataclass
class BbRepo:
    full_name: str
    pulls: dict[int, BbPull] = field(default_factory=dict)
    commits: set[str] = field(default_factory=set)
    branches: dict[str, str] = field(default_factory=dict)
    statuses: dict[str, dict[str, dict]] = field(default_factory=dict)  # full hash -> key -> status
    restrictions: dict[int, dict] = field(default_factory=dict)  # id -> branch restriction


def _when(value: datetime | str | None) -> str:
    return value if isinstance(value, str) else iso(value, micro=True)


class FakeBitbucket(FakeForge):
    def __init__(
        self,
        *,
        email: str = "bot@example.com",
        api_token: str = "bb-api-token",
        access_token: str | Iterable[str] = "bb-access-token",
        latency: float = 0.0,
        **kw: Any,
    ):
        super().__init__(latency=latency, **kw)
        self.credentials: set[tuple[str, str]] = {(email, api_token)}
        self.access_tokens: set[str] = {access_token} if isinstance(access_token, str) else set(access_token)
        self.repos: dict[str, BbRepo] = {}
        recorded = load_json("bitbucket/rest.pullrequests.open.json")
        self._pull_template = recorded["values"][0]
        self._status_template = load_json("bitbucket/rest.commit-statuses-build.json")
        base = "/2.0/repositories/{workspace}/{repo_slug}"
        self.route("GET", base + "/pullrequests", self._list_pulls)
        self.route("GET", base + "/commit/{commit}", self._get_commit)
        self.route("POST", base + "/commit/{commit}/statuses/build", self._post_status)
        self.route("GET", base + "/commit/{commit}/statuses", self._list_statuses)
        self.route("GET", base + "/commit/{commit}/statuses/build/{key}", self._get_status)
        self.route("GET", base + "/branch-restrictions", self._list_restrictions)
        self.route("POST", base + "/branch-restrictions", self._create_restriction)
        self.route("GET", base + "/branch-restrictions/{rid}", self._get_restriction)
        self.route("PUT", base + "/branch-restrictions/{rid}", self._update_restriction)
        self.route("DELETE", base + "/branch-restrictions/{rid}", self._delete_restriction)
        self.admin = True  # False: the credentials lack the repository:admin scope (restrictions answer 403)

    # ---- state helpers ------------------------------------------------------------------------
    def add_repo(self, full_name: str, *, main_branch: str = "main") -> BbRepo:
        if full_name not in self.repos:
            repo = BbRepo(full_name)
            sha = fake_sha(full_name, main_branch)
            repo.branches[main_branch], repo.commits = sha, {sha}
            self.repos[full_name] = repo
        return self.repos[full_name]

    def add_commit(self, repo: str, full_hash: str) -> None:
        if not HEX40.fullmatch(full_hash):
            raise ValueError(f"not a full lowercase hash: {full_hash!r}")
        self.add_repo(repo).commits.add(full_hash)

    def add_pull(
        self,
        repo: str,
        id: int,
        source_hash: str,
        source_branch: str | None = None,
        destination: str = "main",
        updated_on: datetime | str | None = None,
        draft: bool = False,
        *,
        participants: dict[str, bool] | None = None,
        title: str | None = None,
        author: str = "Shiplane Tester",
        created_on: datetime | str | None = None,
    ) -> BbPull:
        self.add_commit(repo, source_hash)
        r = self.repos[repo]
        r.branches.setdefault(destination, fake_sha(repo, destination))
        r.commits.add(r.branches[destination])
        updated = _when(updated_on)
        pull = BbPull(
            id=id,
            source_hash=source_hash,
            source_branch=source_branch or f"feature/{id}",
            destination=destination,
            updated_on=updated,
            created_on=_when(created_on) if created_on else updated,
            draft=draft,
            title=title or f"Pull request {id}",
            author=author,
            participants=dict(participants or {}),
        )
        r.pulls[id] = pull
        r.branches[pull.source_branch] = source_hash
        return pull

    def close_pull(self, repo: str, id: int, *, state: str = "MERGED") -> BbPull:
        pull = self.repos[repo].pulls[id]
        pull.state, pull.updated_on = state, iso(micro=True)
        return pull

    def statuses(self, repo: str, full_hash: str) -> list[dict]:
        """Build statuses on the commit, most recently updated first."""
        found = self.repos[repo].statuses.get(full_hash, {}).values()
        return sorted(found, key=lambda s: s["updated_on"], reverse=True)

    def status(self, repo: str, full_hash: str, key: str) -> dict | None:
        return self.repos[repo].statuses.get(full_hash, {}).get(key)

    def add_restriction(self, repo: str, body: dict) -> dict:
        """A restriction someone made by hand."""
        r = self.add_repo(repo)
        restriction = self._restriction_json(r, {"users": [], "groups": [], "branch_match_kind": "glob", **body}, self.next_id())
        r.restrictions[restriction["id"]] = restriction
        return copy.deepcopy(restriction)

    def restrictions(self, repo: str) -> list[dict]:
        return [copy.deepcopy(r) for r in self.repos[repo].restrictions.values()]

    def merge_blocked(self, repo: str, branch: str) -> bool:
        """Is merging into `branch` denied to everybody by a restrict_merges restriction?"""
        return any(
            r["kind"] == "restrict_merges"
            and r.get("branch_match_kind") == "glob"
            and fnmatch.fnmatchcase(branch, r["pattern"])
            and not r["users"]
            and not r["groups"]
            for r in self.repos[repo].restrictions.values()
        )

    # ---- base hooks ---------------------------------------------------------------------------
    def error_body(self, status: int) -> dict:
        messages = {
            401: "Unauthorized",
            404: "Resource not found",
            429: "Rate limit for this resource has been exceeded",
        }
        return {"type": "error", "error": {"message": messages.get(status, httpx.codes.get_reason_phrase(status))}}

    def authenticate(self, req: Request) -> Any:
        scheme, _, credential = (req.header("authorization") or "").partition(" ")
        if scheme.lower() == "bearer" and credential.strip() in self.access_tokens:
            return ("bearer", credential.strip())
        if scheme.lower() == "basic":
            try:
                user, _, secret = base64.b64decode(credential.strip()).decode().partition(":")
            except ValueError:
                user, secret = "", ""
            if (user, secret) in self.credentials:
                return ("basic", user)
        raise Reply(401, self.error_body(401))

    # ---- helpers --------------------------------------------------------------------------------
    def _repo(self, req: Request) -> BbRepo:
        repo = self.repos.get(f"{req.params['workspace']}/{req.params['repo_slug']}")
        if repo is None:
            raise Reply(404, {"type": "error", "error": {"message": "Repository not found"}})
        return repo

    def _bad(self, req: Request, message: str, fields: dict[str, list[str]] | None = None) -> Reply:
        self.violation(req, message)
        error: dict[str, Any] = {"message": message}
        if fields:
            error["fields"] = fields
        return Reply(400, {"type": "error", "error": error})

    def _page(self, req: Request, items: list, *, max_pagelen: int, allowed: set[str]) -> dict:
        q = req.q
        extra = sorted({k for k, _ in req.query} - allowed)
        if extra:
            raise self._bad(req, f"unknown query parameters {extra}")
        pagelen, page = q.get("pagelen", "10"), q.get("page", "1")
        if not pagelen.isdigit() or not 1 <= int(pagelen) <= max_pagelen:
            raise self._bad(req, "Invalid pagelen")
        if not page.isdigit() or int(page) < 1:
            raise self._bad(req, "Invalid page")
        pagelen_, page_ = int(pagelen), int(page)
        chunk, last = page_of(items, page_, pagelen_)
        out: dict[str, Any] = {"pagelen": pagelen_, "size": len(items), "page": page_, "values": chunk}
        if page_ < last:
            out["next"] = str(req.raw.url.copy_set_param("page", page_ + 1))
        if page_ > 1:
            out["previous"] = str(req.raw.url.copy_set_param("page", min(page_ - 1, last)))
        return out

    def _resolve(self, repo: BbRepo, commit: str) -> str | None:
        if commit in repo.branches:
            return repo.branches[commit]
        matches = [c for c in repo.commits if len(commit) >= 4 and c.startswith(commit.lower())]
        return matches[0] if len(matches) == 1 else None

    def _pull_json(self, repo: BbRepo, pull: BbPull, with_participants: bool) -> dict:
        t = self._pull_template
        short, dest_short = pull.source_hash[:12], repo.branches[pull.destination][:12]
        text = json.dumps(t).replace("amuniz/test-repos", repo.full_name)
        text = text.replace(t["source"]["commit"]["hash"], short).replace(
            t["destination"]["commit"]["hash"], dest_short
        )
        for fmt in ("pullrequests/{}", "pull-requests/{}", "from_pullrequest_id={}"):
            text = text.replace(fmt.format(t["id"]), fmt.format(pull.id))
        out = json.loads(text)
        out.update(
            id=pull.id,
            title=pull.title,
            state=pull.state,
            draft=pull.draft,
            created_on=pull.created_on,
            updated_on=pull.updated_on,
        )
        out["author"].update(display_name=pull.author, nickname=pull.author)
        out["source"]["branch"]["name"] = pull.source_branch
        out["destination"]["branch"]["name"] = pull.destination
        out["source"]["repository"]["name"] = out["destination"]["repository"]["name"] = repo.full_name.split("/")[1]
        if with_participants:
            out["participants"] = [self._participant(name, approved) for name, approved in pull.participants.items()]
        return out

    def _participant(self, name: str, approved: bool) -> dict:
        user = copy.deepcopy(self._pull_template["author"])
        user.update(display_name=name, nickname=name)
        return {
            "type": "participant",
            "user": user,
            "role": "REVIEWER",
            "approved": approved,
            "state": "approved" if approved else None,
            "participated_on": iso(micro=True) if approved else None,
        }

    # ---- operations ---------------------------------------------------------------------------
    def _list_pulls(self, req: Request) -> httpx.Response:
        repo = self._repo(req)
        states = [v for k, v in req.query if k == "state"] or ["OPEN"]
        if bad := [s for s in states if s not in PR_STATES]:
            raise self._bad(req, f"Invalid state {bad}; expected one of {list(PR_STATES)}")
        if "q" in req.q:
            raise self._bad(req, "the fake does not implement BBQL `q` filtering")
        sort = req.q.get("sort", "-updated_on")
        attr = sort.lstrip("-")
        if attr not in ("updated_on", "created_on", "id"):
            raise self._bad(req, f"Invalid sort field {sort!r}")
        pulls = sorted(
            (p for p in repo.pulls.values() if p.state in states),
            key=lambda p: getattr(p, attr),
            reverse=sort.startswith("-"),
        )
        body = self._page(req, pulls, max_pagelen=50, allowed={"state", "pagelen", "page", "fields", "sort", "q"})
        with_participants = "participants" in req.q.get("fields", "")
        body["values"] = [self._pull_json(repo, p, with_participants) for p in body["values"]]
        return json_response(200, body)

    def _get_commit(self, req: Request) -> httpx.Response:
        repo = self._repo(req)
        full = self._resolve(repo, req.params["commit"])
        if full is None:
            raise Reply(404, {"type": "error", "error": {"message": f"Commit not found: {req.params['commit']}"}})
        links = {
            "self": {"href": f"{API}/repositories/{repo.full_name}/commit/{full}"},
            "html": {"href": f"https://bitbucket.org/{repo.full_name}/commits/{full}"},
            "statuses": {"href": f"{API}/repositories/{repo.full_name}/commit/{full}/statuses"},
        }
        repository = json.loads(
            json.dumps(self._status_template["repository"]).replace("amuniz/test-repos", repo.full_name)
        )
        repository["name"] = repo.full_name.split("/")[1]
        return json_response(
            200,
            {
                "type": "commit",
                "hash": full,
                "date": iso(micro=True),
                "message": "A commit\n",
                "author": {"type": "author", "raw": "Shiplane Tester <tester@example.com>"},
                "parents": [],
                "links": links,
                "repository": repository,
            },
        )

    def _post_status(self, req: Request) -> httpx.Response:
        repo = self._repo(req)
        commit = req.params["commit"]
        if not HEX40.fullmatch(commit):
            raise self._bad(
                req,
                f"build status posted to {commit!r}, not a full 40-character commit hash",
                {"commit": ["must be the full commit hash"]},
            )
        if commit not in repo.commits:
            self.violation(req, f"no commit {commit} in {repo.full_name}")
            raise Reply(404, {"type": "error", "error": {"message": f"Commit not found: {commit}"}})
        try:
            body = json.loads(req.body)
        except ValueError:
            raise self._bad(req, "body is not JSON") from None
        if not isinstance(body, dict):
            raise self._bad(req, "body must be a JSON object")
        fields: dict[str, list[str]] = {}
        for name in ("key", "state", "url"):
            if not body.get(name):
                fields[name] = ["This field is required."]
        if body.get("state") and body["state"] not in BUILD_STATES:
            fields["state"] = [f"Not a valid choice; expected one of {list(BUILD_STATES)}"]
        if body.get("url") and not is_http_url(body["url"]):
            fields["url"] = ["Enter a valid URL."]
        for name in ("key", "name", "description"):
            if name in body and not isinstance(body[name], str):
                fields[name] = ["Must be a string."]
        if "refname" in body and not isinstance(body["refname"], str | None):
            fields["refname"] = ["Must be a string or null."]
        for name in sorted(set(body) - STATUS_FIELDS):
            fields[name] = ["Unknown field."]
        if fields:
            raise self._bad(req, "; ".join(f"{k}: {v[0]}" for k, v in fields.items()), fields)
        existing = repo.statuses.setdefault(commit, {}).get(body["key"])
        now = iso(micro=True)
        status = existing or self._status_json(repo, commit, body["key"], now)
        status.update(
            state=body["state"],
            url=body["url"],
            updated_on=now,
            name=body.get("name", status.get("name")),
            description=body.get("description", status.get("description") or ""),
            refname=body.get("refname"),
        )
        repo.statuses[commit][body["key"]] = status
        return json_response(201, status)

    def _status_json(self, repo: BbRepo, commit: str, key: str, now: str) -> dict:
        t = self._status_template
        text = (
            json.dumps(t)
            .replace("amuniz/test-repos", repo.full_name)
            .replace(t["commit"]["hash"], commit)
            .replace(t["key"], key)
        )
        out = json.loads(text)
        out["repository"]["name"] = repo.full_name.split("/")[1]
        out.update(key=key, name=None, description="", created_on=now)
        return out

    def _list_statuses(self, req: Request) -> httpx.Response:
        repo = self._repo(req)
        full = self._resolve(repo, req.params["commit"])
        items = self.statuses(repo.full_name, full) if full else []
        return json_response(200, self._page(req, items, max_pagelen=100, allowed={"pagelen", "page", "fields"}))

    def _get_status(self, req: Request) -> httpx.Response:
        repo = self._repo(req)
        full = self._resolve(repo, req.params["commit"])
        status = self.status(repo.full_name, full, req.params["key"]) if full else None
        if status is None:
            raise Reply(404, self.error_body(404))
        return json_response(200, status)

    # ---- branch restrictions ----------------------------------------------------------------
    RESTRICTION_KINDS = ("push", "force", "delete", "restrict_merges", "require_tasks_to_be_completed",
                         "require_approvals_to_merge", "require_default_reviewer_approvals_to_merge",
                         "require_no_changes_requested", "require_passing_builds_to_merge", "require_commits_behind",
                         "reset_pullrequest_approvals_on_change", "smart_reset_pullrequest_approvals",
                         "reset_pullrequest_changes_requested_on_change", "require_all_dependencies_merged",
                         "enforce_merge_checks", "allow_auto_merge_when_builds_pass")
    RESTRICTION_FIELDS = {"type", "kind", "branch_match_kind", "branch_type", "pattern", "value", "users", "groups", "links", "id"}

    def _admin(self) -> None:
        if not self.admin:
            raise Reply(
                403,
                {
                    "type": "error",
                    "error": {
                        "message": "Your credentials lack one or more required privilege scopes.",
                        "detail": {"granted": ["repository", "pullrequest"], "required": ["repository:admin"]},
                    },
                },
            )

    def _restriction_json(self, repo: BbRepo, body: dict, rid: int) -> dict:
        return {
            "type": "branchrestriction",
            "id": rid,
            "kind": body["kind"],
            "branch_match_kind": body.get("branch_match_kind", "glob"),
            "pattern": body.get("pattern", ""),
            "branch_type": body.get("branch_type"),
            "value": body.get("value"),
            "users": list(body.get("users", [])),
            "groups": list(body.get("groups", [])),
            "links": {"self": {"href": f"{API}/repositories/{repo.full_name}/branch-restrictions/{rid}"}},
        }

    def _restriction_body(self, req: Request, *, partial: bool = False) -> dict:
        try:
            body = json.loads(req.body)
        except ValueError:
            raise self._bad(req, "body is not JSON") from None
        if not isinstance(body, dict):
            raise self._bad(req, "body must be a JSON object")
        fields: dict[str, list[str]] = {}
        for name in sorted(set(body) - self.RESTRICTION_FIELDS):
            fields[name] = ["Unknown field."]
        kind = body.get("kind")
        if not partial or "kind" in body:
            if kind not in self.RESTRICTION_KINDS:
                fields["kind"] = [f"Not a valid choice: {kind!r}"]
        match = body.get("branch_match_kind", "glob")
        if match not in ("glob", "branching_model"):
            fields["branch_match_kind"] = ["Not a valid choice."]
        elif match == "glob" and not partial and not body.get("pattern"):
            fields["pattern"] = ["This field is required for glob matching."]
        if kind in ("push", "restrict_merges") and not partial:
            for name in ("users", "groups"):
                if not isinstance(body.get(name), list):
                    fields[name] = ["This field is required (an empty list denies everybody)."]
        if fields:
            raise self._bad(req, "; ".join(f"{k}: {v[0]}" for k, v in fields.items()), fields)
        return body

    def _list_restrictions(self, req: Request) -> httpx.Response:
        repo = self._repo(req)
        self._admin()
        q = req.q
        found = [
            r for r in sorted(repo.restrictions.values(), key=lambda r: r["id"])
            if all(r.get(k) == q[k] for k in ("kind", "pattern") if k in q)
        ]
        return json_response(200, self._page(req, found, max_pagelen=100, allowed={"kind", "pattern", "pagelen", "page", "fields"}))

    def _create_restriction(self, req: Request) -> httpx.Response:
        repo = self._repo(req)
        self._admin()
        body = self._restriction_body(req)
        key = (body["kind"], body.get("branch_match_kind", "glob"), body.get("pattern") or body.get("branch_type"))
        for r in repo.restrictions.values():
            if (r["kind"], r["branch_match_kind"], r["pattern"] or r["branch_type"]) == key:
                raise Reply(409, {"type": "error", "error": {"message": "A branch restriction of this kind and pattern already exists"}})
        restriction = self._restriction_json(repo, body, self.next_id())
        repo.restrictions[restriction["id"]] = restriction
        return json_response(201, restriction)

    def _restriction(self, req: Request, repo: BbRepo) -> dict:
        rid = req.params["rid"]
        found = repo.restrictions.get(int(rid)) if rid.isdigit() else None
        if found is None:
            raise Reply(404, self.error_body(404))
        return found

    def _get_restriction(self, req: Request) -> httpx.Response:
        repo = self._repo(req)
        self._admin()
        return json_response(200, self._restriction(req, repo))

    def _update_restriction(self, req: Request) -> httpx.Response:
        repo = self._repo(req)
        self._admin()
        found = self._restriction(req, repo)
        body = self._restriction_body(req, partial=True)
        updated = self._restriction_json(repo, {**found, **{k: v for k, v in body.items() if k not in ("id", "links", "type")}}, found["id"])
        repo.restrictions[found["id"]] = updated
        return json_response(200, updated)

    def _delete_restriction(self, req: Request) -> httpx.Response:
        repo = self._repo(req)
        self._admin()
        del repo.restrictions[self._restriction(req, repo)["id"]]
        return json_response(204)
