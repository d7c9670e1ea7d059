"""Reverts count as change failures (SPEC §8.7, docs/dora.md#reverts), through signed GitHub webhooks."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta

import pytest

from shiplane.changes import parse
from shiplane.settings import Config
from tests.conftest import BOB, sha
from tests.integration.test_changes import app_for

SECRET = "s3cret"
AUTH = {"Authorization": f"Bearer {BOB}"}
T0 = datetime(2026, 11, 2, 9, tzinfo=UTC)


def config(reverts: bool = True) -> Config:
    return Config.model_validate({
        "services": [{"slug": "web", "repo": "github:acme/web"}],
        "forges": {"github": {"token": "t", "webhook_secret": SECRET}},
        "dora": {"reverts": reverts},
    })


def hook(client, event: str, payload: dict) -> dict:
    raw = json.dumps(payload).encode()
    signature = "sha256=" + hmac.new(SECRET.encode(), raw, hashlib.sha256).hexdigest()
    r = client.post("/hooks/github", content=raw, headers={"X-GitHub-Event": event, "X-Hub-Signature-256": signature,
                                                           "X-GitHub-Delivery": hashlib.md5(raw).hexdigest()})
    assert r.status_code == 200, r.text
    return r.json()


def merged(number: int, title: str, body: str = "", merge_sha: str | None = None) -> dict:
    return {
        "action": "closed",
        "repository": {"full_name": "acme/web"},
        "pull_request": {"number": number, "title": title, "body": body, "merged": True, "merged_at": "2026-11-03T10:00:00Z",
                         "merge_commit_sha": merge_sha or sha(f"merge-{number}"), "head": {"sha": sha(f"head-{number}")},
                         "base": {"ref": "main"}, "user": {"login": "ann"}, "state": "closed"},
    }


def deploy(client, n: int, at: datetime, commits: list[str]) -> dict:
    body = {"service": "web", "environment": "production", "sha": sha(n), "finished_at": at.isoformat(),
            "commits": [{"revision": c, "date": (at - timedelta(hours=1)).isoformat()} for c in commits]}
    r = client.post("/api/v1/deploys", json=body, headers=AUTH)
    assert r.status_code == 201, r.text
    return r.json()


def get(client, deploy_id: int) -> dict:
    return client.get(f"/api/v1/deploys/{deploy_id}", headers=AUTH).json()


def failed(client) -> int:
    r = client.get("/api/v1/dora", params={"since": "2026-11-01", "until": "2026-11-09"}, headers=AUTH)
    return r.json()["change_failure_rate"]["failed"]


def test_a_merged_revert_pull_request_fails_the_deploy_that_shipped_the_change(db, db_url):
    client, _ = app_for(db, db_url, config())
    with client:
        hook(client, "pull_request", merged(41, "Add the checkout button"))
        shipped = deploy(client, 1, T0, [sha("merge-41")])
        deploy(client, 2, T0 + timedelta(hours=3), [sha("other")])
        health_before = get(client, shipped["id"])["health"]["state"]
        assert failed(client) == 0
        result = hook(client, "pull_request", merged(42, 'Revert "Add the checkout button"'))
        assert f"revert: deploy {shipped['id']} failed" in result["actions"]
        d = get(client, shipped["id"])
        assert d["dora_failure"] == "reverted by pull request #42"
        assert d["health"]["state"] == health_before  # the verdict is unchanged
        assert failed(client) == 1
        events = client.get("/api/v1/events", params={"kind": "revert_detected"}, headers=AUTH).json()["items"]
        assert [e["deploy_id"] for e in events] == [shipped["id"]]
        reasons = client.get("/api/v1/dora/deploys", params={"metric": "failed", "since": "2026-11-01", "until": "2026-11-09"},
                             headers=AUTH).json()["items"]
        assert reasons[0]["contribution"]["failed_because"] == ["reverted by pull request #42"]


def test_a_pushed_commit_with_the_trailer_fails_the_first_shipper(db, db_url):
    client, _ = app_for(db, db_url, config())
    with client:
        first = deploy(client, 1, T0, [sha("bad")])
        again = deploy(client, 2, T0 + timedelta(hours=2), [sha("bad")])  # shipped again: not the first shipper
        push = {"ref": "refs/heads/main", "after": sha("revert"), "repository": {"full_name": "acme/web"},
                "commits": [{"id": sha("revert"), "message": f'Revert "bad"\n\nThis reverts commit {sha("bad")}.',
                             "timestamp": "2026-11-03T10:00:00Z", "author": {"name": "Bo"}, "added": [], "modified": [], "removed": []}]}
        hook(client, "push", push | {"ref": "refs/heads/revert-12-bad"})  # GitHub's Revert button: not merged yet
        assert get(client, first["id"])["dora_failure"] is None
        hook(client, "push", push)
        assert get(client, first["id"])["dora_failure"] == f"reverted by commit {sha('revert')[:7]}"
        assert get(client, again["id"])["dora_failure"] is None
        assert failed(client) == 1
        hook(client, "push", push | {"after": sha("x")})  # the same revert again: still one failure
        assert failed(client) == 1


def test_reverts_can_be_turned_off(db, db_url):
    client, _ = app_for(db, db_url, config(reverts=False))
    with client:
        shipped = deploy(client, 1, T0, [sha("bad")])
        hook(client, "pull_request", merged(43, "Undo", body=f"This reverts commit {sha('bad')}."))
        assert get(client, shipped["id"])["dora_failure"] is None


@pytest.mark.parametrize("text,expected", [
    ("This reverts commit 0123abcd.", ["0123abcd"]),
    ("This reverts commit 0123ABCDEF0123abcdef0123abcdef0123abcdef.\nThis reverts commit 1234567.",
     ["0123abcdef0123abcdef0123abcdef0123abcdef", "1234567"]),
    ("reverts nothing", []),
    ("This reverts commit 12345.", []),  # too short to be a sha
])
def test_the_trailer_is_read_as_git_writes_it(text, expected):
    assert parse.reverted_commits(text) == expected


def test_titles_and_bodies_are_read_as_github_writes_them():
    assert parse.reverted_title('Revert "Add the checkout button"') == "Add the checkout button"
    assert parse.reverted_title("Reverting things") is None
    assert parse.reverted_pull("Reverts acme/web#41\n\nbecause") == 41
    assert parse.reverted_pull("no") is None
