"""The lock reaches the merge button: statuses on every open pull request, through fake forges
that validate each request against the forges' API descriptions; real webhook payloads replayed."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from datetime import UTC, datetime, timedelta

import anyio
import pytest
from sqlalchemy import select

from shiplane import clock
from shiplane.app import create_app, make_worker
from shiplane.enforcement.forges.base import hmac_sha256_matches
from shiplane.settings import Config
from shiplane.tables.enforcement import merge_sync, pull_requests, pushed_commits
from shiplane.tables.jobs import jobs
from tests.conftest import BOB, SHARED, make_settings, sha
from tests.fakes import FakeBitbucket, FakeGitHub, FakeGitLab, make_app_keypair

WEBHOOK_SECRET = "It's a Secret to Everybody"
GH = SHARED / "data" / "github" / "webhooks"
BB = SHARED / "data" / "bitbucket" / "webhooks"


def github_config(**github) -> Config:
    return Config.model_validate(
        {
            "server": {"public_url": "https://shiplane.example.com"},
            "environments": [{"slug": "production", "production": True}],
            "services": [{"slug": "web", "repo": "github:acme/web", "branch": "main"}],
            "forges": {
                "github": {
                    "api_url": "https://api.github.com",
                    "token": "ghp_test_token",
                    "webhook_secret": WEBHOOK_SECRET,
                    "writes_per_minute": 0,
                    "writes_per_hour": 0,
                }
                | github
            },
        }
    )


class Harness:
    """The app (for the API and webhooks) and its worker, driven tick by tick."""

    def __init__(self, db, db_url, config, transport):
        from fastapi.testclient import TestClient

        self.db = db
        self.app = create_app(make_settings(db_url, config), db=db, worker=False, forge_transport=transport)
        self.client = TestClient(self.app)
        self.client.__enter__()
        self.ctx = self.app.state.ctx
        self.worker = make_worker(self.ctx)

    def api(self, method, url, **kw):
        return self.client.request(method, url, headers={"Authorization": f"Bearer {BOB}"} | kw.pop("headers", {}), **kw)

    def drain(self, rounds: int = 50) -> None:
        """Run the worker until nothing is due right now."""

        async def go():
            for _ in range(rounds):
                now = clock.now()
                changed = await self.worker.scheduled(now)
                delivered = await self.worker.deliver(now)
                if not changed and not delivered:
                    return

        anyio.run(go)

    def jobs(self, **where):
        with self.db.read() as conn:
            query = select(jobs)
            for k, v in where.items():
                query = query.where(getattr(jobs.c, k) == v)
            return conn.execute(query).all()

    def close(self):
        self.client.__exit__(None, None, None)


@pytest.fixture
def github():
    fake = FakeGitHub(token="ghp_test_token")
    fake.add_repo("acme/web")
    return fake


@pytest.fixture
def harness(db, db_url, github):
    h = Harness(db, db_url, github_config(), github)
    yield h
    h.close()


def open_pulls(fake, n, repo="acme/web"):
    base = datetime(2026, 11, 1, tzinfo=UTC)
    for i in range(1, n + 1):
        fake.add_pull(repo, i, sha(f"pr{i}"), updated_at=base + timedelta(minutes=i))


def test_a_lock_blocks_every_open_pull_request_and_an_unlock_reopens_them(harness, github):
    open_pulls(github, 5)
    harness.drain()  # the start-up reconcile marks them open
    assert {github.latest_status("acme/web", sha(f"pr{i}"), "shiplane")["state"] for i in range(1, 6)} == {"success"}
    writes = len(github.writes)

    lock = harness.api("POST", "/api/v1/locks", json={"environment": "production", "reason": "no merges after 15:30"}).json()
    harness.drain()
    for i in range(1, 6):
        status = github.latest_status("acme/web", sha(f"pr{i}"), "shiplane")
        assert status["state"] == "pending"
        assert status["description"] == "Production locked: no merges after 15:30 (token:bob)"
        assert status["target_url"] == "https://shiplane.example.com/"
    assert len(github.writes) == writes + 5

    harness.api("DELETE", f"/api/v1/locks/{lock['id']}")
    harness.drain()
    assert {github.latest_status("acme/web", sha(f"pr{i}"), "shiplane")["description"] for i in range(1, 6)} == {
        "Production open for deploys"
    }
    assert github.violations == []


def test_identical_statuses_are_not_posted_again(harness, github):
    open_pulls(github, 3)
    harness.drain()
    writes = len(github.writes)
    with harness.db.write() as conn:
        harness.ctx.enforcement.reconcile_all(conn, clock.now())  # e.g. a restart
    harness.drain()
    assert len(github.writes) == writes
    assert any(r.method == "GET" for r in github.requests[-2:])  # it did look at the pulls again


def test_progress_is_recorded_for_the_dashboard(harness, github):
    open_pulls(github, 4)
    harness.api("POST", "/api/v1/locks", json={"environment": "production", "reason": "freeze"})
    harness.drain()
    with harness.db.read() as conn:
        row = conn.execute(select(merge_sync).where(merge_sync.c.service == "web")).first()
    assert (row.pulls, row.total, row.done, row.desired["state"]) == (4, 4, 4, "pending")


def test_pull_requests_closest_to_merging_go_first(db, db_url, github):
    open_pulls(github, 4)  # pr4 most recently updated
    h = Harness(db, db_url, github_config(blocked_state="failure"), github)
    try:
        # pr1 is approved (a review webhook); pr2 is a draft
        review = {"action": "submitted", "review": {"state": "approved"}, "pull_request": {"number": 1}, "repository": {"full_name": "acme/web"}}
        h.client.post("/hooks/github", content=sign(review), headers=gh_headers("pull_request_review", review))
        github.repo("acme/web").pulls[2].draft = True
        h.api("POST", "/api/v1/locks", json={"environment": "production", "reason": "freeze"})
        h.drain()
        # Jobs are claimed in run_at order; within one batch requests then run concurrently.
        queued = sorted((j for j in h.jobs(kind="status:github") if j.payload["status"]["state"] == "failure"), key=lambda j: (j.run_at, j.id))
        assert [j.payload["sha"] for j in queued] == [sha("pr1"), sha("pr4"), sha("pr3"), sha("pr2")]
        assert github.latest_status("acme/web", sha("pr1"), "shiplane")["state"] == "failure"
    finally:
        h.close()


# ---------------------------------------------------------------- forge errors


def test_transient_errors_are_retried_after_retry_after(harness, github):
    open_pulls(github, 1)
    github.secondary_rate_limit_next(1, retry_after=30, match="POST")
    harness.drain()
    (job,) = harness.jobs(kind="status:github")
    assert job.state == "pending" and job.attempts == 1
    assert job.run_at >= clock.now() + timedelta(seconds=25)
    assert "rate limit" in job.last_error.lower()
    # time passes
    with harness.db.write() as conn:
        conn.execute(jobs.update().where(jobs.c.id == job.id).values(run_at=clock.now()))
    harness.drain()
    assert github.latest_status("acme/web", sha("pr1"), "shiplane")["state"] == "success"
    assert harness.jobs(kind="status:github")[0].state == "done"


@pytest.mark.parametrize("fault", ["502", "timeout", "primary"])
def test_server_errors_and_timeouts_are_transient(harness, github, fault):
    open_pulls(github, 1)
    if fault == "502":
        github.fail_next(1, 502, match="POST")
    elif fault == "timeout":
        github.timeout_next(1, match="POST")
    else:
        github.primary_rate_limit_next(1, reset_in=120, match="POST")
    harness.drain()
    (job,) = harness.jobs(kind="status:github")
    assert job.state == "pending" and job.attempts == 1
    if fault == "primary":
        assert job.run_at >= clock.now() + timedelta(seconds=100)


def test_a_permanent_error_is_reported_not_retried_forever(harness, github):
    github.override(r"^/repos/acme/web/pulls", 404)
    with harness.db.write() as conn:
        harness.ctx.enforcement.reconcile_all(conn, clock.now())
    harness.drain()
    dead = [j for j in harness.jobs(kind="merge_sync") if j.state == "dead"]
    assert dead and all("HTTP 404" in j.last_error and j.attempts == 1 for j in dead)
    with harness.db.read() as conn:
        row = conn.execute(select(merge_sync).where(merge_sync.c.service == "web")).first()
    assert "HTTP 404" in row.last_error
    event = harness.api("GET", "/api/v1/events?kind=forge_error").json()["items"][0]
    assert event["service"] == "web" and "404" in event["data"]["error"]


def test_pacing_caps_writes_per_minute(db, db_url, github):
    open_pulls(github, 12)
    h = Harness(db, db_url, github_config(writes_per_minute=5), github)
    try:
        h.drain()
        assert len(github.writes) == 5
        assert len([j for j in h.jobs(kind="status:github") if j.state == "pending"]) == 7
    finally:
        h.close()


# ---------------------------------------------------------------- webhooks (real payloads)


def sign(payload, secret=WEBHOOK_SECRET) -> bytes:
    return json.dumps(payload).encode() if not isinstance(payload, bytes) else payload


def gh_headers(event, body, secret=WEBHOOK_SECRET, delivery=None):
    raw = sign(body)
    digest = "sha256=" + hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()
    return {
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": delivery or hashlib.md5(raw).hexdigest(),
        "X-Hub-Signature-256": digest,
        "Content-Type": "application/json",
    }


def load(path, **repo):
    payload = json.loads(path.read_text())
    return payload


def hello_world_config() -> Config:
    cfg = github_config().model_dump(mode="json")
    cfg["services"] = [{"slug": "hello", "repo": "github:Codertocat/Hello-World", "branch": "master"}]
    cfg["forges"]["github"]["token"] = "ghp_test_token"
    cfg["forges"]["github"]["webhook_secret"] = WEBHOOK_SECRET
    return Config.model_validate(cfg)


@pytest.fixture
def hello(db, db_url, github):
    github.add_repo("Codertocat/Hello-World", default_branch="master")
    h = Harness(db, db_url, hello_world_config(), github)
    yield h
    h.close()


def test_the_signature_vectors_verify():
    vector = json.loads((SHARED / "data/github/signature-vectors.json").read_text())["github_x_hub_signature_256"]
    assert hmac_sha256_matches(vector["secret"], vector["body"].encode(), vector["header"])
    assert not hmac_sha256_matches(vector["secret"], vector["body"].encode() + b" ", vector["header"])
    bb = json.loads((SHARED / "data/bitbucket/signature-vectors.json").read_text())["bitbucket_cloud_x_hub_signature"]
    body = (SHARED / "data/bitbucket" / bb["body_file"]).read_bytes()
    assert hmac_sha256_matches(bb["secret"], body, bb["header"])


@pytest.mark.parametrize("name", ["pull_request.opened.1.json", "pull_request.reopened.1.json", "pull_request.synchronize.1.json", "pull_request.ready_for_review.1.json"])
def test_pull_request_webhooks_put_the_gate_on_the_new_head(hello, github, name):
    payload = json.loads((GH / name).read_text())
    head = payload["pull_request"]["head"]["sha"]
    github.add_commit("Codertocat/Hello-World", head)
    hello.api("POST", "/api/v1/locks", json={"environment": "production", "reason": "release train"})
    raw = (GH / name).read_bytes()
    r = hello.client.post("/hooks/github", content=raw, headers=gh_headers("pull_request", raw))
    assert r.status_code == 200, r.text
    hello.drain()
    status = github.latest_status("Codertocat/Hello-World", head, "shiplane")
    assert status["state"] == "pending" and "release train" in status["description"]
    assert github.violations == []


def test_bad_or_missing_signatures_are_401_and_record_nothing(hello, github):
    raw = (GH / "pull_request.opened.1.json").read_bytes()
    before = len(hello.jobs())
    for headers in (
        {"X-GitHub-Event": "pull_request"},
        gh_headers("pull_request", raw, secret="wrong"),
        gh_headers("pull_request", raw) | {"X-Hub-Signature-256": "sha256=" + "0" * 64},
    ):
        r = hello.client.post("/hooks/github", content=raw, headers=headers)
        assert r.status_code == 401 and r.json()["error"] == "invalid_signature"
    assert len(hello.jobs()) == before
    with hello.db.read() as conn:
        assert conn.execute(select(pull_requests)).all() == []


def test_deliveries_are_deduplicated(hello, github):
    raw = (GH / "pull_request.opened.1.json").read_bytes()
    github.add_commit("Codertocat/Hello-World", json.loads(raw)["pull_request"]["head"]["sha"])
    headers = gh_headers("pull_request", raw, delivery="d-1")
    assert hello.client.post("/hooks/github", content=raw, headers=headers).json()["status"] == "ok"
    assert hello.client.post("/hooks/github", content=raw, headers=headers).json()["status"] == "duplicate"


@pytest.mark.parametrize("n", [1, 2, 3, 4])
def test_ping_is_200(hello, n):
    raw = (GH / f"ping.{n}.json").read_bytes()
    r = hello.client.post("/hooks/github", content=raw, headers=gh_headers("ping", raw))
    assert r.status_code == 200 and r.json()["events"] == ["Ping"]


def test_merge_groups_obey_too(db, db_url, github):
    github.add_repo("octo-org/octo-repo")
    cfg = github_config().model_dump(mode="json")
    cfg["services"] = [{"slug": "octo", "repo": "github:octo-org/octo-repo", "branch": "main"}]
    cfg["forges"]["github"].update(token="ghp_test_token", webhook_secret=WEBHOOK_SECRET)
    h = Harness(db, db_url, Config.model_validate(cfg), github)
    try:
        raw = (GH / "merge_group.checks_requested.1.json").read_bytes()
        head = json.loads(raw)["merge_group"]["head_sha"]
        github.add_commit("octo-org/octo-repo", head)
        h.api("POST", "/api/v1/locks", json={"environment": "production", "reason": "freeze"})
        assert h.client.post("/hooks/github", content=raw, headers=gh_headers("merge_group", raw)).status_code == 200
        h.drain()
        assert github.latest_status("octo-org/octo-repo", head, "shiplane")["state"] == "pending"
    finally:
        h.close()


def test_merged_pull_requests_and_pushes_are_recorded(hello):
    payload = json.loads((GH / "pull_request.closed.1.json").read_text())
    payload["pull_request"].update(merged=True, merge_commit_sha="a" * 40, merged_at="2019-05-15T15:30:00Z")
    raw = json.dumps(payload).encode()
    assert hello.client.post("/hooks/github", content=raw, headers=gh_headers("pull_request", raw)).status_code == 200
    raw = (GH / "push.branch.1.json").read_bytes()
    assert hello.client.post("/hooks/github", content=raw, headers=gh_headers("push", raw)).status_code == 200
    with hello.db.read() as conn:
        pr = conn.execute(select(pull_requests)).first()
        commits = conn.execute(select(pushed_commits)).all()
    assert (pr.state, pr.merge_sha, pr.merged_at.isoformat()) == ("merged", "a" * 40, "2019-05-15T15:30:00+00:00")
    push = json.loads((GH / "push.branch.1.json").read_text())
    assert [c.sha for c in commits] == [c["id"] for c in push["commits"]]


def test_deployment_status_webhooks_register_deploys(hello):
    raw = (GH / "deployment_status.created.1.json").read_bytes()
    payload = json.loads(raw)
    r = hello.client.post("/hooks/github", content=raw, headers=gh_headers("deployment_status", raw))
    assert r.status_code == 200, r.text
    (d,) = hello.api("GET", "/api/v1/deploys").json()["items"]
    assert (d["service"], d["environment"], d["sha"]) == ("hello", payload["deployment"]["environment"], payload["deployment"]["sha"])


def test_deployment_protection_rules_follow_the_gate(db, db_url):
    private, public = make_app_keypair()
    fake = FakeGitHub(token=(), app_id=4242, app_public_key=public, installation_ids=(77,))
    fake.add_repo("acme/web")
    h = Harness(db, db_url, github_config(token=None, app_id=4242, private_key=private, installation_id=77), fake)
    try:
        h.api("POST", "/api/v1/locks", json={"environment": "production", "reason": "incident INC-9"})
        payload = {
            "action": "requested",
            "environment": "production",
            "event": "push",
            "deployment_callback_url": "https://api.github.com/repos/acme/web/actions/runs/1234/deployment_protection_rule",
            "deployment": {"sha": sha(1)},
            "repository": {"full_name": "acme/web"},
        }
        raw = json.dumps(payload).encode()
        assert h.client.post("/hooks/github", content=raw, headers=gh_headers("deployment_protection_rule", raw)).status_code == 200
        h.drain()
        (review,) = fake.reviews
        assert (review["environment_name"], review["state"]) == ("production", "rejected")
        assert "incident INC-9" in review["comment"]
        assert fake.violations == []
        assert any(r.path == "/app/installations/77/access_tokens" for r in fake.requests)
    finally:
        h.close()


# ---------------------------------------------------------------- Bitbucket and GitLab


def test_bitbucket_resolves_short_hashes_before_posting(db, db_url):
    fake = FakeBitbucket(email="bot@example.com", api_token="bb-api-token")
    payload = json.loads((BB / "cloud.pullrequest_created.json").read_text())
    repo = payload["repository"]["full_name"]
    short = payload["pullrequest"]["source"]["commit"]["hash"]
    full = short + "0" * (40 - len(short))
    fake.add_repo(repo, main_branch="master")
    fake.add_commit(repo, full)
    cfg = Config.model_validate(
        {
            "services": [{"slug": "tests", "repo": f"bitbucket:{repo}", "branch": "master"}],
            "forges": {"bitbucket": {"email": "bot@example.com", "api_token": "bb-api-token", "webhook_secret": "bbsecret"}},
        }
    )
    h = Harness(db, db_url, cfg, fake)
    try:
        h.api("POST", "/api/v1/locks", json={"environment": "production", "reason": "freeze"})
        raw = (BB / "cloud.pullrequest_created.json").read_bytes()
        digest = "sha256=" + hmac.new(b"bbsecret", raw, hashlib.sha256).hexdigest()
        headers = {"X-Event-Key": "pullrequest:created", "X-Hub-Signature": digest, "X-Request-UUID": "u-1"}
        assert h.client.post("/hooks/bitbucket", content=raw, headers=headers).status_code == 200
        assert h.client.post("/hooks/bitbucket", content=raw, headers=headers | {"X-Hub-Signature": "sha256=00"}).status_code == 401
        h.drain()
        status = fake.status(repo, full, "shiplane")
        assert status["state"] == "INPROGRESS" and "freeze" in status["description"]
        assert fake.violations == []
    finally:
        h.close()


@pytest.mark.parametrize("name", ["repo_push.createPayload.json", "cloud.commit_created.json", "pullrequest.fulfilledPayload.json", "pullrequest.updatePayload_newCommit.json"])
def test_bitbucket_payloads_are_read(name):
    from shiplane.enforcement.forges.bitbucket import parse_webhook

    key = {"repo_push": "repo:push", "cloud.commit": "repo:push", "pullrequest.fulfilled": "pullrequest:fulfilled", "pullrequest.update": "pullrequest:updated"}
    event_key = next(v for k, v in key.items() if name.startswith(k))
    delivery = parse_webhook({"X-Event-Key": event_key}, (BB / name).read_bytes())
    kinds = {type(e).__name__ for e in delivery.events}
    assert kinds <= {"Pushed", "PullRequestClosed", "PullRequestChanged"} and kinds


def test_gitlab_merge_requests_get_commit_statuses(db, db_url):
    fake = FakeGitLab(token="glpat-test-token")
    fake.add_project("acme/web")
    fake.add_mr("acme/web", 7, sha("mr7"))
    cfg = Config.model_validate(
        {
            "services": [{"slug": "web", "repo": "gitlab:acme/web", "branch": "main"}],
            "forges": {"gitlab": {"api_url": "https://gitlab.example.com/api/v4", "token": "glpat-test-token", "webhook_token": "tok"}},
        }
    )
    h = Harness(db, db_url, cfg, fake)
    try:
        h.drain()
        assert fake.latest_status("acme/web", sha("mr7"), "shiplane")["status"] == "success"
        h.api("POST", "/api/v1/locks", json={"environment": "production", "reason": "freeze"})
        h.drain()
        assert fake.latest_status("acme/web", sha("mr7"), "shiplane")["status"] == "pending"
        assert h.client.post("/hooks/gitlab", content=b"{}", headers={"X-Gitlab-Token": "nope"}).status_code == 401
        assert fake.violations == []
    finally:
        h.close()


@pytest.mark.slow
def test_a_schedule_boundary_changes_statuses_without_anyone_calling(db, db_url, github):
    open_pulls(github, 2)
    starts = (datetime.now(UTC) + timedelta(seconds=2)).replace(tzinfo=None)
    cfg = github_config().model_dump(mode="json")
    cfg["freezes"] = [{"environments": ["production"], "start": starts.isoformat(), "end": (starts + timedelta(hours=1)).isoformat(), "reason": "Release freeze"}]
    cfg["forges"]["github"].update(token="ghp_test_token", webhook_secret=WEBHOOK_SECRET)
    h = Harness(db, db_url, Config.model_validate(cfg), github)
    try:
        h.drain()
        assert github.latest_status("acme/web", sha("pr1"), "shiplane")["state"] == "success"
        time.sleep(2.2)
        h.drain()
        status = github.latest_status("acme/web", sha("pr1"), "shiplane")
        assert status["state"] == "pending" and status["description"] == "Production locked: Release freeze"
    finally:
        h.close()
