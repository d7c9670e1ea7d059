"""The deploys API, end to end through the ASGI app, on SQLite and PostgreSQL."""

from datetime import UTC, datetime, timedelta

import pytest

from shiplane.settings import Config, ServerConfig
from tests.conftest import sha


def deploy(api, **kw):
    body = {"service": "web", "environment": "production", "sha": sha(1)} | kw
    return api.post("/api/v1/deploys", json=body)


def test_it_registers_a_deploy(bob):
    r = deploy(bob, version="1.2.3", author="Bob", tags=["blue"], url="https://ci.example/1")
    assert r.status_code == 201
    d = r.json()
    assert (d["service"], d["environment"], d["sha"], d["status"]) == ("web", "production", sha(1), "succeeded")
    assert d["health"]["state"] == "no_data"  # no metrics configured: nothing to judge
    assert (d["version"], d["author"], d["tags"], d["during_lock"], d["override"]) == (
        "1.2.3",
        "Bob",
        ["blue"],
        False,
        None,
    )
    assert d["finished_at"].endswith("Z") and d["started_at"] is None
    assert bob.get(f"/api/v1/deploys/{d['id']}").json()["sha"] == sha(1)


def test_it_is_idempotent_while_the_deploy_is_latest(bob):
    first = deploy(bob).json()
    again = deploy(bob)
    assert again.status_code == 200 and again.json()["id"] == first["id"]
    assert len(bob.get("/api/v1/deploys").json()["items"]) == 1
    assert [e["kind"] for e in bob.get("/api/v1/events?kind=deploy_registered").json()["items"]] == [
        "deploy_registered"
    ]


def test_it_finishes_a_started_deploy_when_the_same_sha_reports_success(bob):
    started = deploy(bob, status="started").json()
    done = deploy(bob, status="succeeded")
    assert done.status_code == 200
    assert done.json()["id"] == started["id"] and done.json()["status"] == "succeeded"


def test_a_second_start_is_refused_with_the_blocking_deploy(bob):
    first = deploy(bob, status="started").json()
    r = deploy(bob, status="started", sha=sha(2))
    assert r.status_code == 409
    assert r.json()["error"] == "deploy_in_progress"
    assert r.json()["blocking_deploy"]["id"] == first["id"]
    # another environment is another place
    assert deploy(bob, status="started", sha=sha(2), environment="staging").status_code == 201


def test_override_does_not_bypass_an_in_progress_deploy(bob):
    deploy(bob, status="started")
    r = deploy(bob, status="started", sha=sha(2), override_reason="hotfix")
    assert r.status_code == 409 and r.json()["error"] == "deploy_in_progress"


def test_it_moves_through_the_transition_table(bob):
    d = deploy(bob, status="started").json()
    r = bob.patch(f"/api/v1/deploys/{d['id']}", json={"status": "failed"})
    assert r.status_code == 200 and r.json()["status"] == "failed" and r.json()["finished_at"]
    r = bob.patch(f"/api/v1/deploys/{d['id']}", json={"status": "succeeded"})
    assert r.status_code == 409
    assert r.json()["error"] == "invalid_transition"
    assert bob.get(f"/api/v1/deploys/{d['id']}").json()["status"] == "failed"


def test_a_finished_deploy_frees_the_slot(bob):
    d = deploy(bob, status="started").json()
    bob.patch(f"/api/v1/deploys/{d['id']}", json={"status": "cancelled"})
    assert deploy(bob, status="started", sha=sha(2)).status_code == 201


def test_it_records_deploys_after_the_fact(bob):
    t0 = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
    r = deploy(bob, started_at=(t0).isoformat(), finished_at="2026-03-01T10:05:00")  # naive is UTC
    d = r.json()
    assert (d["started_at"], d["finished_at"]) == ("2026-03-01T10:00:00Z", "2026-03-01T10:05:00Z")
    # a later after-the-fact deploy with an earlier time sorts behind it
    deploy(bob, sha=sha(2), finished_at="2026-02-01T00:00:00+01:00")
    items = bob.get("/api/v1/deploys").json()["items"]
    assert [i["sha"] for i in items] == [sha(1), sha(2)]
    assert items[1]["finished_at"] == "2026-01-31T23:00:00Z"


def test_it_detects_rollbacks(bob):
    t = datetime(2026, 5, 1, tzinfo=UTC)
    ids = []
    for i, n in enumerate([1, 2, 3]):
        ids.append(deploy(bob, sha=sha(n), finished_at=(t + timedelta(hours=i)).isoformat()).json()["id"])
    back = deploy(bob, sha=sha(1), finished_at=(t + timedelta(hours=5)).isoformat()).json()
    assert "rollback" in back["tags"] and back["rollback_of"] == ids[0]
    statuses = {d["id"]: d["status"] for d in bob.get("/api/v1/deploys").json()["items"]}
    assert statuses == {ids[0]: "succeeded", ids[1]: "rolled_back", ids[2]: "rolled_back", back["id"]: "succeeded"}
    kinds = [e["data"].get("to") for e in bob.get("/api/v1/events?kind=deploy_status_changed").json()["items"]]
    assert kinds == ["rolled_back", "rolled_back"]


def test_a_started_rollback_marks_deploys_rolled_back_only_when_it_succeeds(bob):
    deploy(bob, sha=sha(1), finished_at="2026-05-01T00:00:00Z")
    second = deploy(bob, sha=sha(2), finished_at="2026-05-01T01:00:00Z").json()
    back = deploy(bob, sha=sha(1), status="started").json()
    assert "rollback" in back["tags"]
    assert bob.get(f"/api/v1/deploys/{second['id']}").json()["status"] == "succeeded"
    bob.patch(f"/api/v1/deploys/{back['id']}", json={"status": "succeeded"})
    assert bob.get(f"/api/v1/deploys/{second['id']}").json()["status"] == "rolled_back"


def test_it_keeps_commits_with_pull_requests_and_issue_keys(bob):
    commits = [
        {
            "revision": sha(10),
            "message": "PROJ-123 fix checkout (#45)\n",
            "author": {"name": "Ann", "email": "ann@example.com", "username": "ann"},
            "date": "2026-05-01T09:00:00+02:00",
            "url": "https://git.example/c/1",
            "files": ["a.py"],
            "parents": [],
        },
        {"revision": sha(11), "message": "Merge pull request #46 from acme/OPS-7-x"},
    ]
    d = deploy(bob, commits=commits).json()
    detail = bob.get(f"/api/v1/deploys/{d['id']}").json()
    changes = detail["changes"]
    assert [c["sha"] for c in changes["commits"]] == [sha(10), sha(11)]
    assert changes["pull_requests"] == [45, 46]
    assert changes["issues"] == ["PROJ-123", "OPS-7"]
    assert changes["commits"][0]["date"] == "2026-05-01T07:00:00Z"
    assert changes["commits"][0]["author"] == {"name": "Ann", "email": "ann@example.com", "username": "ann"}
    assert detail["health"]["metrics"] == []


def test_it_lists_newest_first_with_cursor_pages(bob):
    t = datetime(2026, 1, 1, tzinfo=UTC)
    for i in range(7):
        deploy(bob, sha=sha(i), finished_at=(t + timedelta(minutes=i)).isoformat())
    seen, cursor = [], None
    while True:
        page = bob.get("/api/v1/deploys", params={"limit": 3} | ({"cursor": cursor} if cursor else {})).json()
        seen += [d["sha"] for d in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == [sha(i) for i in reversed(range(7))]


def test_it_filters_the_list(bob):
    deploy(bob, sha=sha(1))
    deploy(bob, sha=sha(2), environment="staging")
    deploy(bob, sha=sha(3), service="api", status="failed")
    assert [d["sha"] for d in bob.get("/api/v1/deploys?environment=staging").json()["items"]] == [sha(2)]
    assert [d["sha"] for d in bob.get("/api/v1/deploys?service=api").json()["items"]] == [sha(3)]
    assert [d["sha"] for d in bob.get("/api/v1/deploys?status=failed").json()["items"]] == [sha(3)]
    assert len(bob.get("/api/v1/deploys?health=no_data").json()["items"]) == 3
    assert bob.get("/api/v1/deploys?service=nope").json() == {"items": [], "next_cursor": None}


@pytest.fixture
def config():
    return Config()


class TestWithoutAutoCreate:
    @pytest.fixture
    def config(self):
        return Config(server=ServerConfig(auto_create=False))

    def test_unknown_service_is_404(self, bob):
        r = deploy(bob)
        assert r.status_code == 404 and r.json()["error"] == "unknown_service"
        assert bob.get("/api/v1/events?kind=deploy_registered").json()["items"] == []


def test_auto_created_production_is_a_production_environment(bob, db):
    from sqlalchemy import select

    from shiplane.tables.catalog import environments

    deploy(bob, environment="prod")
    deploy(bob, environment="staging")
    with db.read() as conn:
        rows = dict(conn.execute(select(environments.c.slug, environments.c.production)).all())
    assert rows == {"prod": True, "staging": False}


# ---------------------------------------------------------------- auth


def test_it_needs_a_token(anon):
    r = deploy(anon)
    assert r.status_code == 401 and r.json()["error"] == "unauthorized"
    assert anon.get("/api/v1/deploys", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert anon.get("/api/v1/deploys", headers={"Authorization": "Basic abc"}).status_code == 401


def test_viewers_cannot_deploy(charlie):
    r = deploy(charlie)
    assert r.status_code == 403 and r.json()["error"] == "forbidden"
    assert charlie.get("/api/v1/deploys").status_code == 200


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "body,field",
    [
        ({"environment": "production", "sha": sha(1)}, "service"),
        ({"service": "web", "environment": "production", "sha": "xyz"}, "sha"),
        ({"service": "web", "environment": "production", "sha": "abc12"}, "sha"),
        ({"service": "Web App", "environment": "production", "sha": sha(1)}, "service"),
        ({"service": "web", "environment": "production", "sha": sha(1), "status": "done"}, "status"),
        ({"service": "web", "environment": "production", "sha": sha(1), "tags": "a,b"}, "tags"),
        ({"service": "web", "environment": "production", "sha": sha(1), "started_at": "yesterday"}, "started_at"),
        ({"service": "web", "environment": "production", "sha": sha(1), "overide_reason": "x"}, "overide_reason"),
        ({"service": "web", "environment": "production", "sha": sha(1), "override_reason": "  "}, "override_reason"),
        ({"service": "web", "environment": "production", "sha": sha(1), "commits": [{"message": "x"}]}, "commits.0.revision"),
        ({"service": 5, "environment": "production", "sha": sha(1)}, "service"),
    ],
)
def test_bad_bodies_name_the_field_and_write_nothing(bob, body, field):
    r = bob.post("/api/v1/deploys", json=body)
    assert r.status_code == 422, r.text
    assert r.json()["error"] == "validation_error"
    assert field in r.json()["fields"], r.json()
    assert bob.get("/api/v1/deploys").json()["items"] == []


def test_finished_before_started_is_422(bob):
    r = deploy(bob, started_at="2026-01-02T00:00:00Z", finished_at="2026-01-01T00:00:00Z")
    assert r.status_code == 422 and "finished_at is before started_at" in r.json()["detail"]


@pytest.mark.parametrize("payload", [b"not json", b"[1,2]", b"", b"{\"service\": "])
def test_non_json_is_422(bob, payload):
    r = bob.post("/api/v1/deploys", content=payload, headers={"Content-Type": "application/json"})
    assert r.status_code == 422 and "body" in r.json()["fields"]


def test_huge_bodies_are_413(bob):
    r = bob.post("/api/v1/deploys", content=b"{" + b" " * (1024 * 1024 + 1) + b"}", headers={"Content-Type": "application/json"})
    assert r.status_code == 413 and r.json()["error"] == "payload_too_large"


@pytest.mark.parametrize(
    "url,field",
    [
        ("/api/v1/deploys?limit=0", "limit"),
        ("/api/v1/deploys?limit=many", "limit"),
        ("/api/v1/deploys?cursor=%%%", "cursor"),
        ("/api/v1/deploys?status=exploded", "status"),
        ("/api/v1/events?since=not-a-date", "since"),
    ],
)
def test_bad_queries_are_422(bob, url, field):
    r = bob.get(url)
    assert r.status_code == 422 and field in r.json()["fields"], r.json()


def test_unknown_deploys_are_404(bob):
    assert bob.get("/api/v1/deploys/999").json()["error"] == "not_found"
    assert bob.patch("/api/v1/deploys/999", json={"status": "failed"}).status_code == 404
    assert bob.get("/api/v1/deploys/abc").status_code == 422
