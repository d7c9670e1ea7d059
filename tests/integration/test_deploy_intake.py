"""Deploys registered from forge deployment webhooks: GitLab Deployment Hook events (the documented
payload, tests/fixtures/gitlab/SOURCES.md) and GitHub deployment_status (real payloads from
../shared/data/github/webhooks), through the app and its fake forges, on both databases."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from shiplane.enforcement.forges.gitlab import parse_webhook
from shiplane.settings import Config
from tests.fakes import FakeGitLab
from tests.integration.test_merge_blocking import GH, Harness, gh_headers, hello_world_config

FIXTURE = Path(__file__).parents[1] / "fixtures" / "gitlab" / "deployment.success.json"
PROJECT = "root/test-deployment-webhooks"
SHA = "279484c09fbe69ededfced8c1bb6e6d24616b468"
TOKEN = "gitlab-webhook-token"


def deployment(status: str = "success", **changes) -> dict:
    payload = json.loads(FIXTURE.read_text())
    payload["status"] = status
    payload.update(changes)
    return payload


@pytest.fixture
def gitlab(db, db_url):
    fake = FakeGitLab(token="glpat-test-token")
    fake.add_project(PROJECT, id=30, default_branch="master")
    config = Config.model_validate(
        {
            "environments": [{"slug": "staging"}, {"slug": "production", "production": True}],
            "services": [{"slug": "deployhooks", "repo": f"gitlab:{PROJECT}", "branch": "master"}],
            "forges": {"gitlab": {"api_url": "https://gitlab.example.com/api/v4", "token": "glpat-test-token", "webhook_token": TOKEN}},
        }
    )
    h = Harness(db, db_url, config, fake)
    yield h
    assert fake.violations == []
    h.close()


def post(h, payload: dict, token: str = TOKEN, delivery: str | None = None):
    headers = {"X-Gitlab-Event": "Deployment Hook", "X-Gitlab-Token": token, "Content-Type": "application/json",
               "X-Gitlab-Event-UUID": delivery or str(uuid.uuid4())}
    return h.client.post("/hooks/gitlab", content=json.dumps(payload).encode(), headers=headers)


def deploys(h) -> list[dict]:
    return h.api("GET", "/api/v1/deploys").json()["items"]


def test_the_documented_payload_reads_as_a_succeeded_deploy():
    (event,) = parse_webhook({"X-Gitlab-Event": "Deployment Hook"}, FIXTURE.read_bytes()).events
    assert (event.repo, event.environment, event.sha, event.state) == (PROJECT, "staging", SHA, "succeeded")
    assert event.at.isoformat() == "2021-04-28T19:50:00+00:00"  # "2021-04-28 21:50:00 +0200"
    assert (event.author, event.url) == ("root", "http://10.126.0.2:3000/root/test-deployment-webhooks/-/jobs/796")


def test_running_then_success_is_one_deploy_started_then_succeeded(gitlab):
    r = post(gitlab, deployment("running", status_changed_at="2021-04-28 21:45:00 +0200"))
    assert r.status_code == 200, r.text
    (d,) = deploys(gitlab)
    assert (d["service"], d["environment"], d["sha"], d["status"]) == ("deployhooks", "staging", SHA, "started")
    assert d["started_at"] == "2021-04-28T19:45:00Z"
    r = post(gitlab, deployment("success"))
    assert r.json()["actions"] == [f"deploy {d['id']} succeeded"]
    (d,) = deploys(gitlab)
    assert (d["status"], d["finished_at"]) == ("succeeded", "2021-04-28T19:50:00Z")
    events = gitlab.api("GET", "/api/v1/events", params={"kind": "deploy_registered"}).json()["items"]
    assert events[0]["actor"] == "gitlab:deployment"


def test_a_failed_deployment_is_a_failed_deploy(gitlab):
    post(gitlab, deployment("failed"))
    (d,) = deploys(gitlab)
    assert d["status"] == "failed"


def test_a_canceled_deployment_cancels_the_deploy_in_progress(gitlab):
    post(gitlab, deployment("running", status_changed_at="2021-04-28 21:45:00 +0200"))
    r = post(gitlab, deployment("canceled"))
    (d,) = deploys(gitlab)
    assert d["status"] == "cancelled" and r.json()["actions"] == [f"deploy {d['id']} cancelled"]


def test_a_canceled_deployment_with_nothing_in_progress_records_nothing(gitlab):
    r = post(gitlab, deployment("canceled"))
    assert r.status_code == 200 and "not cancelled" in r.json()["actions"][0]
    assert deploys(gitlab) == []


def test_without_a_commit_url_the_short_sha_is_used(gitlab):
    payload = deployment("success")
    del payload["commit_url"]
    post(gitlab, payload)
    (d,) = deploys(gitlab)
    assert d["sha"] == "279484c0"


@pytest.mark.parametrize("status", ["created", "blocked", "approved", None])
def test_other_deployment_states_are_ignored(gitlab, status):
    r = post(gitlab, deployment(status))
    assert r.status_code == 200 and r.json()["events"] == ["Ignored"]
    assert deploys(gitlab) == []


def test_a_redelivery_is_a_duplicate_and_a_bad_token_records_nothing(gitlab):
    assert post(gitlab, deployment("success"), delivery="d-1").json()["status"] == "ok"
    assert post(gitlab, deployment("success"), delivery="d-1").json()["status"] == "duplicate"
    assert post(gitlab, deployment("failed", commit_url=None, short_sha="abcdef12"), token="wrong").status_code == 401
    assert [d["sha"] for d in deploys(gitlab)] == [SHA]


def test_an_environment_that_is_not_a_slug_is_reported_not_recorded(gitlab):
    r = post(gitlab, deployment("success", environment="review/feature 1"))
    assert r.status_code == 200 and "not recorded" in r.json()["actions"][0]
    assert deploys(gitlab) == []


def test_a_project_no_service_names_records_nothing(gitlab):
    payload = deployment("success")
    payload["project"]["path_with_namespace"] = "someone/else"
    assert post(gitlab, payload).json()["actions"] == []
    assert deploys(gitlab) == []


# ---------------------------------------------------------------- GitHub keeps working


@pytest.fixture
def hello(db, db_url):
    from tests.fakes import FakeGitHub

    fake = FakeGitHub(token="ghp_test_token")
    fake.add_repo("Codertocat/Hello-World", default_branch="master")
    h = Harness(db, db_url, hello_world_config(), fake)
    yield h
    assert fake.violations == []
    h.close()


def test_every_real_github_deployment_status_payload_still_registers(hello):
    expected = {"success": "succeeded", "in_progress": "started"}
    for path in sorted(GH.glob("deployment_status.created.*.json")):
        raw = path.read_bytes()
        payload = json.loads(raw)
        r = hello.client.post("/hooks/github", content=raw, headers=gh_headers("deployment_status", raw))
        assert r.status_code == 200, (path.name, r.text)
        state = payload["deployment_status"]["state"]
        env = payload["deployment"]["environment"].lower()
        items = hello.api("GET", "/api/v1/deploys", params={"environment": env}).json()["items"]
        assert items and items[0]["status"] == expected[state] and items[0]["sha"] == payload["deployment"]["sha"], path.name
