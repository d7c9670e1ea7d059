"""The official sleuth CLI, request for request (mrdon/sleuth-client: service.py, commands/set_health.py).

It asks ``latestChange`` with a GET carrying a JSON body, registers with up to 250
commits that each list every ancestor sha, sends ``date`` as a naive UTC time on
every call (so a retry carries a new date), and sets health with a mutation that
names the deploy by the ``slug`` latestChange returned.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from tests.conftest import BOB, sha

HEADERS = {"AUTHORIZATION": f"apikey {BOB}"}


def latest_change_query(deployment: str, environment: str = "production") -> str:
    return (
        '{ deployment(orgSlug:"acme", deploymentSlug:"DEPLOYMENT") { ... on CodeChangeSource {'
        ' latestChange(environmentSlug:"ENVIRONMENT") { revision slug url } } } }'
    ).replace("DEPLOYMENT", deployment).replace("ENVIRONMENT", environment)


def set_health_mutation(deploy_slug: str, health: str) -> str:
    template = 'mutation { setHealth(orgSlug:"acme", deploymentSlug:"web", deploySlug:"SLUG", health:"HEALTH") { success } }'
    return template.replace("SLUG", deploy_slug).replace("HEALTH", health)


def cli_body(head: str, n_commits: int, n_parents: int, date: datetime) -> dict:
    commits = [
        {
            "revision": sha(f"c{i}"),
            "message": f"Commit {i}\n\nBody of commit {i}",
            "author": {"name": "Dana", "email": "dana@example.com"},
            "date": "2026-11-30T10:00:00+00:00",
            "files": [f"src/file{i}.py"],
            "parents": [sha(f"p{i}-{j}") for j in range(n_parents)],
            "url": f"https://bitbucket.org/acme/web/commits/{sha(f'c{i}')}",
        }
        for i in range(n_commits)
    ]
    return {
        "sha": head,
        "environment": "production",
        "date": date.replace(tzinfo=None).isoformat(),
        "commits": commits,
        "files": [{"path": f"src/file{i}.py", "url": "", "additions": 0, "deletions": 0} for i in range(200)],
        "ignore_if_duplicate": "true",
        "pull_requests": [],
    }


def register(client, body, base=""):
    return client.post(f"{base}/api/1/deployments/acme/web/register_deploy", json=body, headers=HEADERS)


def deploys(bob):
    return bob.get("/api/v1/deploys").json()["items"]


def test_it_takes_the_largest_deploy_the_cli_sends(anon, bob):
    body = cli_body(sha("head"), n_commits=250, n_parents=200, date=datetime.now(UTC))
    assert len(json.dumps(body)) > 1024 * 1024  # over the 1 MiB of the native API
    r = register(anon.client, body)
    assert (r.status_code, r.text) == (200, "Success")
    (d,) = deploys(bob)
    assert d["sha"] == sha("head")


def test_it_answers_latest_change_as_a_get_with_a_json_body_and_through_a_double_slash(anon, bob):
    assert register(anon.client, cli_body(sha(1), 1, 1, datetime.now(UTC))).status_code == 200
    # Full URLs: httpx would read a bare "//graphql" as a host name.
    for path in ("http://testserver/graphql", "http://testserver//graphql"):
        r = anon.client.request("GET", path, json={"query": latest_change_query("web")}, headers=HEADERS)
        assert r.status_code == 200, (path, r.text)
        change = r.json()["data"]["deployment"]["latestChange"]
        assert change["revision"] == sha(1) and change["slug"] == sha(1)[:12]
    r = register(anon.client, cli_body(sha(2), 1, 1, datetime.now(UTC)), base="http://testserver/")
    assert (r.status_code, r.text) == (200, "Success")


def test_set_health_takes_the_slug_latest_change_returned_and_reset_gives_the_verdict_back(anon, bob):
    assert register(anon.client, cli_body(sha(1), 1, 1, datetime.now(UTC))).status_code == 200
    slug = anon.client.get("/graphql", params={"query": latest_change_query("web")}, headers=HEADERS).json()[
        "data"]["deployment"]["latestChange"]["slug"]
    r = anon.client.post("/graphql", json={"query": set_health_mutation(slug, "UNHEALTHY")}, headers=HEADERS)
    assert r.json() == {"data": {"setHealth": {"success": True}}}
    (d,) = deploys(bob)
    assert d["health"]["state"] == "unhealthy" and d["health"]["final"] is True
    r = anon.client.post("/graphql", json={"query": set_health_mutation(slug, "reset")}, headers=HEADERS)
    assert r.json() == {"data": {"setHealth": {"success": True}}}
    detail = bob.get(f"/api/v1/deploys/{d['id']}").json()["health"]
    assert detail["state"] == "pending" and detail["final"] is False and "reset" in detail["reason"]


def test_set_health_needs_a_deployer_and_a_known_deploy(anon, charlie):
    viewer = {"AUTHORIZATION": "apikey charlie-viewer-token"}
    r = anon.client.post("/graphql", json={"query": set_health_mutation("abcdef012345", "HEALTHY")}, headers=viewer)
    assert r.status_code == 403
    r = anon.client.post("/graphql", json={"query": set_health_mutation("abcdef012345", "HEALTHY")}, headers=HEADERS)
    assert r.status_code == 200 and "no deploy" in r.json()["errors"][0]["message"]


def test_a_retried_backdated_registration_is_a_duplicate_not_a_rollback(anon, bob):
    now = datetime.now(UTC)
    older = cli_body(sha("old"), 1, 1, now - timedelta(days=2))
    assert register(anon.client, older).status_code == 200
    assert register(anon.client, cli_body(sha("new"), 1, 1, now - timedelta(days=1))).status_code == 200
    # The pipeline of the older deploy retries its (backdated) call: same sha, same date.
    r = register(anon.client, older)
    assert (r.status_code, r.text) == (200, "Success")
    items = deploys(bob)
    assert len(items) == 2 and all("rollback" not in d["tags"] for d in items)
    assert {d["status"] for d in items} == {"succeeded"}
    without_flag = dict(older, ignore_if_duplicate="false")
    assert register(anon.client, without_flag).status_code == 400


def test_redeploying_an_older_sha_for_real_is_still_a_rollback(anon, bob):
    now = datetime.now(UTC)
    assert register(anon.client, cli_body(sha("old"), 1, 1, now - timedelta(hours=2))).status_code == 200
    assert register(anon.client, cli_body(sha("new"), 1, 1, now - timedelta(hours=1))).status_code == 200
    assert register(anon.client, cli_body(sha("old"), 1, 1, now)).status_code == 200
    latest = deploys(bob)[0]
    assert latest["sha"] == sha("old") and "rollback" in latest["tags"]


def test_deeply_nested_json_is_a_400_before_authentication(anon):
    deep = b"[" * 100_000 + b"]" * 100_000
    body = b'{"sha": ' + deep + b"}"
    r = anon.client.post("/api/1/deployments/acme/web/register_deploy", content=body,
                         headers={"content-type": "application/json"})
    assert r.status_code == 400 and "nested" in r.text
    r = anon.client.post("/graphql", content=b'{"query": ' + deep + b"}", headers={"content-type": "application/json"})
    assert r.status_code == 400
