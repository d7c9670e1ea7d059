"""In-process fake of the GitLab REST API v4 (gitlab.example.com/api/v4) as an httpx transport.

Where the shapes come from:
- GitLab's API docs (docs.gitlab.com/api/): "REST API" (`:id` is a numeric id or the URL-encoded
  `namespace%2Fproject` path; offset pagination with `page`, `per_page` <= 100 and the x-page,
  x-per-page, x-next-page, x-prev-page, x-total, x-total-pages and Link headers; `PRIVATE-TOKEN` or
  `Authorization: Bearer`), "Merge requests API" (GET /projects/:id/merge_requests: `state`
  opened|closed|locked|merged|all, `target_branch`, `source_branch`, `order_by`, `sort`, `updated_after`;
  the object fields are those of its example response, with iid, sha, source_branch, target_branch,
  updated_at, draft, detailed_merge_status), and "Commits API" ("Set the pipeline status of a commit":
  POST /projects/:id/statuses/:sha, `state` pending|running|success|failed|canceled|skipped required,
  `name` or `context`, `ref`, `target_url`, `description` (each at most 255 characters), `coverage`,
  `pipeline_id`, sent as query string, form or JSON; "List the statuses of a commit": GET
  /projects/:id/repository/commits/:sha/statuses). Status objects copy that page's example response.
- Behaviour from GitLab's source, lib/api/commit_statuses.rb and the CommitStatus state machine: the
  status updated is the pending/running one with the same name and ref (else a new one is created);
  an impossible transition, e.g. `pending` posted again to a pending status, answers 400 "Cannot
  transition status via :enqueue from :pending ..."; an unknown commit answers 404 "404 Commit Not
  Found"; Grape parameter errors answer 400 {"error": "state does not have a valid value"}.
- "Protected branches API" (docs.gitlab.com/api/protected_branches/): GET, POST (`name`,
  `push_access_level`, `merge_access_level`, `unprotect_access_level`, `allow_force_push`, `allowed_to_*`),
  PATCH ("Update a protected branch", GitLab 15.6+: `allowed_to_push`/`allowed_to_merge`/
  `allowed_to_unprotect` entries of `access_level`, `user_id` or `group_id`; `{"id": ..., "_destroy":
  true}` removes one; an entry without `id` is added, it never replaces: gitlab-org/gitlab#551595) and
  DELETE ("Unprotect repository branches"). Access levels 0 No one, 30 Developers + Maintainers, 40
  Maintainers, 60 Admins. Protecting a branch twice answers 409 "Protected branch 'x' already exists"
  (gitlab-org/gitlab#241605). The API needs the Maintainer role: set `maintainer = False` for 403.
  Merge request objects carry `labels` (a list of names).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

import httpx

from tests.fakes.base import HEX40, FakeForge, Reply, Request, fake_sha, is_http_url, json_response, page_of

STATES = ("pending", "running", "success", "failed", "canceled", "skipped")
# requested state -> (state machine event, states it may come from); "created" is a new status
TRANSITIONS = {
    "pending": ("enqueue", {"created"}),
    "running": ("run", {"created", "pending"}),
    "skipped": ("skip", {"created", "pending"}),
    "success": ("success", {"created", "pending", "running"}),
    "failed": ("drop", {"created", "pending", "running"}),
    "canceled": ("cancel", {"created", "pending", "running"}),
}
MR_STATES = ("opened", "closed", "locked", "merged", "all")
STATUS_PARAMS = {"state", "ref", "name", "context", "target_url", "description", "coverage", "pipeline_id"}
MR_PARAMS = {"state", "target_branch", "source_branch", "order_by", "sort", "page", "per_page", "updated_after", "view"}


@dataclass
class MergeRequest:
    iid: int
    sha: str
    source_branch: str
    target_branch: str = "main"
    updated_at: str = ""
    created_at: str = ""
    draft: bool = False
    detailed_merge_status: str = "mergeable"
    state: str = "opened"
    title: str = ""
    author: str = "tester"
    id: int = 0
    labels: list[str] = field(default_factory=list)


@dataclass
class Project:
    path: str
    id: int
    default_branch: str = "main"
    mrs: dict[int, MergeRequest] = field(default_factory=dict)
    commits: set[str] = field(default_factory=set)
    branches: dict[str, str] = field(default_factory=dict)
    statuses: list[dict] = field(default_factory=list)  # newest first
    protected: dict[str, dict] = field(default_factory=dict)  # branch name -> protected branch object


def _ts(value: datetime | str | None = None) -> str:
    """GitLab's timestamps: 2016-01-19T09:05:50.355Z."""
    if isinstance(value, str):
        return value
    dt = (value or datetime.now(UTC)).astimezone(UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _parse(ts: str) -> datetime:
    dt = datetime.fromisoformat(ts.replace("Z", "+00:00"))
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


class FakeGitLab(FakeForge):
    route_hint = " (is the project path URL-encoded as group%2Fproject?)"

    def __init__(
        self,
        *,
        token: str | Iterable[str] = "glpat-test-token",
        latency: float = 0.0,
        base: str = "https://gitlab.example.com",
        **kw: Any,
    ):
        super().__init__(latency=latency, **kw)
        self.tokens: set[str] = {token} if isinstance(token, str) else set(token)
        self.base = base.rstrip("/")
        self.projects: dict[str, Project] = {}
        self.route("GET", "/api/v4/projects/{id}/merge_requests", self._list_mrs)
        self.route("POST", "/api/v4/projects/{id}/statuses/{sha}", self._post_status)
        self.route("GET", "/api/v4/projects/{id}/repository/commits/{sha}/statuses", self._list_statuses)
        self.route("GET", "/api/v4/projects/{id}/protected_branches/{name}", self._get_protected)
        self.route("POST", "/api/v4/projects/{id}/protected_branches", self._protect)
        self.route("PATCH", "/api/v4/projects/{id}/protected_branches/{name}", self._update_protected)
        self.route("DELETE", "/api/v4/projects/{id}/protected_branches/{name}", self._unprotect)
        self.maintainer = True  # False: the token's user is not a Maintainer (protected branches answer 403)

    # ---- state helpers ------------------------------------------------------------------------
    def add_project(self, path: str, *, id: int | None = None, default_branch: str = "main") -> Project:
        if path not in self.projects:
            project = Project(path, id or self.next_id(), default_branch)
            project.branches[default_branch] = fake_sha(path, default_branch)
            project.commits.add(project.branches[default_branch])
            self.projects[path] = project
        return self.projects[path]

    def add_commit(self, project: str, sha: str, *, branch: str | None = None) -> None:
        if not HEX40.fullmatch(sha):
            raise ValueError(f"not a full lowercase SHA: {sha!r}")
        p = self.add_project(project)
        p.commits.add(sha)
        if branch:
            p.branches[branch] = sha

    def add_mr(
        self,
        project: str,
        iid: int,
        sha: str,
        source_branch: str | None = None,
        target_branch: str = "main",
        updated_at: datetime | str | None = None,
        draft: bool = False,
        *,
        detailed_merge_status: str | None = None,
        title: str | None = None,
        author: str = "tester",
        created_at: datetime | str | None = None,
        labels: Iterable[str] = (),
    ) -> MergeRequest:
        source_branch = source_branch or f"feature-{iid}"
        self.add_commit(project, sha, branch=source_branch)
        target_sha = self.projects[project].branches.setdefault(target_branch, fake_sha(project, target_branch))
        self.projects[project].commits.add(target_sha)
        updated = _ts(updated_at)
        created = _ts(created_at) if created_at else updated
        mr = MergeRequest(
            iid=iid,
            sha=sha,
            source_branch=source_branch,
            target_branch=target_branch,
            updated_at=updated,
            created_at=created,
            draft=draft,
            detailed_merge_status=detailed_merge_status or ("draft_status" if draft else "mergeable"),
            title=title or (f"Draft: MR {iid}" if draft else f"MR {iid}"),
            author=author,
            id=self.next_id(),
            labels=list(labels),
        )
        self.projects[project].mrs[iid] = mr
        return mr

    def close_mr(self, project: str, iid: int, *, state: str = "merged") -> MergeRequest:
        mr = self.projects[project].mrs[iid]
        mr.state, mr.updated_at, mr.detailed_merge_status = state, _ts(), "not_open"
        return mr

    def statuses(self, project: str, sha: str) -> list[dict]:
        """Statuses on the commit, newest first (the objects the API returned, kept up to date)."""
        return [s for s in self.projects[project].statuses if s["sha"] == sha]

    def latest_status(self, project: str, sha: str, name: str = "default", ref: str | None = None) -> dict | None:
        return next((s for s in self.statuses(project, sha) if s["name"] == name and ref in (None, s["ref"])), None)

    def protect(self, project: str, branch: str, *, push: int = 40, merge: list[dict] | None = None) -> dict:
        """Protect a branch by hand (merge: access level entries, e.g. [{"access_level": 40}, {"user_id": 7}])."""
        p = self.add_project(project)
        p.protected[branch] = self._protection_json(branch, push, merge or [{"access_level": 40}])
        return copy.deepcopy(p.protected[branch])

    def protection(self, project: str, branch: str) -> dict | None:
        found = self.projects[project].protected.get(branch)
        return copy.deepcopy(found) if found else None

    def merge_blocked(self, project: str, branch: str) -> bool:
        """No one may merge: the branch is protected and every merge access level is 0 (No one)."""
        found = self.projects[project].protected.get(branch)
        levels = found["merge_access_levels"] if found else []
        return bool(levels) and all(e["access_level"] == 0 and not e["user_id"] and not e["group_id"] for e in levels)

    # ---- base hooks ---------------------------------------------------------------------------
    def error_body(self, status: int) -> dict:
        return {"message": f"{status} {httpx.codes.get_reason_phrase(status)}"}

    def authenticate(self, req: Request) -> Any:
        token = req.header("private-token")
        scheme, _, bearer = (req.header("authorization") or "").partition(" ")
        if token is None and scheme.lower() == "bearer":
            token = bearer.strip()
        if token not in self.tokens:
            raise Reply(401, {"message": "401 Unauthorized"})
        return token

    # ---- helpers --------------------------------------------------------------------------------
    def _project(self, req: Request) -> Project:
        ident = req.params["id"]
        found = (
            next((p for p in self.projects.values() if str(p.id) == ident), None)
            if ident.isdigit()
            else self.projects.get(ident)
        )
        if found is None:
            raise Reply(404, {"message": "404 Project Not Found"})
        return found

    def _bad(self, req: Request, error: Any, key: str = "error") -> Reply:
        self.violation(req, json.dumps(error) if not isinstance(error, str) else error)
        return Reply(400, {key: error})

    def _paged(self, req: Request, items: list) -> tuple[list, dict[str, str]]:
        q = req.q
        page, per_page = q.get("page", "1"), q.get("per_page", "20")
        for name, value in (("page", page), ("per_page", per_page)):
            if not value.isdigit() or int(value) < 1 or (name == "per_page" and int(value) > 100):
                raise self._bad(req, f"{name} does not have a valid value")
        page_, per_page_ = int(page), int(per_page)
        chunk, last = page_of(items, page_, per_page_)
        url = req.raw.url
        headers = {
            "x-page": str(page_),
            "x-per-page": str(per_page_),
            "x-total": str(len(items)),
            "x-total-pages": str(last),
            "x-next-page": str(page_ + 1) if page_ < last else "",
            "x-prev-page": str(page_ - 1) if page_ > 1 else "",
        }
        links = [f'<{url.copy_set_param("page", page_ - 1)}>; rel="prev"'] if page_ > 1 else []
        links += [f'<{url.copy_set_param("page", page_ + 1)}>; rel="next"'] if page_ < last else []
        links += [
            f'<{url.copy_set_param("page", 1)}>; rel="first"',
            f'<{url.copy_set_param("page", last)}>; rel="last"',
        ]
        headers["link"] = ", ".join(links)
        return chunk, headers

    def _user(self, username: str) -> dict:
        return {
            "id": int(fake_sha(username)[:6], 16),
            "username": username,
            "name": username.title(),
            "state": "active",
            "avatar_url": f"{self.base}/uploads/-/system/user/avatar/{username}.png",
            "web_url": f"{self.base}/{username}",
        }

    def _mr_json(self, project: Project, mr: MergeRequest) -> dict:
        ref = f"{project.path}!{mr.iid}"
        return {
            "id": mr.id,
            "iid": mr.iid,
            "project_id": project.id,
            "title": mr.title,
            "description": "",
            "state": mr.state,
            "created_at": mr.created_at,
            "updated_at": mr.updated_at,
            "merged_by": None,
            "merge_user": None,
            "merged_at": mr.updated_at if mr.state == "merged" else None,
            "closed_by": None,
            "closed_at": mr.updated_at if mr.state == "closed" else None,
            "target_branch": mr.target_branch,
            "source_branch": mr.source_branch,
            "user_notes_count": 0,
            "upvotes": 0,
            "downvotes": 0,
            "author": self._user(mr.author),
            "assignees": [],
            "assignee": None,
            "reviewers": [],
            "source_project_id": project.id,
            "target_project_id": project.id,
            "labels": list(mr.labels),
            "draft": mr.draft,
            "work_in_progress": mr.draft,
            "milestone": None,
            "merge_when_pipeline_succeeds": False,
            "merge_status": "can_be_merged" if mr.detailed_merge_status == "mergeable" else "cannot_be_merged",
            "detailed_merge_status": mr.detailed_merge_status,
            "sha": mr.sha,
            "merge_commit_sha": None,
            "squash_commit_sha": None,
            "discussion_locked": None,
            "should_remove_source_branch": None,
            "force_remove_source_branch": False,
            "prepared_at": mr.created_at,
            "reference": f"!{mr.iid}",
            "references": {"short": f"!{mr.iid}", "relative": f"!{mr.iid}", "full": ref},
            "web_url": f"{self.base}/{project.path}/-/merge_requests/{mr.iid}",
            "time_stats": {
                "time_estimate": 0,
                "total_time_spent": 0,
                "human_time_estimate": None,
                "human_total_time_spent": None,
            },
            "squash": False,
            "squash_on_merge": False,
            "task_completion_status": {"count": 0, "completed_count": 0},
            "has_conflicts": mr.detailed_merge_status == "conflict",
            "blocking_discussions_resolved": True,
        }

    def _resolve(self, project: Project, sha: str) -> str | None:
        if sha in project.branches:
            return project.branches[sha]
        matches = [c for c in project.commits if len(sha) >= 7 and c.startswith(sha)]
        return matches[0] if len(matches) == 1 else None

    # ---- operations ---------------------------------------------------------------------------
    def _list_mrs(self, req: Request) -> httpx.Response:
        project = self._project(req)
        q = req.q
        if extra := sorted({k for k, _ in req.query} - MR_PARAMS):
            raise self._bad(req, f"unknown query parameters {extra}")
        state, order_by, sort = q.get("state", "all"), q.get("order_by", "created_at"), q.get("sort", "desc")
        for name, value, allowed in (
            ("state", state, MR_STATES),
            ("order_by", order_by, ("created_at", "updated_at")),
            ("sort", sort, ("asc", "desc")),
        ):
            if value not in allowed:
                raise self._bad(req, f"{name} does not have a valid value")
        mrs = [m for m in project.mrs.values() if state == "all" or m.state == state]
        for name in ("target_branch", "source_branch"):
            if name in q:
                mrs = [m for m in mrs if getattr(m, name) == q[name]]
        if "updated_after" in q:
            try:
                after = _parse(q["updated_after"])
            except ValueError:
                raise self._bad(req, "updated_after is invalid") from None
            mrs = [m for m in mrs if _parse(m.updated_at) >= after]
        mrs.sort(key=lambda m: (_parse(getattr(m, order_by)), m.id), reverse=sort == "desc")
        chunk, headers = self._paged(req, mrs)
        return json_response(200, [self._mr_json(project, m) for m in chunk], headers)

    def _params(self, req: Request) -> dict[str, Any]:
        params: dict[str, Any] = dict(req.query)
        if req.body:
            if "json" in (req.header("content-type") or ""):
                try:
                    body = json.loads(req.body)
                except ValueError:
                    raise self._bad(req, "body is not JSON", "message") from None
                if not isinstance(body, dict):
                    raise self._bad(req, "body must be a JSON object", "message")
                params.update(body)
            else:
                params.update(parse_qsl(req.body.decode(), keep_blank_values=True))
        return params

    def _post_status(self, req: Request) -> httpx.Response:
        project = self._project(req)
        params = self._params(req)
        if extra := sorted(set(params) - STATUS_PARAMS):
            raise self._bad(req, f"unknown parameters {extra}")
        state = params.get("state")
        if state is None:
            raise self._bad(req, "state is missing, state does not have a valid value")
        if state not in STATES:
            raise self._bad(req, "state does not have a valid value")
        problems: dict[str, list[str]] = {}
        for name in ("ref", "name", "context", "target_url", "description"):
            value = params.get(name)
            if value is not None and not isinstance(value, str):
                problems[name] = ["is invalid"]
            elif value is not None and len(value) > 255:
                problems[name] = ["is too long (maximum is 255 characters)"]
        if params.get("target_url") and not is_http_url(params["target_url"]):
            problems["target_url"] = ["is blocked: Only allowed schemes are http, https"]
        for name, kind in (("coverage", float), ("pipeline_id", int)):
            if name in params:
                try:
                    params[name] = kind(params[name])
                except (TypeError, ValueError):
                    problems[name] = ["is invalid"]
        if problems:
            raise self._bad(req, problems, "message")
        sha = self._resolve(project, req.params["sha"])
        if sha is None:
            self.violation(req, f"no commit {req.params['sha']} in {project.path}")
            raise Reply(404, {"message": "404 Commit Not Found"})
        ref = params.get("ref") or next((b for b, s in project.branches.items() if s == sha), None)
        if ref is None:
            raise Reply(404, {"message": "404 References for commit Not Found"})
        name = params.get("name") or params.get("context") or "default"
        current = next(
            (
                s
                for s in project.statuses
                if (s["sha"], s["name"], s["ref"]) == (sha, name, ref) and s["status"] in ("pending", "running")
            ),
            None,
        )
        event, sources = TRANSITIONS[state]
        source = current["status"] if current else "created"
        if source not in sources:
            raise Reply(
                400,
                {
                    "message": f"Cannot transition status via :{event} from :{source} "
                    f'(Reason(s): Status cannot transition via "{event}")'
                },
            )
        now = _ts()
        status = current or {
            "id": self.next_id(),
            "sha": sha,
            "ref": ref,
            "name": name,
            "target_url": None,
            "description": None,
            "created_at": now,
            "started_at": None,
            "finished_at": None,
            "allow_failure": False,
            "coverage": None,
            "pipeline_id": params.get("pipeline_id") or int(fake_sha(project.path, sha, ref)[:6], 16),
            "author": self._user("shiplane-bot"),
        }
        status["status"] = state
        for key in ("target_url", "description", "coverage"):
            if key in params:
                status[key] = params[key]
        if state == "running" and not status["started_at"]:
            status["started_at"] = now
        if state in ("success", "failed", "canceled", "skipped"):
            status["finished_at"] = now
        if current is None:
            project.statuses.insert(0, status)
        return json_response(201, status)

    def _list_statuses(self, req: Request) -> httpx.Response:
        project = self._project(req)
        q = req.q
        if extra := sorted({k for k, _ in req.query} - {"ref", "name", "all", "page", "per_page", "sort"}):
            raise self._bad(req, f"unknown query parameters {extra}")
        sha = self._resolve(project, req.params["sha"])
        if sha is None:
            raise Reply(404, {"message": "404 Commit Not Found"})
        found = [
            s
            for s in reversed(project.statuses)
            if s["sha"] == sha and all(s[k] == q[k] for k in ("ref", "name") if k in q)
        ]
        if q.get("all") != "true":  # only the latest per name and ref
            latest = {(s["name"], s["ref"]): s for s in found}
            found = [s for s in found if latest[(s["name"], s["ref"])] is s]
        if q.get("sort") == "desc":
            found.reverse()
        chunk, headers = self._paged(req, found)
        return json_response(200, chunk, headers)

    # ---- protected branches -----------------------------------------------------------------
    LEVELS = {0: "No one", 30: "Developers + Maintainers", 40: "Maintainers", 60: "Admins"}

    def _access(self, entry: dict) -> dict:
        out = {"id": self.next_id(), "access_level": 40, "access_level_description": "", "user_id": None, "group_id": None}
        if entry.get("user_id") is not None:
            out.update(user_id=entry["user_id"], access_level_description=f"User {entry['user_id']}")
        elif entry.get("group_id") is not None:
            out.update(group_id=entry["group_id"], access_level_description=f"Group {entry['group_id']}")
        else:
            level = entry.get("access_level")
            out.update(access_level=level, access_level_description=self.LEVELS.get(level, str(level)))
        return out

    def _protection_json(self, branch: str, push: int, merge: list[dict]) -> dict:
        return {
            "id": self.next_id(),
            "name": branch,
            "push_access_levels": [self._access({"access_level": push}) | {"deploy_key_id": None}],
            "merge_access_levels": [self._access(e) for e in merge],
            "unprotect_access_levels": [],
            "allow_force_push": False,
            "code_owner_approval_required": False,
        }

    def _maintainer(self, req: Request) -> None:
        if not self.maintainer:
            raise Reply(403, {"message": "403 Forbidden"})

    def _levels_problem(self, entries: Any, *, updating: bool) -> str | None:
        if not isinstance(entries, list):
            return "must be an array"
        for e in entries:
            if not isinstance(e, dict):
                return "entries must be objects"
            keys = set(e) - {"id", "_destroy"} if updating else set(e)
            if updating and e.get("_destroy") and "id" not in e:
                return "_destroy needs the id of an access level"
            if updating and e.get("_destroy"):
                continue
            given = keys & {"access_level", "user_id", "group_id"}
            if len(given) != 1 or keys - given:
                return f"each entry needs exactly one of access_level, user_id, group_id (got {sorted(e)})"
            if "access_level" in e and e["access_level"] not in self.LEVELS:
                return "access_level does not have a valid value"
        return None

    def _get_protected(self, req: Request) -> httpx.Response:
        project = self._project(req)
        self._maintainer(req)
        found = project.protected.get(req.params["name"])
        if found is None:
            raise Reply(404, {"message": "404 Not found"})
        return json_response(200, found)

    def _protect(self, req: Request) -> httpx.Response:
        project = self._project(req)
        self._maintainer(req)
        params = self._params(req)
        allowed = {"name", "push_access_level", "merge_access_level", "unprotect_access_level", "allow_force_push",
                   "allowed_to_push", "allowed_to_merge", "allowed_to_unprotect", "code_owner_approval_required"}
        if extra := sorted(set(params) - allowed):
            raise self._bad(req, f"unknown parameters {extra}")
        name = params.get("name")
        if not name:
            raise self._bad(req, "name is missing")
        if name in project.protected:
            raise Reply(409, {"message": f"Protected branch '{name}' already exists"})
        for key in ("push_access_level", "merge_access_level"):
            if key in params and int(params[key]) not in self.LEVELS:
                raise self._bad(req, f"{key} does not have a valid value")
        merge = params.get("allowed_to_merge") or [{"access_level": int(params.get("merge_access_level", 40))}]
        found = self._protection_json(name, int(params.get("push_access_level", 40)), merge)
        found["allow_force_push"] = params.get("allow_force_push") in (True, "true")
        project.protected[name] = found
        return json_response(201, found)

    def _update_protected(self, req: Request) -> httpx.Response:
        project = self._project(req)
        self._maintainer(req)
        found = project.protected.get(req.params["name"])
        if found is None:
            raise Reply(404, {"message": "404 Not found"})
        params = self._params(req)
        allowed = {"name", "allow_force_push", "code_owner_approval_required", "allowed_to_push", "allowed_to_merge", "allowed_to_unprotect"}
        if extra := sorted(set(params) - allowed):
            raise self._bad(req, f"unknown parameters {extra}")
        for key, field_ in (("allowed_to_push", "push_access_levels"), ("allowed_to_merge", "merge_access_levels"),
                            ("allowed_to_unprotect", "unprotect_access_levels")):
            if key not in params:
                continue
            if problem := self._levels_problem(params[key], updating=True):
                raise self._bad(req, f"{key}: {problem}")
            levels = found[field_]
            ids = {e["id"] for e in levels}
            for entry in params[key]:
                if entry.get("_destroy"):
                    if entry["id"] not in ids:
                        raise self._bad(req, f"{key}: no access level {entry['id']}")
                    levels[:] = [e for e in levels if e["id"] != entry["id"]]
                elif "id" in entry:
                    raise self._bad(req, f"{key}: the fake only adds and destroys access levels")
                else:
                    levels.append(self._access(entry))
        for key in ("allow_force_push", "code_owner_approval_required"):
            if key in params:
                found[key] = params[key] in (True, "true")
        return json_response(200, found)

    def _unprotect(self, req: Request) -> httpx.Response:
        project = self._project(req)
        self._maintainer(req)
        if project.protected.pop(req.params["name"], None) is None:
            raise Reply(404, {"message": "404 Not found"})
        return json_response(204)
