"""Requests exactly as real Sleuth clients send them (see docs/api.md, Sleuth compatibility)."""

import base64
import json

from tests.conftest import BOB, CHARLIE, sha

SHA = "3f2c0e9d8b7a6f5e4d3c2b1a0f9e8d7c6b5a4f3e"


def deploys(api, **params):
    return api.get("/api/v1/deploys", params=params).json()["items"]


def test_the_github_action_v1_json_body(anon, bob):
    # @actions/http-client postJson: pretty-printed JSON, unset inputs as "".
    body = json.dumps({"api_key": BOB, "sha": SHA, "environment": "", "email": ""}, indent=2)
    r = anon.post(
        "/api/1/deployments/acme/web/register_deploy",
        content=body,
        headers={"content-type": "application/json", "accept": "application/json"},
    )
    assert (r.status_code, r.text) == (200, "Success")
    (d,) = deploys(bob)
    assert (d["service"], d["environment"], d["sha"], d["status"]) == ("web", "production", SHA, "succeeded")


def test_the_github_action_v2_basic_header(anon, bob):
    key = base64.b64encode(f"{BOB}:undefined".encode()).decode()
    r = anon.post(
        "/api/1/deployments/acme/web/register_deploy",
        json={"sha": SHA, "environment": "staging", "email": "dev@example.com"},
        headers={"Authorization": f"Basic {key}", "user-agent": "sleuth-http-client"},
    )
    assert r.status_code == 200
    assert deploys(bob)[0]["environment"] == "staging"
    assert deploys(bob)[0]["email"] == "dev@example.com"


CLI_BODY = {
    "sha": SHA,
    "environment": "production",
    "date": "2021-03-04T17:22:05.123456",
    "commits": [
        {
            "revision": SHA,
            "message": "PROJ-7 Fix login (#12)\n",
            "author": {"name": "Jane", "email": "jane@x.com", "username": "jane@x.com"},
            "date": "2021-03-04T18:20:00+01:00",
            "files": ["app/login.py"],
            "parents": ["77aa" * 10],
            "url": f"https://example.com/{SHA}",
        }
    ],
    "files": [{"path": "app/login.py", "url": "https://example.com/x/app/login.py", "additions": 0, "deletions": 0}],
    "ignore_if_duplicate": "true",
    "pull_requests": [],
}


def test_the_sleuth_cli(anon, bob):
    headers = {"AUTHORIZATION": f"apikey {BOB}", "User-Agent": "python-requests/2.31"}
    # The CLI first asks for the latest change: none yet.
    q = '{ deployment(orgSlug:"acme", deploymentSlug:"web") { ... on CodeChangeSource { latestChange(environmentSlug:"production") { revision slug url } } } }'
    r = anon.request("GET", "/graphql", content=json.dumps({"query": q}), headers=headers)
    assert r.json() == {"data": {"deployment": {"latestChange": None}}}

    r = anon.post("/api/1/deployments/acme/web/register_deploy", json=CLI_BODY, headers=headers)
    assert (r.status_code, r.text) == (200, "Success")
    (d,) = deploys(bob)
    assert d["finished_at"] == "2021-03-04T17:22:05.123456Z"  # naive date read as UTC
    detail = bob.get(f"/api/v1/deploys/{d['id']}").json()
    assert detail["changes"]["pull_requests"] == [12] and detail["changes"]["issues"] == ["PROJ-7"]
    assert detail["changes"]["commits"][0]["date"] == "2021-03-04T17:20:00Z"

    # Sending it again is fine with ignore_if_duplicate ...
    r = anon.post("/api/1/deployments/acme/web/register_deploy", json=CLI_BODY, headers=headers)
    assert (r.status_code, r.text) == (200, "Success")
    assert len(deploys(bob)) == 1
    # ... and the latest change is now known.
    r = anon.request("GET", "/graphql", content=json.dumps({"query": q}), headers=headers)
    assert r.json()["data"]["deployment"]["latestChange"]["revision"] == SHA


def test_a_duplicate_without_ignore_flag_is_400(anon):
    body = {"api_key": BOB, "sha": SHA}
    assert anon.post("/api/1/deployments/acme/web/register_deploy", json=body).status_code == 200
    r = anon.post("/api/1/deployments/acme/web/register_deploy", json=body)
    assert r.status_code == 400 and "already been registered" in r.text


def test_the_2020_docs_form_post_on_the_legacy_path(anon, bob):
    r = anon.post(
        "/api/1/acme/web/register_deploy",
        data={"api_key": BOB, "sha": SHA, "environment": "Production", "tags": "#release,#blue", "date": "2020-06-01T12:00:00Z"},
    )
    assert (r.status_code, r.text) == (200, "Success")
    (d,) = deploys(bob)
    assert (d["environment"], d["tags"], d["finished_at"]) == ("production", ["release", "blue"], "2020-06-01T12:00:00Z")


def test_a_form_body_labelled_json_is_still_read(anon, bob):
    r = anon.post(
        "/api/1/deployments/acme/web/register_deploy",
        content=f"api_key={BOB}&sha={SHA}&environment=production",
        headers={"content-type": "application/json"},
    )
    assert r.status_code == 200 and len(deploys(bob)) == 1


def test_bearer_auth_and_tag_lists_and_space_dates(anon, bob):
    r = anon.post(
        "/api/1/deployments/acme/web/register_deploy",
        json={"sha": SHA, "tags": ["#a", "#b"], "ignore_if_duplicate": True, "date": "2006-01-02 15:04:05"},
        headers={"Authorization": f"Bearer {BOB}"},
    )
    assert r.status_code == 200
    assert deploys(bob)[0]["tags"] == ["a", "b"]
    assert deploys(bob)[0]["finished_at"] == "2006-01-02T15:04:05Z"


def test_sleuth_errors_are_plain_text(anon, charlie):
    url = "/api/1/deployments/acme/web/register_deploy"
    r = anon.post(url, json={"api_key": BOB})
    assert (r.status_code, r.text) == (400, "Missing sha")
    r = anon.post(url, json={"api_key": BOB, "sha": SHA, "date": "yesterday"})
    assert r.status_code == 400 and "Invalid date format" in r.text
    r = anon.post(url, json={"api_key": "nope", "sha": SHA})
    assert (r.status_code, r.text) == (401, "Unauthorized")
    r = anon.post(url, json={"sha": SHA})
    assert r.status_code == 401
    r = anon.post(url, json={"api_key": CHARLIE, "sha": SHA})
    assert r.status_code == 403
    r = anon.post(url, json={"api_key": BOB, "sha": "not-a-sha"})
    assert r.status_code == 400 and "sha" in r.text
    assert charlie.get("/api/v1/deploys").json()["items"] == []


def test_manual_changes_become_events(anon, bob):
    url = "/api/1/deployments/acme/web/register_manual_deploy"
    r = anon.post(url, json={"api_key": BOB, "name": "Scale up workers", "description": "x2", "tags": "#ops", "Author": "ops@x.com"})
    assert (r.status_code, r.text) == (200, "Success")
    (e,) = bob.get("/api/v1/events?kind=manual_change").json()["items"]
    assert (e["service"], e["environment"], e["data"]["name"], e["data"]["author"]) == (
        "web",
        "production",
        "Scale up workers",
        "ops@x.com",
    )
    r = anon.post(url, json={"api_key": BOB})
    assert (r.status_code, r.text) == (422, "Name is required.")


def test_impact_values_are_stored_as_push_samples(anon, db):
    from sqlalchemy import select

    from shiplane.tables.health import metric_samples

    r = anon.post("/api/1/impact/checkout_errors/register_impact", data={"api_key": BOB, "value": "42.5"})
    assert (r.status_code, r.text) == (200, "Success")
    r = anon.post(
        "/api/1/impact/checkout_errors/register_impact",
        json={"value": 3, "date": "2021-03-04T17:00:00Z"},
        headers={"Authorization": f"apikey {BOB}"},
    )
    assert r.status_code == 200
    r = anon.post("/api/1/impact/checkout_errors/register_impact", json={"api_key": BOB, "value": "lots"})
    assert (r.status_code, r.text) == (400, "Bad Request - impact value must be a number")
    with db.read() as conn:
        rows = conn.execute(select(metric_samples.c.metric, metric_samples.c.environment, metric_samples.c.value)).all()
    assert sorted(tuple(r) for r in rows) == [("checkout_errors", "production", 3.0), ("checkout_errors", "production", 42.5)]


def test_deploy_registration_is_idempotent_across_both_apis(anon, bob):
    d = bob.post("/api/v1/deploys", json={"service": "web", "environment": "production", "sha": sha(5)}).json()
    r = anon.post("/api/1/deployments/acme/web/register_deploy", json={"api_key": BOB, "sha": sha(5), "ignore_if_duplicate": "true"})
    assert r.status_code == 200
    assert [x["id"] for x in deploys(bob)] == [d["id"]]
