"""In-process fake of the GitHub REST API (api.github.com) as an httpx transport.

Where the shapes come from:
- Requests are validated against GitHub's official OpenAPI description, cut down to the operations
  Shiplane uses (npm @octokit/openapi 23.0.2, ../shared/data/github/rest-openapi-subset.json): the
  operation is found by method + path template, path and query parameters are checked against their
  schemas (types, enums; `per_page` <= 100 as the spec's text says) and the JSON body against the
  operation's requestBody schema (OpenAPI 3.0 `nullable` translated to JSON Schema; top-level
  properties the schema does not name are flagged too).
- Response objects are built from the examples in that same file and checked against its response
  schemas: a response that does not validate is a bug in the fake and raises AssertionError.
- Not in the subset, from docs.github.com: `POST /app/installations/{installation_id}/access_tokens`
  ("Generating an installation access token for a GitHub App"; JWT rules from "Generating a JSON Web
  Token (JWT) for a GitHub App": RS256, `iss` = app id, `iat`, `exp` at most 10 minutes ahead), error
  bodies, and rate limits ("Rate limits for the REST API": primary limit = 403/429 with
  `x-ratelimit-remaining: 0` and `x-ratelimit-reset`; secondary = 403/429 with `retry-after`).
- Behaviour from the REST docs: check runs and the deployment-protection-rule callback need a GitHub
  App installation token; a commit status needs an existing full SHA, a description of at most 140
  characters and an http(s) target_url; creating a deployment verifies the ref's commit statuses
  (all contexts, or `required_contexts`) and answers 409 when they are not all `success`.
- Rulesets ("REST API endpoints for rules", docs.github.com/rest/repos/rules): creating, updating and
  deleting a repository ruleset needs admin access (fine-grained tokens and apps: the "Administration"
  repository permission, write); without it the fake answers 403 "Resource not accessible by ..."
  with no Retry-After (set `admin = False`). Reading them needs read access only. A repository's
  rulesets have unique names (the fake answers 422 to a second one of the same name). Ruleset objects
  are built from the description's `repository-ruleset` example. `merge_blocked()` evaluates the
  active rulesets as GitHub does for a merge: a rule of type `update` on a ref that the ruleset's
  `conditions.ref_name` includes (fnmatch patterns, `~DEFAULT_BRANCH`, `~ALL`) blocks everyone but
  its bypass actors ("Available rules for rulesets": "Restrict updates").
- Labels of a pull request are its issue's labels ("REST API endpoints for labels"); pull request
  objects carry them (`labels`, built from the `label-items` example).
- An operation of the description that the fake does not implement is a violation and a 501.
"""

from __future__ import annotations

import base64
import copy
import fnmatch
import functools
import json
import re
import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import jsonschema_rs
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

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
    template_regex,
)

API = "https://api.github.com"
DOCS = "https://docs.github.com/rest"
API_VERSIONS = ("2022-11-28", "2026-03-10")
SECONDARY_LIMIT_MESSAGE = (
    "You have exceeded a secondary rate limit. Please wait a few minutes before you try again. "
    "If you reach out to GitHub Support for help, please include the request ID 0000:0000:0000000:0000000:00000000."
)


# ---- the OpenAPI description ------------------------------------------------------------------
def _nullable(node: Any) -> Any:
    """OpenAPI 3.0 schema -> JSON Schema: `nullable: true` becomes a union with null."""
    if isinstance(node, list):
        return [_nullable(x) for x in node]
    if not isinstance(node, dict):
        return node
    out = {k: _nullable(v) for k, v in node.items()}
    if out.pop("nullable", False) is True:
        if "type" in out:
            out["type"] = [out["type"], "null"]
            if "enum" in out:
                out["enum"] = [*out["enum"], None]
        else:
            out = {"anyOf": [out, {"type": "null"}]}
    return out


@dataclass
class Operation:
    op_id: str
    method: str
    template: str
    regex: re.Pattern[str]
    params: dict[tuple[str, str], dict]  # (in, name) -> parameter object
    body: dict | None  # requestBody schema
    body_required: bool
    body_keys: set[str] | None  # top-level properties the body may carry
    responses: dict[str, dict]  # status -> JSON schema


class Spec:
    def __init__(self, doc: dict):
        self.doc = doc
        self.components = {"schemas": _nullable(doc["components"]["schemas"])}
        self.operations: list[Operation] = []
        for template, item in doc["paths"].items():
            for method, op in item.items():
                params = [self.resolve(p) for p in op.get("parameters", [])]
                multi = [p["name"] for p in params if p.get("x-multi-segment")]
                body = op.get("requestBody", {})
                schema = body.get("content", {}).get("application/json", {}).get("schema")
                responses = {}
                for status, resp in op["responses"].items():
                    content = self.resolve(resp).get("content", {}).get("application/json")
                    if content:
                        responses[status] = content["schema"]
                self.operations.append(
                    Operation(
                        op["operationId"],
                        method.upper(),
                        template,
                        template_regex(template, multi),
                        {(p["in"], p["name"]): p for p in params},
                        schema,
                        bool(body.get("required")),
                        self._keys(schema) if schema else None,
                        responses,
                    )
                )

    def resolve(self, node: dict) -> dict:
        while "$ref" in node:
            target: Any = self.doc
            for part in node["$ref"].removeprefix("#/").split("/"):
                target = target[part]
            node = target
        return node

    def _keys(self, schema: dict) -> set[str] | None:
        schema = self.resolve(schema)
        if "properties" in schema:
            return set(schema["properties"])
        branches = schema.get("anyOf") or schema.get("oneOf")
        if branches:
            keys = [self._keys(b) for b in branches]
            return None if None in keys else set().union(*keys)
        return None

    @functools.cache  # noqa: B019 - one Spec per process
    def _validator(self, schema_json: str) -> Any:
        schema = {"allOf": [_nullable(json.loads(schema_json))], "components": self.components}
        return jsonschema_rs.Draft4Validator(schema)

    def errors(self, schema: dict, instance: Any) -> list[str]:
        validator = self._validator(json.dumps(schema, sort_keys=True))
        return [
            f"{'/'.join(map(str, e.instance_path)) or 'body'}: {e.message}" for e in validator.iter_errors(instance)
        ]

    def example(self, name: str) -> Any:
        return copy.deepcopy(self.doc["components"]["examples"][name]["value"])


@functools.cache
def spec() -> Spec:
    return Spec(load_json("github/rest-openapi-subset.json"))


# ---- state ------------------------------------------------------------------------------------
@dataclass
class Pull:
    number: int
    head_sha: str
    base: str = "main"
    head_ref: str = ""
    updated_at: str = ""
    created_at: str = ""
    draft: bool = False
    state: str = "open"  # open | closed
    user: str = "octocat"
    title: str = ""
    merged_at: str | None = None
    merge_commit_sha: str | None = None
    closed_at: str | None = None
    labels: list[str] = field(default_factory=list)


@dataclass
class Repo:
    full_name: str
    id: int
    default_branch: str = "main"
    pulls: dict[int, Pull] = field(default_factory=dict)
    commits: set[str] = field(default_factory=set)
    branches: dict[str, str] = field(default_factory=dict)  # name -> sha
    statuses: dict[str, list[dict]] = field(default_factory=dict)  # sha -> newest first
    check_runs: dict[int, dict] = field(default_factory=dict)
    deployments: dict[int, dict] = field(default_factory=dict)
    deployment_statuses: dict[int, list[dict]] = field(default_factory=dict)  # newest first
    comparisons: dict[str, dict] = field(default_factory=dict)  # "base...head" -> {commits, status}
    rulesets: dict[int, dict] = field(default_factory=dict)  # id -> the ruleset as created or updated

    @property
    def owner(self) -> str:
        return self.full_name.split("/")[0]


@dataclass
class InstallationToken:
    installation_id: int
    expires_at: float  # epoch seconds


def make_app_keypair() -> tuple[str, str]:
    """A fresh RSA key for a fake GitHub App: (private PEM, public PEM)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private, public


def _to_iso(value: datetime | str | None) -> str:
    return value if isinstance(value, str) else iso(value)


def _node_id(kind: str, n: int) -> str:
    return base64.b64encode(f"0{len(kind)}:{kind}{n}".encode()).decode()


# ---- the fake -----------------------------------------------------------------------------------
class FakeGitHub(FakeForge):
    def __init__(
        self,
        *,
        token: str | Iterable[str] = "ghp_test_token",
        app_id: int | None = None,
        app_public_key: str | bytes | None = None,
        installation_ids: Iterable[int] = (1,),
        latency: float = 0.0,
        validate_responses: bool = True,
        **kw: Any,
    ):
        super().__init__(latency=latency, **kw)
        self.spec = spec()
        self.tokens: set[str] = {token} if isinstance(token, str) else set(token)
        self.app_id = app_id
        self.app_public_key = app_public_key
        self.installation_ids = set(installation_ids)
        self.installation_tokens: dict[str, InstallationToken] = {}
        self.validate_responses = validate_responses
        self.repos: dict[str, Repo] = {}
        self.reviews: list[dict] = []  # deployment protection rule callbacks
        self.ratelimit_limit = 5000
        self.ratelimit_remaining: int | None = None  # set an int to count down; 0 -> primary limit
        self.ratelimit_reset = int(time.time()) + 3600
        self.admin = True  # False: the token or app lacks the Administration permission (rulesets answer 403)
        self.route("POST", "/app/installations/{installation_id}/access_tokens", self._access_token)
        for op in self.spec.operations:
            self.routes.append((op.method, op.regex, functools.partial(self._operation, op)))

    # ---- state helpers ------------------------------------------------------------------------
    def add_repo(self, full_name: str, *, default_branch: str = "main") -> Repo:
        key = full_name.lower()
        if key not in self.repos:
            repo = Repo(full_name, self.next_id(), default_branch)
            repo.branches[default_branch] = fake_sha(full_name, default_branch)
            repo.commits.add(repo.branches[default_branch])
            self.repos[key] = repo
        return self.repos[key]

    def repo(self, full_name: str) -> Repo:
        return self.repos[full_name.lower()]

    def add_commit(self, repo: str, sha: str, *, branch: str | None = None) -> None:
        if not HEX40.fullmatch(sha):
            raise ValueError(f"not a full lowercase SHA: {sha!r}")
        r = self.add_repo(repo)
        r.commits.add(sha)
        if branch:
            r.branches[branch] = sha

    def add_pull(
        self,
        repo: str,
        number: int,
        head_sha: str,
        base: str = "main",
        updated_at: datetime | str | None = None,
        draft: bool = False,
        *,
        head_ref: str | None = None,
        user: str = "octocat",
        title: str | None = None,
        created_at: datetime | str | None = None,
    ) -> Pull:
        head_ref = head_ref or f"feature-{number}"
        self.add_commit(repo, head_sha, branch=head_ref)
        r = self.repo(repo)
        r.branches.setdefault(base, fake_sha(repo, base))
        r.commits.add(r.branches[base])
        updated = _to_iso(updated_at)
        pull = Pull(
            number=number,
            head_sha=head_sha,
            base=base,
            head_ref=head_ref,
            updated_at=updated,
            created_at=_to_iso(created_at) if created_at else updated,
            draft=draft,
            user=user,
            title=title or f"Pull request #{number}",
        )
        r.pulls[number] = pull
        return pull

    def close_pull(self, repo: str, number: int, *, merged: bool = False) -> Pull:
        pull = self.repo(repo).pulls[number]
        pull.state, pull.closed_at = "closed", iso()
        pull.updated_at = pull.closed_at
        if merged:
            pull.merged_at, pull.merge_commit_sha = pull.closed_at, fake_sha(repo, number, "merge")
        return pull

    def set_compare(self, repo: str, base: str, head: str, commits: list[str], *, behind_by: int = 0) -> None:
        """Make `GET /repos/{repo}/compare/{base}...{head}` answer with `commits` (oldest first)."""
        status = {(False, False): "identical", (True, False): "ahead", (False, True): "behind"}.get(
            (bool(commits), bool(behind_by)), "diverged"
        )
        self.add_repo(repo).comparisons[f"{base}...{head}"] = {
            "commits": commits,
            "behind_by": behind_by,
            "status": status,
        }

    def statuses(self, repo: str, sha: str) -> list[dict]:
        """Commit statuses posted to `sha`, newest first (the objects the API returned)."""
        return list(self.repo(repo).statuses.get(sha, []))

    def latest_status(self, repo: str, sha: str, context: str) -> dict | None:
        return next((s for s in self.statuses(repo, sha) if s["context"].lower() == context.lower()), None)

    def add_label(self, repo: str, number: int, *names: str) -> Pull:
        pull = self.repo(repo).pulls[number]
        pull.labels += [n for n in names if n.lower() not in {x.lower() for x in pull.labels}]
        pull.updated_at = iso()
        return pull

    def remove_label(self, repo: str, number: int, name: str) -> Pull:
        pull = self.repo(repo).pulls[number]
        pull.labels = [x for x in pull.labels if x.lower() != name.lower()]
        pull.updated_at = iso()
        return pull

    def add_ruleset(self, repo: str, body: dict) -> dict:
        """A ruleset someone else made (by hand, another tool): as the create operation would store it."""
        return self._store_ruleset(self.add_repo(repo), dict(body))

    def rulesets(self, repo: str) -> list[dict]:
        return [copy.deepcopy(r) for r in self.repo(repo).rulesets.values()]

    def delete_ruleset(self, repo: str, ruleset_id: int) -> None:
        """By hand, in the settings page."""
        del self.repo(repo).rulesets[ruleset_id]

    def merge_blocked(self, repo: str, branch: str, *, actor: tuple[str, int | None] | None = None) -> bool:
        """Would a merge into `branch` be refused by an active ruleset (for `actor`, an (actor_type, actor_id))?"""
        r = self.repo(repo)
        ref = f"refs/heads/{branch}"
        for ruleset in r.rulesets.values():
            if ruleset.get("enforcement") != "active" or ruleset.get("target", "branch") != "branch":
                continue
            if not any(rule.get("type") == "update" for rule in ruleset.get("rules") or []):
                continue
            names = (ruleset.get("conditions") or {}).get("ref_name") or {}
            patterns = [ref if p == "~DEFAULT_BRANCH" and branch == r.default_branch else p for p in names.get("include") or []]
            included = "~ALL" in patterns or any(fnmatch.fnmatchcase(ref, p) for p in patterns)
            excluded = any(fnmatch.fnmatchcase(ref, p) for p in names.get("exclude") or [])
            bypass = {(a.get("actor_type"), a.get("actor_id")) for a in ruleset.get("bypass_actors") or []}
            if included and not excluded and (actor is None or actor not in bypass):
                return True
        return False

    def revoke_token(self, token: str) -> None:
        """From now on the token answers 401 Bad credentials."""
        self.tokens.discard(token)
        self.installation_tokens.pop(token, None)

    def expire_installation_tokens(self) -> None:
        for t in self.installation_tokens.values():
            t.expires_at = 0

    # ---- fault helpers ------------------------------------------------------------------------
    def secondary_rate_limit_next(
        self, count: int = 1, *, retry_after: int = 60, status: int = 403, match: str | None = None
    ) -> None:
        body = {
            "message": SECONDARY_LIMIT_MESSAGE,
            "documentation_url": f"{DOCS}/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits",
            "status": str(status),
        }
        self.fail_next(count, status, {"retry-after": str(retry_after)}, body, match=match)

    def primary_rate_limit_next(
        self, count: int = 1, *, reset_in: int = 60, status: int = 403, match: str | None = None
    ) -> None:
        reset = int(time.time()) + reset_in
        self.fail_next(count, status, self._ratelimit_headers(0, reset), self._primary_body(status), match=match)

    def _ratelimit_headers(self, remaining: int, reset: int) -> dict[str, str]:
        return {
            "x-ratelimit-limit": str(self.ratelimit_limit),
            "x-ratelimit-remaining": str(remaining),
            "x-ratelimit-used": str(self.ratelimit_limit - remaining),
            "x-ratelimit-reset": str(reset),
            "x-ratelimit-resource": "core",
        }

    def _primary_body(self, status: int) -> dict:
        return {
            "message": "API rate limit exceeded for installation ID 1.",
            "documentation_url": f"{DOCS}/overview/rate-limits-for-the-rest-api#about-primary-rate-limits",
            "status": str(status),
        }

    # ---- base hooks -----------------------------------------------------------------------------
    def error_body(self, status: int) -> dict:
        messages = {
            401: "Bad credentials",
            404: "Not Found",
            500: "Server Error",
            502: "Server Error",
            503: "Service Unavailable",
        }
        return {
            "message": messages.get(status, httpx.codes.get_reason_phrase(status)),
            "documentation_url": DOCS,
            "status": str(status),
        }

    def counts_as_write(self, request: httpx.Request) -> bool:
        return not request.url.path.startswith("/app/")

    def decorate(self, response: httpx.Response) -> httpx.Response:
        if self.ratelimit_remaining is not None and "x-ratelimit-remaining" not in response.headers:
            response.headers.update(self._ratelimit_headers(self.ratelimit_remaining, self.ratelimit_reset))
        return response

    def authenticate(self, req: Request) -> Any:
        if not req.header("user-agent"):
            self.violation(req, "no User-Agent header")
            raise Reply(
                403,
                {
                    "message": "Request forbidden by administrative rules. "
                    "Please make sure your request has a User-Agent header."
                },
            )
        version = req.header("x-github-api-version")
        if version is not None and version not in API_VERSIONS:
            self.violation(req, f"unsupported X-GitHub-Api-Version {version!r}")
            raise Reply(
                400,
                {
                    "message": f"Unsupported 'X-GitHub-Api-Version' header '{version}'. "
                    f"The supported versions are: {', '.join(API_VERSIONS)}",
                    "documentation_url": DOCS,
                    "status": "400",
                },
            )
        scheme, _, credential = (req.header("authorization") or "").partition(" ")
        if req.path.startswith("/app/"):
            return self._verify_jwt(req, scheme, credential.strip())
        if scheme.lower() not in ("bearer", "token") or not credential:
            raise Reply(401, {"message": "Requires authentication", "documentation_url": DOCS, "status": "401"})
        credential = credential.strip()
        installation = self.installation_tokens.get(credential)
        if installation and installation.expires_at <= time.time():
            raise Reply(401, self.error_body(401))
        if credential not in self.tokens and not installation:
            raise Reply(401, self.error_body(401))
        if self.ratelimit_remaining is not None:
            if self.ratelimit_remaining <= 0:
                raise Reply(403, self._primary_body(403), self._ratelimit_headers(0, self.ratelimit_reset))
            self.ratelimit_remaining -= 1
        return ("installation", installation.installation_id) if installation else ("token", credential)

    def _verify_jwt(self, req: Request, scheme: str, token: str) -> str:
        def fail(message: str, violation: bool = True) -> Reply:
            if violation:
                self.violation(req, f"GitHub App JWT: {message}")
            return Reply(401, {"message": message, "documentation_url": DOCS, "status": "401"})

        if scheme.lower() != "bearer" or not token:
            raise fail("A JSON web token must be sent as 'Authorization: Bearer <JWT>'")
        if self.app_id is None or self.app_public_key is None:
            raise fail("A JSON web token could not be decoded", violation=False)
        try:
            header = jwt.get_unverified_header(token)
            claims = jwt.decode(
                token,
                self.app_public_key,
                algorithms=["RS256"],
                options={"require": ["iat", "exp", "iss"], "verify_iss": False},
                leeway=60,
            )
        except jwt.InvalidSignatureError:
            raise fail("A JSON web token could not be decoded", violation=False) from None
        except jwt.ExpiredSignatureError:
            raise fail(
                "'Expiration time' claim ('exp') must be a numeric value representing the future time "
                "at which the assertion expires"
            ) from None
        except jwt.PyJWTError as e:
            raise fail(f"A JSON web token could not be decoded ({e})") from None
        if header.get("alg") != "RS256":
            raise fail("the JWT must be signed with RS256")
        if str(claims["iss"]) != str(self.app_id):
            raise fail("'Issuer' claim ('iss') must be the GitHub App's id", violation=False)
        if claims["exp"] - time.time() > 600:
            raise fail("'Expiration time' claim ('exp') is too far in the future")
        return "app"

    # ---- GitHub App installation tokens (not in the OpenAPI subset) ----------------------------
    def _access_token(self, req: Request) -> httpx.Response:
        installation_id = req.params["installation_id"]
        if not installation_id.isdigit() or int(installation_id) not in self.installation_ids:
            raise Reply(404, self.error_body(404))
        body = self._json(req) if req.body else {}
        allowed = {"repositories": list, "repository_ids": list, "permissions": dict}
        problems = [k for k in body if k not in allowed] if isinstance(body, dict) else ["body must be an object"]
        problems += [
            k for k, t in allowed.items() if isinstance(body, dict) and k in body and not isinstance(body[k], t)
        ]
        if problems:
            self.violation(req, f"access_tokens body: bad fields {problems}")
            raise Reply(422, {"message": "Invalid request.", "documentation_url": DOCS, "status": "422"})
        token = "ghs_" + secrets.token_hex(18)
        expires = time.time() + 3600
        self.installation_tokens[token] = InstallationToken(int(installation_id), expires)
        return json_response(
            201,
            {
                "token": token,
                "expires_at": iso(datetime.fromtimestamp(expires, UTC)),
                "permissions": body.get("permissions")
                or {"statuses": "write", "checks": "write", "pull_requests": "read", "deployments": "write"},
                "repository_selection": "selected" if body.get("repositories") or body.get("repository_ids") else "all",
            },
        )

    # ---- validation against the OpenAPI description --------------------------------------------
    def _json(self, req: Request) -> Any:
        try:
            return json.loads(req.body)
        except ValueError:
            self.violation(req, "body is not JSON")
            raise Reply(400, {"message": "Problems parsing JSON", "documentation_url": DOCS, "status": "400"}) from None

    def _operation(self, op: Operation, req: Request) -> httpx.Response:
        req.op = op
        problems: list[str] = []
        for name, value in req.params.items():
            problems += self._param_problems(op.params[("path", name)], value)
        if problems:  # GitHub answers 404 for a path it cannot parse
            self.violation(req, f"{op.op_id}: " + "; ".join(problems))
            raise Reply(404, self.error_body(404))
        seen = set()
        for name, value in req.query:
            param = op.params.get(("query", name))
            if param is None:
                problems.append(f"unknown query parameter {name!r}")
            elif name in seen:
                problems.append(f"query parameter {name!r} repeated")
            else:
                problems += self._param_problems(param, value)
            seen.add(name)
        body = None
        if op.body is not None:
            if not req.body:
                if op.body_required:
                    problems.append("a JSON body is required")
            else:
                body = self._json(req)
                problems += self.spec.errors(op.body, body)
                if op.body_keys is not None and isinstance(body, dict):
                    problems += [f"body: unknown property {k!r}" for k in sorted(set(body) - op.body_keys)]
        elif req.body:
            problems.append("this operation takes no body")
        if problems:
            self.violation(req, f"{op.op_id}: " + "; ".join(problems))
            raise Reply(
                422,
                {"message": "Invalid request.\n\n" + "\n".join(problems), "documentation_url": DOCS, "status": "422"},
            )
        handler = getattr(self, "_op_" + re.sub(r"\W", "_", op.op_id), None)
        if handler is None:
            self.violation(req, f"{op.op_id}: the fake does not implement this operation")
            raise Reply(501, {"message": f"fake GitHub: {op.op_id} is not implemented", "documentation_url": DOCS})
        status, payload, headers = handler(req, self._repo(req), body or {})
        if self.validate_responses and str(status) in op.responses:
            # GitHub itself answers "" for unset URL fields that the schema marks format: uri
            errors = [e for e in self.spec.errors(op.responses[str(status)], payload) if '"" is not a "uri"' not in e]
            assert not errors, f"fake GitHub built an invalid {op.op_id} response: {errors[:5]}"
        return json_response(status, payload, headers)

    def _param_problems(self, param: dict, raw: str) -> list[str]:
        schema = dict(param.get("schema", {}))
        value: Any = raw
        if schema.get("type") == "integer":
            if not re.fullmatch(r"-?\d+", raw):
                return [f"{param['name']}: {raw!r} is not an integer"]
            value = int(raw)
        if schema.get("type") == "boolean":  # a query string spells booleans out
            if raw not in ("true", "false"):
                return [f"{param['name']}: {raw!r} is not true or false"]
            value = raw == "true"
        if param["name"] == "per_page":
            schema.update(minimum=1, maximum=100)  # "The number of results per page (max 100)"
        if param["name"] == "page":
            schema.update(minimum=1)
        return [e.replace("body", param["name"], 1) for e in self.spec.errors(schema, value)]

    def _repo(self, req: Request) -> Repo:
        repo = self.repos.get(f"{req.params['owner']}/{req.params['repo']}".lower())
        if repo is None:
            raise Reply(404, self.error_body(404))
        return repo

    def _invalid(self, req: Request, message: str, status: int = 422, **extra: Any) -> Reply:
        self.violation(req, message)
        return Reply(status, {"message": message, "documentation_url": DOCS, "status": str(status), **extra})

    def _paged(self, req: Request, items: list) -> tuple[list, dict[str, str]]:
        q = req.q
        page, per_page = int(q.get("page", 1)), int(q.get("per_page", 30))
        chunk, last = page_of(items, page, per_page)
        links = []
        url = req.raw.url
        if page < last:
            links += [
                f'<{url.copy_set_param("page", page + 1)}>; rel="next"',
                f'<{url.copy_set_param("page", last)}>; rel="last"',
            ]
        if page > 1:
            links += [
                f'<{url.copy_set_param("page", min(page - 1, last))}>; rel="prev"',
                f'<{url.copy_set_param("page", 1)}>; rel="first"',
            ]
        return chunk, ({"link": ", ".join(links)} if links else {})

    def _resolve_ref(self, repo: Repo, ref: str) -> str | None:
        ref = ref.removeprefix("refs/").removeprefix("heads/")
        if ref in repo.commits:
            return ref
        return repo.branches.get(ref)

    def _require_app(self, req: Request) -> None:
        if not (isinstance(req.auth, tuple) and req.auth[0] == "installation"):
            raise Reply(
                403, {"message": "You must authenticate via a GitHub App.", "documentation_url": DOCS, "status": "403"}
            )

    # ---- response objects (from the spec's examples) ----------------------------------------------
    def _user(self, login: str) -> dict:
        user = json.loads(json.dumps(self.spec.example("status")["creator"]).replace("octocat", login))
        user["id"] = int(fake_sha(login)[:6], 16)
        user["node_id"] = _node_id("User", user["id"])
        return user

    def _repo_json(self, repo: Repo, example: dict) -> dict:
        text = json.dumps(example).replace("octocat/Hello-World", repo.full_name)
        out = json.loads(text)
        out.update(
            id=repo.id,
            node_id=_node_id("Repository", repo.id),
            name=repo.full_name.split("/")[1],
            full_name=repo.full_name,
            owner=self._user(repo.owner),
        )
        if "default_branch" in out:
            out["default_branch"] = repo.default_branch
        return out

    def _pull_json(self, repo: Repo, pull: Pull) -> dict:
        template = self.spec.example("pull-request-simple-items")[0]
        head_repo = self._repo_json(repo, template["head"]["repo"])
        text = json.dumps(template).replace("octocat/Hello-World", repo.full_name).replace("/1347", f"/{pull.number}")
        text = text.replace("6dcb09b5b57875f334f61aebed695e2e4193db5e", pull.head_sha)
        out = json.loads(text)
        out.update(
            id=repo.id * 100_000 + pull.number,
            node_id=_node_id("PullRequest", repo.id * 100_000 + pull.number),
            number=pull.number,
            state=pull.state,
            locked=False,
            title=pull.title,
            user=self._user(pull.user),
            body=None,
            labels=[self._label_json(repo, name) for name in pull.labels],
            milestone=None,
            active_lock_reason=None,
            created_at=pull.created_at,
            updated_at=pull.updated_at,
            closed_at=pull.closed_at,
            merged_at=pull.merged_at,
            merge_commit_sha=pull.merge_commit_sha,
            assignee=None,
            assignees=[],
            requested_reviewers=[],
            requested_teams=[],
            author_association="CONTRIBUTOR",
            auto_merge=None,
            draft=pull.draft,
        )
        out["head"] = {
            "label": f"{repo.owner}:{pull.head_ref}",
            "ref": pull.head_ref,
            "sha": pull.head_sha,
            "user": self._user(repo.owner),
            "repo": head_repo,
        }
        base_sha = repo.branches.get(pull.base, fake_sha(repo.full_name, pull.base))
        out["base"] = {
            "label": f"{repo.owner}:{pull.base}",
            "ref": pull.base,
            "sha": base_sha,
            "user": self._user(repo.owner),
            "repo": head_repo,
        }
        return out

    def _status_json(self, repo: Repo, sha: str, body: dict) -> dict:
        now, sid = iso(), self.next_id()
        out = self.spec.example("status")
        out.update(
            url=f"{API}/repos/{repo.full_name}/statuses/{sha}",
            id=sid,
            node_id=_node_id("StatusContext", sid),
            state=body["state"],
            description=body.get("description"),
            target_url=body.get("target_url"),
            context=body.get("context", "default"),
            created_at=now,
            updated_at=now,
            creator=self._user("shiplane-bot"),
        )
        return out

    # ---- operations ---------------------------------------------------------------------------
    def _op_repos_create_commit_status(self, req: Request, repo: Repo, body: dict):
        sha = req.params["sha"]
        if sha not in repo.commits:
            raise self._invalid(req, f"No commit found for SHA: {sha}")
        if body.get("description") is not None and len(body["description"]) > 140:
            raise self._invalid(req, "description is too long (maximum is 140 characters)")
        if body.get("target_url") is not None and not is_http_url(body["target_url"]):
            raise self._invalid(req, "target_url must use http(s) scheme")
        context = body.get("context", "default").lower()
        if sum(s["context"].lower() == context for s in repo.statuses.get(sha, [])) >= 1000:
            raise self._invalid(req, "This SHA and context has reached the maximum number of statuses.")
        status = self._status_json(repo, sha, body)
        repo.statuses.setdefault(sha, []).insert(0, status)
        return 201, status, {"location": status["url"]}

    def _latest_by_context(self, repo: Repo, sha: str) -> list[dict]:
        seen: dict[str, dict] = {}
        for s in repo.statuses.get(sha, []):
            seen.setdefault(s["context"].lower(), s)
        return list(seen.values())

    def _op_repos_get_combined_status_for_ref(self, req: Request, repo: Repo, body: dict):
        sha = self._resolve_ref(repo, req.params["ref"])
        if sha is None:
            raise Reply(
                404,
                {
                    "message": f"No commit found for SHA: {req.params['ref']}",
                    "documentation_url": DOCS,
                    "status": "404",
                },
            )
        latest = self._latest_by_context(repo, sha)
        states = {s["state"] for s in latest}
        state = (
            "failure"
            if states & {"error", "failure"}
            else "pending"
            if not latest or "pending" in states
            else "success"
        )
        chunk, headers = self._paged(req, latest)
        example = self.spec.example("combined-commit-status")
        out = {
            "state": state,
            "statuses": [{k: v for k, v in s.items() if k != "creator"} for s in chunk],
            "sha": sha,
            "total_count": len(latest),
            "repository": self._repo_json(repo, example["repository"]),
            "commit_url": f"{API}/repos/{repo.full_name}/commits/{sha}",
            "url": f"{API}/repos/{repo.full_name}/commits/{sha}/status",
        }
        return 200, out, headers

    def _op_repos_list_commit_statuses_for_ref(self, req: Request, repo: Repo, body: dict):
        sha = self._resolve_ref(repo, req.params["ref"])
        if sha is None:
            raise Reply(404, self.error_body(404))
        chunk, headers = self._paged(req, repo.statuses.get(sha, []))
        return 200, chunk, headers

    def _check_run_json(self, repo: Repo, run: dict) -> dict:
        out = self.spec.example("check-run")
        rid = run["id"]
        out.update({k: v for k, v in run.items() if k in out and k != "output"})
        output = run.get("output") or {}
        out.update(
            node_id=_node_id("CheckRun", rid),
            url=f"{API}/repos/{repo.full_name}/check-runs/{rid}",
            html_url=f"https://github.com/{repo.full_name}/runs/{rid}",
            pull_requests=[],
            output={
                "title": output.get("title"),
                "summary": output.get("summary"),
                "text": output.get("text"),
                "annotations_count": len(output.get("annotations", [])),
                "annotations_url": f"{API}/repos/{repo.full_name}/check-runs/{rid}/annotations",
            },
        )
        for key in ("details_url", "external_id", "conclusion", "started_at", "completed_at"):
            out[key] = run.get(key)
        return out

    def _check_conclusion(self, req: Request, run: dict) -> None:
        if (run.get("status") == "completed" or run.get("completed_at")) and not run.get("conclusion"):
            raise self._invalid(req, "conclusion is required when status is completed or completed_at is given")
        if run.get("conclusion"):
            run["status"] = "completed"
            run.setdefault("completed_at", iso())

    def _op_checks_create(self, req: Request, repo: Repo, body: dict):
        self._require_app(req)
        if body["head_sha"] not in repo.commits:
            raise self._invalid(req, f"No commit found for SHA: {body['head_sha']}")
        run = {"status": "queued", "started_at": iso(), **body, "id": self.next_id()}
        self._check_conclusion(req, run)
        repo.check_runs[run["id"]] = run
        return 201, self._check_run_json(repo, run), {}

    def _op_checks_update(self, req: Request, repo: Repo, body: dict):
        self._require_app(req)
        run = repo.check_runs.get(int(req.params["check_run_id"]))
        if run is None:
            raise Reply(404, self.error_body(404))
        updated = {**run, **body}
        self._check_conclusion(req, updated)
        run.update(updated)
        return 200, self._check_run_json(repo, run), {}

    def _op_pulls_list(self, req: Request, repo: Repo, body: dict):
        q = req.q
        state, sort = q.get("state", "open"), q.get("sort", "created")
        pulls = [p for p in repo.pulls.values() if state == "all" or p.state == state]
        if "base" in q:
            pulls = [p for p in pulls if p.base == q["base"]]
        if "head" in q:
            owner, _, ref = q["head"].rpartition(":")
            pulls = [p for p in pulls if p.head_ref == ref and (not owner or owner.lower() == repo.owner.lower())]
        descending = q.get("direction", "desc" if sort == "created" else "asc") == "desc"
        key = (lambda p: (p.updated_at, p.number)) if sort == "updated" else (lambda p: (p.created_at, p.number))
        pulls.sort(key=key, reverse=descending)
        chunk, headers = self._paged(req, pulls)
        return 200, [self._pull_json(repo, p) for p in chunk], headers

    def _op_repos_list_pull_requests_associated_with_commit(self, req: Request, repo: Repo, body: dict):
        sha = req.params["commit_sha"]
        pulls = [p for p in repo.pulls.values() if sha in (p.head_sha, p.merge_commit_sha)]
        chunk, headers = self._paged(req, sorted(pulls, key=lambda p: -p.number))
        return 200, [self._pull_json(repo, p) for p in chunk], headers

    def _deployment_json(self, repo: Repo, fields: dict) -> dict:
        out = self.spec.example("deployment-simple-example")
        out.update(fields)
        did = out["id"]
        out.update(
            node_id=_node_id("Deployment", did),
            url=f"{API}/repos/{repo.full_name}/deployments/{did}",
            statuses_url=f"{API}/repos/{repo.full_name}/deployments/{did}/statuses",
            repository_url=f"{API}/repos/{repo.full_name}",
            creator=self._user("shiplane-bot"),
        )
        return out

    def _op_repos_list_deployments(self, req: Request, repo: Repo, body: dict):
        q = req.q
        found = [
            d
            for d in sorted(repo.deployments.values(), key=lambda d: -d["id"])
            if all(q[k] in ("none", d[k]) for k in ("sha", "ref", "task", "environment") if k in q)
        ]
        chunk, headers = self._paged(req, found)
        return 200, chunk, headers

    def _op_repos_create_deployment(self, req: Request, repo: Repo, body: dict):
        sha = self._resolve_ref(repo, body["ref"])
        if sha is None:
            raise self._invalid(req, f"No ref found for: {body['ref']}")
        latest = {s["context"]: s["state"] for s in self._latest_by_context(repo, sha)}
        required = body.get("required_contexts")
        contexts = list(latest) if required is None else required
        failing = [c for c in contexts if latest.get(c) != "success"]
        if failing:
            raise Reply(
                409,
                {
                    "message": f"Conflict: Commit status checks failed for {body['ref']}.",
                    "errors": [
                        {
                            "contexts": [{"context": c, "state": latest.get(c, "missing")} for c in failing],
                            "resource": "Deployment",
                            "field": "required_contexts",
                        }
                    ],
                    "documentation_url": DOCS,
                    "status": "409",
                },
            )
        environment = body.get("environment", "production")
        now, did = iso(), self.next_id()
        payload = body.get("payload", {})
        fields = {
            "id": did,
            "sha": sha,
            "ref": body["ref"],
            "task": body.get("task", "deploy"),
            "payload": json.loads(payload) if isinstance(payload, str) and payload.strip() else payload or {},
            "original_environment": environment,
            "environment": environment,
            "description": body.get("description", ""),
            "created_at": now,
            "updated_at": now,
            "transient_environment": body.get("transient_environment", False),
            "production_environment": body.get("production_environment", environment == "production"),
        }
        deployment = self._deployment_json(repo, fields)
        repo.deployments[did] = deployment
        repo.deployment_statuses[did] = []
        return 201, deployment, {}

    def _deployment(self, req: Request, repo: Repo) -> dict:
        deployment = repo.deployments.get(int(req.params["deployment_id"]))
        if deployment is None:
            if req.method == "POST":
                self.violation(req, f"deployment {req.params['deployment_id']} does not exist")
            raise Reply(404, self.error_body(404))
        return deployment

    def _op_repos_list_deployment_statuses(self, req: Request, repo: Repo, body: dict):
        deployment = self._deployment(req, repo)
        chunk, headers = self._paged(req, repo.deployment_statuses[deployment["id"]])
        return 200, chunk, headers

    def _op_repos_create_deployment_status(self, req: Request, repo: Repo, body: dict):
        deployment = self._deployment(req, repo)
        if len(body.get("description", "")) > 140:
            raise self._invalid(req, "description is too long (maximum is 140 characters)")
        history = repo.deployment_statuses[deployment["id"]]
        now, sid = iso(), self.next_id()
        log_url = body.get("log_url", body.get("target_url", ""))
        out = self.spec.example("deployment-status")
        out.update(
            url=f"{deployment['url']}/statuses/{sid}",
            id=sid,
            node_id=_node_id("DeploymentStatus", sid),
            state=body["state"],
            creator=self._user("shiplane-bot"),
            description=body.get("description", ""),
            environment=body.get("environment")
            or (history[0]["environment"] if history else deployment["environment"]),
            target_url=log_url,
            log_url=log_url,
            environment_url=body.get("environment_url", ""),
            created_at=now,
            updated_at=now,
            deployment_url=deployment["url"],
            repository_url=deployment["repository_url"],
        )
        history.insert(0, out)
        return 201, out, {"location": out["url"]}

    def _op_actions_review_custom_gates_for_run(self, req: Request, repo: Repo, body: dict):
        self._require_app(req)
        self.reviews.append(
            {
                "repo": repo.full_name,
                "run_id": int(req.params["run_id"]),
                "environment_name": body["environment_name"],
                "state": body.get("state"),
                "comment": body.get("comment"),
            }
        )
        return 204, None, {}

    def _op_repos_compare_commits_with_basehead(self, req: Request, repo: Repo, body: dict):
        basehead = req.params["basehead"]
        found = repo.comparisons.get(basehead)
        if found is None:
            raise Reply(404, self.error_body(404))
        base, _, head = basehead.partition("...")
        out = json.loads(
            json.dumps(self.spec.example("commit-comparison")).replace("octocat/Hello-World", repo.full_name)
        )
        template = out["commits"][0]
        commits = []
        for sha in found["commits"]:
            commit = json.loads(json.dumps(template).replace(template["sha"], sha))
            commits.append(commit)
        chunk, headers = self._paged(req, commits)
        base_commit = json.loads(
            json.dumps(template).replace(template["sha"], self._resolve_ref(repo, base) or fake_sha(base))
        )
        out.update(
            url=f"{API}/repos/{repo.full_name}/compare/{basehead}",
            html_url=f"https://github.com/{repo.full_name}/compare/{basehead}",
            diff_url=f"https://github.com/{repo.full_name}/compare/{basehead}.diff",
            patch_url=f"https://github.com/{repo.full_name}/compare/{basehead}.patch",
            permalink_url=f"https://github.com/{repo.full_name}/compare/{basehead}",
            base_commit=base_commit,
            merge_base_commit=base_commit,
            status=found["status"],
            ahead_by=len(commits),
            behind_by=found["behind_by"],
            total_commits=len(commits),
            commits=chunk,
            files=[],
        )
        return 200, out, headers

    # ---- labels ----------------------------------------------------------------------------------
    def _label_json(self, repo: Repo, name: str) -> dict:
        out = self.spec.example("label-items")[0]
        lid = int(fake_sha(repo.full_name, "label", name.lower())[:8], 16)
        out.update(
            id=lid,
            node_id=_node_id("Label", lid),
            url=f"{API}/repos/{repo.full_name}/labels/{name}",
            name=name,
            description="",
            color="ededed",
            default=False,
        )
        return out

    def _issue(self, req: Request, repo: Repo) -> Pull:
        pull = repo.pulls.get(int(req.params["issue_number"]))
        if pull is None:
            raise Reply(404, self.error_body(404))
        return pull

    @staticmethod
    def _label_names(body: Any) -> list[str]:
        items = body.get("labels", []) if isinstance(body, dict) else body or []
        return [i if isinstance(i, str) else i["name"] for i in items]

    def _op_issues_list_labels_on_issue(self, req: Request, repo: Repo, body: dict):
        chunk, headers = self._paged(req, [self._label_json(repo, n) for n in self._issue(req, repo).labels])
        return 200, chunk, headers

    def _op_issues_add_labels(self, req: Request, repo: Repo, body: Any):
        pull = self.add_label(repo.full_name, self._issue(req, repo).number, *self._label_names(body))
        return 200, [self._label_json(repo, n) for n in pull.labels], {}

    def _op_issues_set_labels(self, req: Request, repo: Repo, body: Any):
        pull = self._issue(req, repo)
        pull.labels = []
        self.add_label(repo.full_name, pull.number, *self._label_names(body))
        return 200, [self._label_json(repo, n) for n in pull.labels], {}

    def _op_issues_remove_all_labels(self, req: Request, repo: Repo, body: dict):
        self._issue(req, repo).labels = []
        return 204, None, {}

    # ---- rulesets --------------------------------------------------------------------------------
    def _require_admin(self, req: Request) -> None:
        if not self.admin:
            who = "integration" if isinstance(req.auth, tuple) and req.auth[0] == "installation" else "personal access token"
            raise Reply(
                403,
                {
                    "message": f"Resource not accessible by {who}",
                    "documentation_url": f"{DOCS}/repos/rules#create-a-repository-ruleset",
                    "status": "403",
                },
            )

    def _ruleset_json(self, repo: Repo, stored: dict) -> dict:
        out = self.spec.example("repository-ruleset")
        rid = stored["id"]
        out.update(
            id=rid,
            name=stored["name"],
            target=stored.get("target", "branch"),
            source_type="Repository",
            source=repo.full_name,
            enforcement=stored["enforcement"],
            bypass_actors=copy.deepcopy(stored.get("bypass_actors", [])),
            conditions=copy.deepcopy(stored.get("conditions")),
            rules=copy.deepcopy(stored.get("rules", [])),
            node_id=_node_id("RepositoryRuleset", rid),
            _links={
                "self": {"href": f"{API}/repos/{repo.full_name}/rulesets/{rid}"},
                "html": {"href": f"https://github.com/{repo.full_name}/rules/{rid}"},
            },
            created_at=stored["created_at"],
            updated_at=stored["updated_at"],
        )
        out["current_user_can_bypass"] = "always" if self.admin else "never"
        return out

    def _store_ruleset(self, repo: Repo, body: dict, rid: int | None = None) -> dict:
        now = iso()
        old = repo.rulesets.get(rid, {}) if rid else {}
        stored = {**old, **copy.deepcopy(body), "id": rid or self.next_id(), "updated_at": now}
        stored.setdefault("created_at", now)
        stored.setdefault("target", "branch")
        stored.setdefault("bypass_actors", [])
        stored.setdefault("rules", [])
        repo.rulesets[stored["id"]] = stored
        return stored

    def _unique_name(self, req: Request, repo: Repo, name: str, rid: int | None = None) -> None:
        if any(r["name"] == name and r["id"] != rid for r in repo.rulesets.values()):
            raise self._invalid(req, "Validation Failed: Name must be unique", errors=[f"Name {name!r} is already taken"])

    def _ruleset(self, req: Request, repo: Repo) -> dict:
        stored = repo.rulesets.get(int(req.params["ruleset_id"]))
        if stored is None:
            raise Reply(404, self.error_body(404))
        return stored

    def _op_repos_get_repo_rulesets(self, req: Request, repo: Repo, body: dict):
        targets = req.q.get("targets")
        found = [
            r for r in sorted(repo.rulesets.values(), key=lambda r: r["id"])
            if not targets or r.get("target", "branch") in targets.split(",")
        ]
        chunk, headers = self._paged(req, found)
        # The listing leaves out rules, conditions and bypass actors (GitHub's own answers do).
        keep = ("id", "name", "target", "source_type", "source", "enforcement", "node_id", "_links", "created_at", "updated_at")
        return 200, [{k: v for k, v in self._ruleset_json(repo, r).items() if k in keep} for r in chunk], headers

    def _op_repos_create_repo_ruleset(self, req: Request, repo: Repo, body: dict):
        self._require_admin(req)
        self._unique_name(req, repo, body["name"])
        return 201, self._ruleset_json(repo, self._store_ruleset(repo, body)), {}

    def _op_repos_get_repo_ruleset(self, req: Request, repo: Repo, body: dict):
        return 200, self._ruleset_json(repo, self._ruleset(req, repo)), {}

    def _op_repos_update_repo_ruleset(self, req: Request, repo: Repo, body: dict):
        self._require_admin(req)
        stored = self._ruleset(req, repo)
        if "name" in body:
            self._unique_name(req, repo, body["name"], stored["id"])
        return 200, self._ruleset_json(repo, self._store_ruleset(repo, body, stored["id"])), {}

    def _op_repos_delete_repo_ruleset(self, req: Request, repo: Repo, body: dict):
        self._require_admin(req)
        del repo.rulesets[self._ruleset(req, repo)["id"]]
        return 204, None, {}
