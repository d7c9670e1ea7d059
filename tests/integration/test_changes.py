"""What each deploy shipped: from the body, from push webhooks, from a real git mirror."""

from __future__ import annotations

import hashlib
import hmac
import json
import subprocess

import anyio
import pytest

from shiplane.changes.service import ChangeTracker
from shiplane.settings import Config
from tests.conftest import BOB, make_settings, sha

SECRET = "s3cret"


def git(cwd, *args):
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture
def repo(tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    git(work, "init", "-q", "-b", "main")
    git(work, "config", "user.email", "ann@example.com")
    git(work, "config", "user.name", "Ann")
    shas = []

    def commit(path, message, date):
        f = work / path
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text(message)
        git(work, "add", ".")
        subprocess.run(
            ["git", "commit", "-q", "-m", message], cwd=work, check=True,
            env={"GIT_AUTHOR_DATE": date, "GIT_COMMITTER_DATE": date, "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
        )
        shas.append(git(work, "rev-parse", "HEAD"))

    commit("README", "initial", "2026-11-01T10:00:00Z")
    commit("web/app.py", "PROJ-12 web: login (#41)", "2026-11-02T10:00:00Z")
    commit("api/main.py", "API-3 api only", "2026-11-02T11:00:00Z")
    commit("web/page.html", "Merge pull request #42 from acme/OPS-7-page", "2026-11-02T12:00:00Z")
    return work, shas


def app_for(db, db_url, config):
    from fastapi.testclient import TestClient

    from shiplane.app import create_app

    app = create_app(make_settings(db_url, config), db=db, worker=False)
    return TestClient(app), app.state.ctx


def deploy(client, service, sha_, **kw):
    body = {"service": service, "environment": "production", "sha": sha_} | kw
    r = client.post("/api/v1/deploys", json=body, headers={"Authorization": f"Bearer {BOB}"})
    assert r.status_code == 201, r.text
    return r.json()


def detail(client, deploy_id):
    return client.get(f"/api/v1/deploys/{deploy_id}", headers={"Authorization": f"Bearer {BOB}"}).json()


def test_changes_come_from_a_git_mirror_with_monorepo_paths(db, db_url, repo, tmp_path):
    work, shas = repo
    config = Config.model_validate(
        {
            "services": [{"slug": "web", "git_remote": f"file://{work}", "paths": ["web"]}],
            "changes": {"mirror_dir": str(tmp_path / "mirrors")},
        }
    )
    client, ctx = app_for(db, db_url, config)
    with client:
        first = deploy(client, "web", shas[0])
        second = deploy(client, "web", shas[3])
        assert anyio.run(ChangeTracker(config, db).tick) == 1
        d = detail(client, second["id"])
        changes = d["changes"]
        assert changes["source"] == "mirror"
        assert [c["sha"] for c in changes["commits"]] == [shas[1], shas[3]]  # the api-only commit is not web's
        assert changes["pull_requests"] == [41, 42]
        assert changes["issues"] == ["PROJ-12", "OPS-7"]
        assert (changes["commit_count"], changes["files_changed"]) == (2, 2)
        assert changes["commits"][0]["date"] == "2026-11-02T10:00:00Z"
        assert changes["commits"][0]["author"]["name"] == "Ann"
        f = detail(client, first["id"])["changes"]
        assert f["source"] == "none" and f["note"].startswith("first deploy of web to production")


def test_changes_come_from_push_webhooks(db, db_url):
    config = Config.model_validate(
        {
            "services": [{"slug": "web", "repo": "github:acme/web"}],
            "forges": {"github": {"token": "t", "webhook_secret": SECRET}},
        }
    )
    client, ctx = app_for(db, db_url, config)
    commits = [
        {"id": sha(f"c{i}"), "message": f"PROJ-{i} change {i}", "timestamp": f"2026-11-0{i}T10:00:00Z",
         "author": {"name": "Bo", "email": "bo@example.com", "username": "bo"}, "added": [f"f{i}.py"], "modified": [], "removed": []}
        for i in range(1, 5)
    ]
    with client:
        for chunk in (commits[:1], commits[1:]):
            payload = {"ref": "refs/heads/main", "after": chunk[-1]["id"], "commits": chunk, "repository": {"full_name": "acme/web"}}
            raw = json.dumps(payload).encode()
            signature = "sha256=" + hmac.new(SECRET.encode(), raw, hashlib.sha256).hexdigest()
            r = client.post("/hooks/github", content=raw, headers={"X-GitHub-Event": "push", "X-Hub-Signature-256": signature})
            assert r.status_code == 200
        deploy(client, "web", sha("c1"))
        second = deploy(client, "web", sha("c4"))
        anyio.run(ChangeTracker(config, db).tick)
        changes = detail(client, second["id"])["changes"]
        assert changes["source"] == "webhook"
        assert [c["sha"] for c in changes["commits"]] == [sha("c2"), sha("c3"), sha("c4")]
        assert changes["issues"] == ["PROJ-2", "PROJ-3", "PROJ-4"]
        assert changes["files_changed"] == 3


def test_untracked_services_say_why_they_have_no_changes(db, db_url):
    client, _ = app_for(db, db_url, Config())
    with client:
        deploy(client, "web", sha(1))
        d = deploy(client, "web", sha(2))
        changes = detail(client, d["id"])["changes"]
        assert changes["source"] == "none" and "no change source" in changes["note"]


def test_body_commits_are_the_changes_even_on_a_first_deploy(db, db_url):
    client, _ = app_for(db, db_url, Config.model_validate({"changes": {"issue_pattern": r"SP-\d+"}}))
    with client:
        d = deploy(client, "web", sha(1), commits=[{"revision": sha(9), "message": "SP-1 and PROJ-2", "files": ["a.py", "b.py"]}])
        changes = detail(client, d["id"])["changes"]
        assert (changes["source"], changes["commit_count"], changes["files_changed"]) == ("body", 1, 2)
        assert changes["issues"] == ["SP-1"]  # the configured pattern
