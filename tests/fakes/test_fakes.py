"""The fakes themselves: they validate requests, paginate, fail on demand and measure concurrency."""

from __future__ import annotations

import base64
import time

import anyio
import httpx
import jwt
import pytest

from tests.fakes.bitbucket import FakeBitbucket
from tests.fakes.github import FakeGitHub, make_app_keypair
from tests.fakes.gitlab import FakeGitLab

SHA = [f"{n:040x}" for n in range(10)]


def client(fake, base_url, **headers) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=fake, base_url=base_url, headers=headers)


def github(fake: FakeGitHub, token: str = "ghp_test_token") -> httpx.AsyncClient:
    return client(fake, "https://api.github.com", authorization=f"Bearer {token}", accept="application/vnd.github+json")


# ---- GitHub ------------------------------------------------------------------------------------
def test_github_validates_statuses_against_the_openapi_description():
    gh = FakeGitHub()
    gh.add_pull("acme/web", 1, SHA[1])

    async def main():
        async with github(gh) as c:
            bad = await c.post(f"/repos/acme/web/statuses/{SHA[1]}", json={"context": "shiplane/lock"})
            assert bad.status_code == 422 and "state" in bad.json()["message"]
            assert len(gh.violations) == 1 and "state" in gh.violations[0]
            gh.violations.clear()
            good = await c.post(
                f"/repos/acme/web/statuses/{SHA[1]}",
                json={
                    "state": "failure",
                    "context": "shiplane/lock",
                    "description": "Deploys locked",
                    "target_url": "https://shiplane.example/locks/1",
                },
            )
            assert good.status_code == 201, good.json()
            combined = (await c.get(f"/repos/acme/web/commits/{SHA[1]}/status")).json()
            assert (combined["state"], combined["total_count"]) == ("failure", 1)
            short = await c.post(f"/repos/acme/web/statuses/{SHA[1][:12]}", json={"state": "success"})
            assert short.status_code == 422

    anyio.run(main)
    assert gh.violations == [f"POST /repos/acme/web/statuses/{SHA[1][:12]}: No commit found for SHA: {SHA[1][:12]}"]
    assert gh.latest_status("acme/web", SHA[1], "Shiplane/Lock")["state"] == "failure"
    assert [s["description"] for s in gh.statuses("acme/web", SHA[1])] == ["Deploys locked"]


def test_github_paginates_pulls_with_link_headers_and_checks_parameters():
    gh = FakeGitHub()
    for n in range(1, 6):
        gh.add_pull("acme/web", n, SHA[n], updated_at=f"2025-01-0{n}T00:00:00Z", draft=n == 3)

    async def main():
        async with github(gh) as c:
            first = await c.get("/repos/acme/web/pulls", params={"state": "open", "per_page": 2})
            assert 'rel="last"' in first.headers["link"] and "page=3" in first.headers["link"]
            seen, response = [], first
            while True:
                seen += [(p["number"], p["head"]["sha"], p["base"]["ref"], p["draft"]) for p in response.json()]
                if 'rel="next"' not in response.headers.get("link", ""):
                    break
                response = await c.get(response.links["next"]["url"])
            assert [n for n, *_ in seen] == [5, 4, 3, 2, 1]
            assert seen[2] == (3, SHA[3], "main", True)
            gh.close_pull("acme/web", 5)
            assert len((await c.get("/repos/acme/web/pulls")).json()) == 4
            assert (await c.get("/repos/acme/web/pulls", params={"per_page": 101})).status_code == 422
            assert (await c.get("/repos/acme/web/pulls", params={"state": "opened"})).status_code == 422

    anyio.run(main)
    assert len(gh.violations) == 2 and "per_page" in gh.violations[0] and "state" in gh.violations[1]


def test_github_auth_faults_and_overrides():
    gh = FakeGitHub()
    gh.add_pull("acme/web", 1, SHA[1])
    gh.add_repo("acme/gone")

    async def main():
        async with github(gh, "wrong") as c:
            r = await c.get("/repos/acme/web/pulls")
            assert r.status_code == 401 and r.json()["message"] == "Bad credentials"
        async with client(gh, "https://api.github.com", authorization="token ghp_test_token") as c:
            gh.secondary_rate_limit_next(retry_after=7)
            r = await c.get("/repos/acme/web/pulls")
            assert (r.status_code, r.headers["retry-after"]) == (403, "7") and "secondary rate limit" in r.json()[
                "message"
            ]
            gh.primary_rate_limit_next(status=429)
            r = await c.get("/repos/acme/web/pulls")
            assert (
                r.status_code == 429
                and r.headers["x-ratelimit-remaining"] == "0"
                and int(r.headers["x-ratelimit-reset"]) > time.time()
            )
            gh.fail_next(2, 502, match="statuses")
            gh.timeout_next()
            with pytest.raises(httpx.ReadTimeout):
                await c.get("/repos/acme/web/pulls")
            for _ in range(2):
                assert (
                    await c.post(f"/repos/acme/web/statuses/{SHA[1]}", json={"state": "pending"})
                ).status_code == 502
            gh.override(r"^/repos/acme/gone/", 404)
            assert (await c.get("/repos/acme/gone/pulls")).status_code == 404
            gh.revoke_token("ghp_test_token")
            assert (await c.get("/repos/acme/web/pulls")).status_code == 401

    anyio.run(main)
    assert gh.violations == [] and gh.pending_faults() == 0
    assert [(c.method, c.status) for c in gh.requests][-3:] == [("POST", 502), ("GET", 404), ("GET", 401)]


def test_github_app_installation_tokens_and_protection_rule_reviews():
    private, public = make_app_keypair()
    gh = FakeGitHub(app_id=42, app_public_key=public, installation_ids=[7])
    gh.add_pull("acme/web", 1, SHA[1])

    def app_jwt(ttl=540, iss="42"):
        now = int(time.time())
        return jwt.encode({"iat": now - 60, "exp": now + ttl, "iss": iss}, private, algorithm="RS256")

    async def main():
        async with client(gh, "https://api.github.com", authorization=f"Bearer {app_jwt(ttl=1200)}") as c:
            assert (await c.post("/app/installations/7/access_tokens")).status_code == 401
        async with client(gh, "https://api.github.com", authorization=f"Bearer {app_jwt()}") as c:
            r = await c.post("/app/installations/7/access_tokens", json={"repositories": ["web"]})
            assert r.status_code == 201 and r.json()["expires_at"].endswith("Z")
            token = r.json()["token"]
        async with github(gh) as c:  # a personal token cannot create check runs
            assert (
                await c.post("/repos/acme/web/check-runs", json={"name": "shiplane", "head_sha": SHA[1]})
            ).status_code == 403
        async with github(gh, token) as c:
            r = await c.post(
                "/repos/acme/web/check-runs",
                json={"name": "shiplane", "head_sha": SHA[1], "status": "completed", "conclusion": "failure"},
            )
            assert r.status_code == 201 and r.json()["conclusion"] == "failure"
            r = await c.post(
                "/repos/acme/web/actions/runs/99/deployment_protection_rule",
                json={"environment_name": "production", "state": "rejected", "comment": "Deploys are locked"},
            )
            assert r.status_code == 204
            bad = await c.post(
                "/repos/acme/web/actions/runs/99/deployment_protection_rule",
                json={"environment_name": "production", "state": "maybe"},
            )
            assert bad.status_code == 422

    anyio.run(main)
    assert gh.reviews == [
        {
            "repo": "acme/web",
            "run_id": 99,
            "environment_name": "production",
            "state": "rejected",
            "comment": "Deploys are locked",
        }
    ]
    assert (
        len(gh.violations) == 2
        and "too far in the future" in gh.violations[0]
        and "deployment_protection_rule" in gh.violations[1]
    )


def test_latency_is_real_and_max_in_flight_measures_concurrency():
    gh = FakeGitHub(latency=0.05)
    for n in range(1, 9):
        gh.add_pull("acme/web", n, SHA[n])

    async def post(c, n):
        r = await c.post(f"/repos/acme/web/statuses/{SHA[n]}", json={"state": "pending", "context": "shiplane/lock"})
        assert r.status_code == 201

    async def main():
        async with github(gh) as c:
            started = time.monotonic()
            async with anyio.create_task_group() as tg:
                for n in range(1, 9):
                    tg.start_soon(post, c, n)
            assert time.monotonic() - started < 8 * 0.05
            assert (gh.max_in_flight, gh.in_flight) == (8, 0)
            gh.max_in_flight = 0
            for n in range(1, 4):
                await post(c, n)
            assert gh.max_in_flight == 1

    anyio.run(main)
    assert len(gh.writes) == 11 and gh.violations == []


# ---- Bitbucket ---------------------------------------------------------------------------------
def test_bitbucket_rejects_short_hashes_and_updates_statuses_by_key():
    bb = FakeBitbucket()
    bb.add_pull("acme/web", 7, SHA[7], "feature/x", participants={"Alice": True})
    basic = base64.b64encode(b"bot@example.com:bb-api-token").decode()

    async def main():
        async with client(bb, "https://api.bitbucket.org", authorization=f"Basic {basic}") as c:
            pr = (
                await c.get(
                    "/2.0/repositories/acme/web/pullrequests",
                    params={"state": "OPEN", "fields": "+values.participants"},
                )
            ).json()["values"][0]
            short = pr["source"]["commit"]["hash"]
            assert (len(short), pr["destination"]["branch"]["name"], pr["participants"][0]["approved"]) == (
                12,
                "main",
                True,
            )
            status = {
                "key": "shiplane-lock",
                "state": "FAILED",
                "url": "https://shiplane.example/locks/1",
                "name": "Deploy lock",
            }
            r = await c.post(f"/2.0/repositories/acme/web/commit/{short}/statuses/build", json=status)
            assert r.status_code == 400 and r.json()["type"] == "error"
            assert len(bb.violations) == 1 and "full 40-character" in bb.violations[0]
            bb.violations.clear()
            full = (await c.get(f"/2.0/repositories/acme/web/commit/{short}")).json()["hash"]
            assert full == SHA[7]
            assert (
                await c.post(f"/2.0/repositories/acme/web/commit/{full}/statuses/build", json=status)
            ).status_code == 201
            r = await c.post(
                f"/2.0/repositories/acme/web/commit/{full}/statuses/build", json=status | {"state": "SUCCESSFUL"}
            )
            assert r.status_code == 201 and r.json()["commit"]["hash"] == full
            assert (
                await c.post(
                    f"/2.0/repositories/acme/web/commit/{full}/statuses/build", json={"key": "k", "state": "FAILED"}
                )
            ).status_code == 400
        async with client(bb, "https://api.bitbucket.org", authorization="Bearer nope") as c:
            assert (await c.get("/2.0/repositories/acme/web/pullrequests")).status_code == 401

    anyio.run(main)
    assert [s["state"] for s in bb.statuses("acme/web", SHA[7])] == ["SUCCESSFUL"]
    assert len(bb.violations) == 1 and "url" in bb.violations[0]


def test_bitbucket_paginates_with_absolute_next_urls():
    bb = FakeBitbucket()
    for n in range(1, 8):
        bb.add_pull("acme/web", n, SHA[n], updated_on=f"2025-01-0{n}T00:00:00+00:00")

    async def main():
        async with client(bb, "https://api.bitbucket.org", authorization="Bearer bb-access-token") as c:
            page = (
                await c.get("/2.0/repositories/acme/web/pullrequests", params={"state": "OPEN", "pagelen": 3})
            ).json()
            ids = [p["id"] for p in page["values"]]
            while "next" in page:
                assert page["next"].startswith("https://api.bitbucket.org/2.0/")
                page = (await c.get(page["next"])).json()
                ids += [p["id"] for p in page["values"]]
            assert ids == [7, 6, 5, 4, 3, 2, 1] and page["size"] == 7
            r = await c.get("/2.0/repositories/acme/web/pullrequests", params={"pagelen": 100})
            assert r.status_code == 400 and r.json()["error"]["message"] == "Invalid pagelen"

    anyio.run(main)
    assert bb.violations == ["GET /2.0/repositories/acme/web/pullrequests: Invalid pagelen"]


# ---- GitLab ------------------------------------------------------------------------------------
def test_gitlab_merge_requests_and_commit_statuses():
    gl = FakeGitLab()
    for n in range(1, 4):
        gl.add_mr("acme/web", n, SHA[n], target_branch="main")
    gl.add_mr("acme/web", 9, SHA[9], target_branch="release")

    async def main():
        async with client(gl, "https://gitlab.example.com/api/v4", **{"private-token": "glpat-test-token"}) as c:
            assert (await c.get("/projects/acme/web/merge_requests")).status_code == 404  # path not encoded
            params = {"state": "opened", "target_branch": "main", "per_page": 2}
            r = await c.get("/projects/acme%2Fweb/merge_requests", params=params)
            iids = [m["iid"] for m in r.json()]
            assert r.headers["x-next-page"] == "2" and r.headers["x-total"] == "3"
            r = await c.get("/projects/acme%2Fweb/merge_requests", params=params | {"page": r.headers["x-next-page"]})
            iids += [m["iid"] for m in r.json()]
            assert iids == [3, 2, 1] and r.headers["x-next-page"] == ""
            assert {"sha", "source_branch", "draft", "detailed_merge_status", "updated_at"} <= set(r.json()[0])
            url = f"/projects/acme%2Fweb/statuses/{SHA[1]}"
            assert (await c.post(url, json={"name": "shiplane/lock"})).status_code == 400
            lock = {
                "state": "pending",
                "name": "shiplane/lock",
                "description": "Deploys locked",
                "target_url": "https://shiplane.example/locks/1",
            }
            assert (await c.post(url, json=lock)).status_code == 201
            again = await c.post(url, json=lock)
            assert (
                again.status_code == 400
                and "Cannot transition status via :enqueue from :pending" in again.json()["message"]
            )
            assert (await c.post(url, params={"state": "success", "name": "shiplane/lock"})).status_code == 201

    anyio.run(main)
    assert len(gl.violations) == 2 and "URL-encoded" in gl.violations[0] and "state is missing" in gl.violations[1]
    statuses = gl.statuses("acme/web", SHA[1])
    assert [(s["status"], s["ref"]) for s in statuses] == [("success", "feature-1")]
    assert gl.latest_status("acme/web", SHA[1], "shiplane/lock")["description"] == "Deploys locked"


# ---- branch freezes --------------------------------------------------------------------------
FREEZE = {
    "name": "shiplane: web merge freeze",
    "target": "branch",
    "enforcement": "active",
    "bypass_actors": [{"actor_id": 5, "actor_type": "RepositoryRole", "bypass_mode": "always"}],
    "conditions": {"ref_name": {"include": ["refs/heads/main"], "exclude": []}},
    "rules": [{"type": "update", "parameters": {"update_allows_fetch_and_merge": False}}],
}


def test_github_rulesets_are_validated_unique_and_need_administration():
    gh = FakeGitHub()
    gh.add_repo("acme/web")

    async def main():
        async with github(gh) as c:
            bad = await c.post("/repos/acme/web/rulesets", json={**FREEZE, "rules": [{"type": "freeze"}]})
            assert bad.status_code == 422 and len(gh.violations) == 1
            gh.violations.clear()
            made = await c.post("/repos/acme/web/rulesets", json=FREEZE)
            assert made.status_code == 201 and made.json()["source_type"] == "Repository"
            rid = made.json()["id"]
            assert (await c.post("/repos/acme/web/rulesets", json=FREEZE)).status_code == 422  # names are unique
            gh.violations.clear()
            listed = (await c.get("/repos/acme/web/rulesets", params={"includes_parents": "false", "targets": "branch"})).json()
            assert [(r["id"], r["name"]) for r in listed] == [(rid, FREEZE["name"])] and "rules" not in listed[0]
            assert gh.merge_blocked("acme/web", "main") and not gh.merge_blocked("acme/web", "main", actor=("RepositoryRole", 5))
            gh.admin = False
            denied = await c.delete(f"/repos/acme/web/rulesets/{rid}")
            assert denied.status_code == 403 and "retry-after" not in denied.headers
            assert "Resource not accessible" in denied.json()["message"]
            assert (await c.get(f"/repos/acme/web/rulesets/{rid}")).status_code == 200  # reading needs no admin
            gh.admin = True
            changed = await c.put(f"/repos/acme/web/rulesets/{rid}", json={"enforcement": "disabled"})
            assert changed.json()["enforcement"] == "disabled" and not gh.merge_blocked("acme/web", "main")
            assert (await c.delete(f"/repos/acme/web/rulesets/{rid}")).status_code == 204
            assert (await c.get(f"/repos/acme/web/rulesets/{rid}")).status_code == 404
            # labels of a pull request are its issue's
            gh.add_pull("acme/web", 1, SHA[1])
            assert (await c.post("/repos/acme/web/issues/1/labels", json={"labels": ["hotfix"]})).status_code == 200
            (pull,) = (await c.get("/repos/acme/web/pulls")).json()
            assert [label["name"] for label in pull["labels"]] == ["hotfix"]
            unknown = await c.post("/repos/acme/web/pulls", json={"title": "x", "head": "a", "base": "main"})
            assert unknown.status_code == 501

    anyio.run(main)
    assert gh.violations == ["POST /repos/acme/web/pulls: pulls/create: the fake does not implement this operation"]


def test_gitlab_protected_branches_add_and_destroy_access_levels():
    gl = FakeGitLab()
    gl.add_project("acme/web")

    async def main():
        async with client(gl, "https://gitlab.example.com", **{"PRIVATE-TOKEN": "glpat-test-token"}) as c:
            url = "/api/v4/projects/acme%2Fweb/protected_branches"
            assert (await c.get(f"{url}/main")).status_code == 404
            made = await c.post(url, json={"name": "main", "merge_access_level": 40, "push_access_level": 40})
            assert made.status_code == 201
            assert (await c.post(url, json={"name": "main"})).status_code == 409
            (level,) = made.json()["merge_access_levels"]
            frozen = await c.patch(f"{url}/main", json={"allowed_to_merge": [{"id": level["id"], "_destroy": True}, {"access_level": 0}]})
            assert [e["access_level_description"] for e in frozen.json()["merge_access_levels"]] == ["No one"]
            assert gl.merge_blocked("acme/web", "main")
            bad = await c.patch(f"{url}/main", json={"allowed_to_merge": [{"access_level": 0, "user_id": 3}]})
            assert bad.status_code == 400
            gl.maintainer = False
            assert (await c.delete(f"{url}/main")).status_code == 403
            gl.maintainer = True
            assert (await c.delete(f"{url}/main")).status_code == 204 and gl.protection("acme/web", "main") is None

    anyio.run(main)
    assert len(gl.violations) == 1


def test_bitbucket_branch_restrictions_are_unique_per_kind_and_pattern():
    bb = FakeBitbucket()
    bb.add_repo("acme/web")
    auth = "Basic " + base64.b64encode(b"bot@example.com:bb-api-token").decode()

    async def main():
        async with client(bb, "https://api.bitbucket.org", authorization=auth) as c:
            url = "/2.0/repositories/acme/web/branch-restrictions"
            body = {"kind": "restrict_merges", "branch_match_kind": "glob", "pattern": "main", "users": [], "groups": []}
            assert (await c.post(url, json={**body, "users": None})).status_code == 400
            made = await c.post(url, json=body)
            assert made.status_code == 201 and bb.merge_blocked("acme/web", "main") and not bb.merge_blocked("acme/web", "dev")
            assert (await c.post(url, json=body)).status_code == 409
            listed = (await c.get(url, params={"kind": "restrict_merges", "pattern": "main"})).json()
            assert [r["id"] for r in listed["values"]] == [made.json()["id"]]
            bb.admin = False
            assert (await c.get(url)).status_code == 403
            bb.admin = True
            assert (await c.delete(f"{url}/{made.json()['id']}")).status_code == 204 and bb.restrictions("acme/web") == []

    anyio.run(main)
    assert len(bb.violations) == 1
