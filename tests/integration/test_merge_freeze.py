"""Merge freeze in one write (merge_freeze = "branch" | "both"), exemptions and merge queues, against the
fake forges on both databases.

Where the forges' behaviour comes from (each fake's docstring has the details):
- GitHub rulesets: docs.github.com/rest/repos/rules ("Create a repository ruleset", "Update ...",
  "Delete ..."); the "update" rule ("Restrict updates") from docs.github.com, "Available rules for
  rulesets"; requests validated against ../shared/data/github/rest-openapi-subset.json.
- GitLab: docs.gitlab.com/api/protected_branches/ ("Update a protected branch": `allowed_to_merge`
  entries, `id` + `_destroy` to remove one; access level 0 = No one).
- Bitbucket Cloud: developer.atlassian.com/cloud/bitbucket/rest/api-group-branch-restrictions/
  (`restrict_merges` with empty `users` and `groups` denies everybody; kind + pattern are unique).
- Merge queues: docs.github.com, "Managing a merge queue" (the status check timeout) and the reasons
  a pull request leaves a queue (timed out awaiting CI; a branch protection failure); `merge_group`
  `destroyed` with reason merged | invalidated | dequeued (webhook events and payloads).
"""

from __future__ import annotations

import json
import random
from datetime import timedelta

import anyio
import httpx
import pytest
from sqlalchemy import delete, select, update

from shiplane import clock
from shiplane.notify import messages
from shiplane.settings import Config
from shiplane.tables.enforcement import branch_freezes, merge_groups
from shiplane.tables.jobs import budget_spends, jobs
from tests.conftest import sha
from tests.fakes import FakeBitbucket, FakeGitHub, FakeGitLab
from tests.integration.test_merge_blocking import GH, WEBHOOK_SECRET, Harness, gh_headers, open_pulls

NAME = "shiplane: web merge freeze"
MUTATING = {"POST", "PUT", "PATCH", "DELETE"}


def config(forge: str = "github", repo: str = "acme/web", **service) -> Config:
    forges = {
        "github": {
            "token": "ghp_test_token",
            "webhook_secret": WEBHOOK_SECRET,
            "writes_per_minute": 0,
            "writes_per_hour": 0,
            "freeze_bypass": [{"actor_type": "RepositoryRole", "actor_id": 5}],
        },
        "gitlab": {"api_url": "https://gitlab.example.com/api/v4", "token": "glpat-test-token", "webhook_token": "tok"},
        "bitbucket": {"email": "bot@example.com", "api_token": "bb-api-token", "webhook_secret": "bbsecret"},
    }
    return Config.model_validate(
        {
            "server": {"public_url": "https://shiplane.example.com"},
            "environments": [{"slug": "production", "production": True}],
            "services": [{"slug": "web", "repo": f"{forge}:{repo}", "branch": "main", "merge_freeze": "branch"} | service],
            "forges": {forge: forges[forge]},
        }
    )


def writes(fake, since: int = 0) -> list[tuple[str, str]]:
    return [(c.method, c.path) for c in fake.requests[since:] if c.method in MUTATING]


def lock(h: Harness, reason: str = "release freeze") -> dict:
    r = h.api("POST", "/api/v1/locks", json={"environment": "production", "reason": reason})
    assert r.status_code == 201, r.text
    return r.json()


def unlock(h: Harness, lock_: dict) -> None:
    assert h.api("DELETE", f"/api/v1/locks/{lock_['id']}").status_code == 200


def freeze_row(h: Harness):
    with h.db.read() as conn:
        return conn.execute(select(branch_freezes).where(branch_freezes.c.service == "web")).first()


def events(h: Harness, kind: str) -> list[dict]:
    return h.api("GET", f"/api/v1/events?kind={kind}").json()["items"]


def time_passes(h: Harness, minutes: float = 11) -> None:
    """Every pending job falls due: backoffs and the 10-minute check pass."""
    with h.db.write() as conn:
        conn.execute(update(jobs).where(jobs.c.state == "pending").values(run_at=clock.now() - timedelta(seconds=1)))


@pytest.fixture
def github():
    fake = FakeGitHub(token="ghp_test_token")
    fake.add_repo("acme/web")
    return fake


@pytest.fixture
def make(db, db_url):
    made = []

    def build(fake, cfg):
        h = Harness(db, db_url, cfg, fake)
        made.append(h)
        return h

    yield build
    for h in made:
        h.close()


# ---------------------------------------------------------------- GitHub: one write each way


def test_a_lock_freezes_the_branch_with_one_ruleset_and_an_unlock_deletes_it(make, github):
    open_pulls(github, 30)
    h = make(github, config())
    h.drain()  # start-up: nothing to freeze, and branch mode posts no statuses
    assert writes(github) == []
    before = len(github.requests)

    lk = lock(h)
    h.drain()
    assert writes(github, before) == [("POST", "/repos/acme/web/rulesets")]
    (ruleset,) = github.rulesets("acme/web")
    assert {k: ruleset[k] for k in ("name", "target", "enforcement", "conditions", "rules", "bypass_actors")} == {
        "name": NAME,
        "target": "branch",
        "enforcement": "active",
        "conditions": {"ref_name": {"include": ["refs/heads/main"], "exclude": []}},
        "rules": [{"type": "update", "parameters": {"update_allows_fetch_and_merge": False}}],
        "bypass_actors": [{"actor_id": 5, "actor_type": "RepositoryRole", "bypass_mode": "always"}],
    }
    assert github.merge_blocked("acme/web", "main")
    assert not github.merge_blocked("acme/web", "main", actor=("RepositoryRole", 5))  # break glass
    assert not github.merge_blocked("acme/web", "release")
    assert all(github.latest_status("acme/web", sha(f"pr{i}"), "shiplane") is None for i in range(1, 31))
    row = freeze_row(h)
    assert (row.desired, row.state, row.ref, row.failed) == ("frozen", "frozen", str(ruleset["id"]), False)
    (event,) = events(h, "branch_frozen")
    assert event["data"].items() >= {"forge": "github", "forge_title": "GitHub", "repo": "acme/web", "branch": "main"}.items()

    before = len(github.requests)
    unlock(h, lk)
    h.drain()
    assert writes(github, before) == [("DELETE", f"/repos/acme/web/rulesets/{ruleset['id']}")]
    assert github.rulesets("acme/web") == [] and not github.merge_blocked("acme/web", "main")
    assert (freeze_row(h).state, len(events(h, "branch_unfrozen"))) == ("open", 1)
    assert github.violations == []


def test_a_lock_in_branch_mode_lists_no_pull_requests(make, github):
    """Nothing is posted while the branch is frozen, so the twenty pages of a 2,000-PR listing are skipped."""
    open_pulls(github, 3)
    h = make(github, config())
    h.drain()
    before = len(github.requests)
    lock(h)
    h.drain()
    assert [c.path for c in github.requests[before:] if c.path.endswith("/pulls")] == []


def test_the_dashboard_shows_the_frozen_branch_with_forge_and_time(make, github):
    cfg = config()
    cfg = cfg.model_copy(update={"server": cfg.server.model_copy(update={"public_dashboard": True})})
    h = make(github, cfg)
    lock(h)
    h.drain()
    html = h.client.get("/").text
    assert 'data-freeze="frozen"' in html and "❄ branch frozen on GitHub" in html and "since" in html


def test_a_ruleset_deleted_by_hand_is_put_back_at_the_next_sync(make, github):
    h = make(github, config())
    lock(h)
    h.drain()
    (ruleset,) = github.rulesets("acme/web")
    github.delete_ruleset("acme/web", ruleset["id"])
    assert not github.merge_blocked("acme/web", "main")
    checks = [j for j in h.jobs(kind="freeze:github") if j.state == "pending"]
    assert len(checks) == 1 and checks[0].run_at - clock.now() > timedelta(minutes=9)  # the 10-minute sync
    time_passes(h)
    h.drain()
    (again,) = github.rulesets("acme/web")
    assert again["name"] == NAME and github.merge_blocked("acme/web", "main")
    assert freeze_row(h).ref == str(again["id"])
    first, restored = events(h, "branch_frozen")  # oldest first
    assert "restored" not in first["data"]
    assert restored["data"]["restored"] is True
    assert "put back" in messages.build(restored).headline
    assert github.violations == []


def test_a_ruleset_edited_by_hand_is_restored_in_one_write(make, github):
    h = make(github, config())
    lock(h)
    h.drain()
    (ruleset,) = github.rulesets("acme/web")
    github.repo("acme/web").rulesets[ruleset["id"]]["enforcement"] = "disabled"  # someone switched it off
    before = len(github.requests)
    time_passes(h)
    h.drain()
    assert writes(github, before) == [("PUT", f"/repos/acme/web/rulesets/{ruleset['id']}")]
    assert github.rulesets("acme/web")[0]["enforcement"] == "active"


def test_a_users_own_ruleset_is_never_touched(make, github):
    theirs = github.add_ruleset(
        "acme/web",
        {
            "name": "require linear history",
            "target": "branch",
            "enforcement": "active",
            "conditions": {"ref_name": {"include": ["~DEFAULT_BRANCH"], "exclude": []}},
            "rules": [{"type": "required_linear_history"}, {"type": "deletion"}],
        },
    )
    h = make(github, config())
    lk = lock(h)
    h.drain()
    time_passes(h)
    h.drain()
    unlock(h, lk)
    h.drain()
    assert github.rulesets("acme/web") == [github.rulesets("acme/web")[0]] and github.rulesets("acme/web")[0] == {
        **theirs, "updated_at": theirs["updated_at"]
    }
    touched = {c.path for c in github.requests if c.method in MUTATING}
    assert f"/repos/acme/web/rulesets/{theirs['id']}" not in touched
    assert github.violations == []


def test_a_403_without_a_rate_limit_falls_back_to_statuses_with_a_visible_error(make, github):
    open_pulls(github, 3)
    github.admin = False  # a token without the Administration permission
    h = make(github, config())
    h.drain()
    lock(h, "incident INC-7")
    h.drain()
    assert github.rulesets("acme/web") == []
    row = freeze_row(h)
    assert row.failed and "Administration permission" in row.last_error and "HTTP 403" in row.last_error
    dead = [j for j in h.jobs(kind="freeze:github") if j.state == "dead"]
    assert len(dead) == 1 and dead[0].attempts == 1  # permanent: not retried with backoff
    for i in range(1, 4):  # statuses took over
        status = github.latest_status("acme/web", sha(f"pr{i}"), "shiplane")
        assert status["state"] == "pending" and "incident INC-7" in status["description"]
    (failed,) = events(h, "branch_freeze_failed")
    assert failed["data"]["fallback"] == "statuses"
    assert "Statuses take over" in messages.build(failed).text
    with h.db.read() as conn:
        from shiplane.enforcement import sync

        (progress,) = sync.progress(conn, h.ctx.enforcement.targets)
    assert progress["freeze"]["failed"] and "403" in progress["freeze"]["last_error"]
    # Fixed permissions are noticed at the next 10-minute look while the gate is closed.
    github.admin = True
    time_passes(h)
    h.drain()
    assert github.merge_blocked("acme/web", "main") and not freeze_row(h).failed


def test_a_rate_limited_403_is_retried_not_a_fallback(make, github):
    h = make(github, config())
    h.drain()
    github.secondary_rate_limit_next(1, retry_after=30, match="POST /repos/acme/web/rulesets")
    lock(h)
    h.drain()
    assert not freeze_row(h).failed and github.rulesets("acme/web") == []
    (job,) = [j for j in h.jobs(kind="freeze:github") if j.state == "pending" and j.attempts]
    assert job.run_at >= clock.now() + timedelta(seconds=25)
    time_passes(h)
    h.drain()
    assert github.merge_blocked("acme/web", "main")


def test_both_mode_freezes_first_then_paces_statuses(make, github):
    open_pulls(github, 6)
    h = make(github, config(merge_freeze="both"))
    h.drain()
    before = len(github.requests)
    lock(h, "release train")
    h.drain()
    done = writes(github, before)
    assert done[0] == ("POST", "/repos/acme/web/rulesets") and len(done) == 7
    assert {p for _, p in done[1:]} == {f"/repos/acme/web/statuses/{sha(f'pr{i}')}" for i in range(1, 7)}
    assert github.latest_status("acme/web", sha("pr1"), "shiplane")["description"] == "Production locked: release train (token:bob)"
    (frozen,) = events(h, "branch_frozen")
    assert messages.closed_how(frozen["data"]).startswith("branch frozen on GitHub; statuses ")


def test_branch_mode_clears_blocking_statuses_left_by_a_fallback(make, github):
    open_pulls(github, 2)
    github.admin = False
    h = make(github, config())
    lk = lock(h)
    h.drain()
    assert github.latest_status("acme/web", sha("pr1"), "shiplane")["state"] == "pending"
    github.admin = True
    unlock(h, lk)
    h.drain()
    assert {github.latest_status("acme/web", sha(f"pr{i}"), "shiplane")["state"] for i in (1, 2)} == {"success"}



def paced(cfg: Config, per_minute: int, per_hour: int) -> Config:
    github_cfg = cfg.forges.github.model_copy(update={"writes_per_minute": per_minute, "writes_per_hour": per_hour})
    return cfg.model_copy(update={"forges": cfg.forges.model_copy(update={"github": github_cfg})})


def test_a_spent_status_budget_never_delays_the_freeze(make, github):
    h = make(github, paced(config(merge_freeze="both"), 20, 0))  # 16 a minute for statuses, 4 kept for freezes
    open_pulls(github, 20)
    h.drain()
    assert len(writes(github)) == 16  # the start-up statuses spent this minute's share
    before = len(github.requests)
    lock(h)
    h.drain()
    assert writes(github, before) == [("POST", "/repos/acme/web/rulesets")]
    assert github.merge_blocked("acme/web", "main")


def test_status_writes_of_an_older_gate_state_are_settled_not_paced(make, github):
    open_pulls(github, 12)
    h = make(github, paced(config(merge_freeze="statuses"), 5, 0))
    h.drain()
    assert len(writes(github)) == 5
    lock(h)
    h.drain()
    superseded = [j for j in h.jobs(kind="status:github") if j.last_error == "superseded by a newer gate state"]
    assert len(superseded) == 7 and {j.state for j in superseded} == {"done"}
    pending = [j for j in h.jobs(kind="status:github") if j.state == "pending"]
    assert len(pending) == 12 and {j.payload["status"]["state"] for j in pending} == {"pending"}


def test_a_status_write_waiting_for_its_send_window_is_dropped_when_a_lock_supersedes_it(make, github):
    """A `success` claimed before a lock, still waiting in the pacer when the lock comes, must not go out
    after it: it is checked again when its slot comes, right before the write."""
    open_pulls(github, 8)
    h = make(github, paced(config(merge_freeze="statuses"), 5, 0))
    h.drain()
    assert len(writes(github)) == 5  # the minute's budget is spent; three successes still queued
    (waiting, *_) = [j for j in h.jobs(kind="status:github") if j.state == "pending"]
    assert waiting.payload["status"]["state"] == "success"
    before = len(github.requests)

    async def go():
        async with anyio.create_task_group() as tg:
            tg.start_soon(h.ctx.enforcement.post_status, waiting.payload)
            for _ in range(200):  # until it passed its first check and waits for a slot
                if h.ctx.enforcement._sends["github"].turn.locked():
                    break
                await anyio.sleep(0.02)
            else:
                raise AssertionError("the status write never waited for a slot")
            lock(h)
            await h.worker.scheduled(clock.now())  # the gate closes: a newer desired state
            with h.db.write() as conn:
                conn.execute(delete(budget_spends))  # the window moves on: the slot comes

    anyio.run(go)
    assert writes(github, before) == []  # no stale success after the lock
    h.drain()
    assert github.latest_status("acme/web", waiting.payload["sha"], "shiplane")["state"] == "pending"


# ---------------------------------------------------------------- exemptions


def labelled(action: str, number: int, head: str, labels: list[str]) -> bytes:
    """A real pull_request payload (opened) turned into a labeled/unlabeled one, as GitHub sends them."""
    payload = json.loads((GH / "pull_request.opened.1.json").read_text())
    payload["action"] = action
    label_objects = [{"id": i + 1, "node_id": f"L{i}", "url": "https://api.github.com/l", "name": n, "color": "ededed", "default": False,
                      "description": None} for i, n in enumerate(labels)]
    payload["label"] = label_objects[-1] if label_objects else {"name": "hotfix"}
    payload["pull_request"].update(number=number, labels=label_objects)
    payload["pull_request"]["head"]["sha"] = head
    payload["pull_request"]["base"]["ref"] = "main"
    payload["repository"]["full_name"] = "acme/web"
    return json.dumps(payload).encode()


@pytest.mark.parametrize("mode", ["statuses", "both"])
def test_an_exempt_label_gives_success_and_removing_it_gives_pending(make, github, mode):
    open_pulls(github, 3)
    github.add_label("acme/web", 1, "HotFix")
    h = make(github, config(merge_freeze=mode, exempt_labels=["hotfix"]))
    h.drain()
    lock(h, "quiet period")
    h.drain()
    exempt = github.latest_status("acme/web", sha("pr1"), "shiplane")
    want = "Exempt from Production lock: label hotfix"
    if mode == "both":
        want += " (branch frozen: merging needs a bypass actor)"
    assert (exempt["state"], exempt["description"]) == ("success", want)
    assert github.latest_status("acme/web", sha("pr2"), "shiplane")["state"] == "pending"
    (event,) = events(h, "merge_exempted")
    assert (event["data"]["number"], event["data"]["label"]) == (1, "hotfix")

    # pr2 gets the label: the labeled webhook re-syncs it at once
    raw = labelled("labeled", 2, sha("pr2"), ["hotfix"])
    r = h.client.post("/hooks/github", content=raw, headers=gh_headers("pull_request", raw))
    assert r.status_code == 200 and r.json()["events"] == ["PullRequestChanged"], r.text
    h.drain()
    assert github.latest_status("acme/web", sha("pr2"), "shiplane")["state"] == "success"
    assert [e["data"]["number"] for e in events(h, "merge_exempted")] == [1, 2]
    with h.db.read() as conn:
        from shiplane.enforcement import sync

        (progress,) = sync.progress(conn, h.ctx.enforcement.targets)
    assert [x["number"] for x in progress["exempted"]] == [1, 2]  # the dashboard's list during the lock

    # ... and loses it again
    raw = labelled("unlabeled", 2, sha("pr2"), [])
    assert h.client.post("/hooks/github", content=raw, headers=gh_headers("pull_request", raw)).status_code == 200
    h.drain()
    status = github.latest_status("acme/web", sha("pr2"), "shiplane")
    assert status["state"] == "pending" and "quiet period" in status["description"]
    assert len(events(h, "merge_exempted")) == 2  # one per pull request per lock, not per webhook
    assert github.violations == []


def test_branch_mode_has_no_per_pull_request_exemption(make, github):
    open_pulls(github, 1)
    github.add_label("acme/web", 1, "hotfix")
    h = make(github, config(exempt_labels=["hotfix"]))
    lock(h)
    h.drain()
    assert github.latest_status("acme/web", sha("pr1"), "shiplane") is None and events(h, "merge_exempted") == []


# ---------------------------------------------------------------- merge queues


def merge_group(action: str = "checks_requested", reason: str | None = None, n: int = 1) -> tuple[bytes, str]:
    payload = json.loads((GH / f"merge_group.checks_requested.{n}.json").read_text())
    payload["action"] = action
    if reason:
        payload["reason"] = reason
    payload["repository"]["full_name"] = "acme/web"
    return json.dumps(payload).encode(), payload["merge_group"]["head_sha"]


@pytest.mark.parametrize("mode", ["statuses", "both"])
def test_a_merge_group_during_a_lock_is_held_and_released_after_the_unfreeze(make, github, mode):
    h = make(github, config(merge_freeze=mode))
    lk = lock(h)
    h.drain()
    raw, head = merge_group()
    github.add_commit("acme/web", head)
    r = h.client.post("/hooks/github", content=raw, headers=gh_headers("merge_group", raw))
    assert r.status_code == 200 and "held" in " ".join(r.json()["actions"])
    h.drain()
    assert github.latest_status("acme/web", head, "shiplane")["state"] == "pending"  # the queue waits
    with h.db.read() as conn:
        assert conn.execute(select(merge_groups.c.state, merge_groups.c.pulls)).one() == ("held", [104])

    before = len(github.requests)
    unlock(h, lk)
    h.drain()
    assert github.latest_status("acme/web", head, "shiplane")["state"] == "success"
    done = writes(github, before)
    release = done.index(("POST", f"/repos/acme/web/statuses/{head}"))
    if mode == "both":  # never ask the queue to merge into a branch that is still frozen
        assert done.index(("DELETE", f"/repos/acme/web/rulesets/{freeze_row(h).ref or github_ruleset_id(done)}")) < release
    with h.db.read() as conn:
        assert conn.execute(select(merge_groups.c.state)).scalar() == "released"
    assert github.violations == []


def github_ruleset_id(done: list[tuple[str, str]]) -> str:
    return next(p.rsplit("/", 1)[1] for m, p in done if m == "DELETE")


def test_a_merge_group_dropped_during_a_lock_is_reported(make, github):
    h = make(github, config(merge_freeze="both"))
    lock(h, "database migration")
    h.drain()
    raw, head = merge_group()
    github.add_commit("acme/web", head)
    h.client.post("/hooks/github", content=raw, headers=gh_headers("merge_group", raw))
    h.drain()
    # the queue's status check timeout passed: GitHub removes the pull request from the queue
    raw, _ = merge_group("destroyed", "dequeued")
    assert h.client.post("/hooks/github", content=raw, headers=gh_headers("merge_group", raw)).status_code == 200
    (event,) = events(h, "merge_group_dequeued")
    assert event["data"]["pulls"] == [104] and event["data"]["held"] is True
    message = messages.build(event)
    assert message.category == "lock"
    assert message.headline == "#104 left the merge queue of acme/web during the production lock"
    assert "add it to the queue again once the lock ends" in message.text


def test_a_merged_or_rebuilt_group_is_not_news(make, github):
    h = make(github, config())
    raw, _ = merge_group("destroyed", "merged")
    h.client.post("/hooks/github", content=raw, headers=gh_headers("merge_group", raw))
    lock(h)
    raw, _ = merge_group("destroyed", "invalidated", n=2)
    h.client.post("/hooks/github", content=raw, headers=gh_headers("merge_group", raw))
    assert events(h, "merge_group_dequeued") == []


def test_a_group_dequeued_by_the_freeze_itself_is_reported(make, github):
    """A group whose checks passed before the lock is merging when the ruleset lands: GitHub cannot
    merge it (branch protection failure) and dequeues it. It was never held, but the gate is closed."""
    h = make(github, config())
    raw, head = merge_group()
    github.add_commit("acme/web", head)
    h.client.post("/hooks/github", content=raw, headers=gh_headers("merge_group", raw))
    h.drain()
    assert github.latest_status("acme/web", head, "shiplane")["state"] == "success"
    lock(h)
    h.drain()
    raw, _ = merge_group("destroyed", "dequeued")
    h.client.post("/hooks/github", content=raw, headers=gh_headers("merge_group", raw))
    (event,) = events(h, "merge_group_dequeued")
    assert event["data"]["held"] is False and event["data"]["pulls"] == [104]


# ---------------------------------------------------------------- GitLab and Bitbucket


@pytest.fixture
def gitlab():
    fake = FakeGitLab(token="glpat-test-token")
    fake.add_project("acme/web")
    return fake


def test_gitlab_sets_merge_access_to_no_one_and_restores_it_exactly(make, gitlab):
    gitlab.protect("acme/web", "main", merge=[{"access_level": 30}, {"user_id": 7}, {"group_id": 12}])
    before_levels = [{k: e[k] for k in ("access_level", "user_id", "group_id")} for e in gitlab.protection("acme/web", "main")["merge_access_levels"]]
    push_before = gitlab.protection("acme/web", "main")["push_access_levels"]
    h = make(gitlab, config("gitlab"))
    h.drain()
    start = len(gitlab.requests)
    lk = lock(h)
    h.drain()
    assert writes(gitlab, start) == [("PATCH", "/api/v4/projects/acme/web/protected_branches/main")]  # decoded acme%2Fweb
    assert gitlab.merge_blocked("acme/web", "main")
    assert gitlab.protection("acme/web", "main")["push_access_levels"] == push_before  # only merging is touched
    assert freeze_row(h).previous["merge"]

    start = len(gitlab.requests)
    unlock(h, lk)
    h.drain()
    assert writes(gitlab, start) == [("PATCH", "/api/v4/projects/acme/web/protected_branches/main")]
    after = [{k: e[k] for k in ("access_level", "user_id", "group_id")} for e in gitlab.protection("acme/web", "main")["merge_access_levels"]]
    assert after == before_levels and not gitlab.merge_blocked("acme/web", "main")
    assert freeze_row(h).previous is None
    assert gitlab.violations == []


def test_gitlab_protects_an_unprotected_branch_for_the_freeze_and_unprotects_it_after(make, gitlab):
    h = make(gitlab, config("gitlab"))
    lk = lock(h)
    h.drain()
    assert gitlab.merge_blocked("acme/web", "main")
    unlock(h, lk)
    h.drain()
    assert gitlab.protection("acme/web", "main") is None
    assert [m for m, _ in writes(gitlab)] == ["POST", "DELETE"]
    assert gitlab.violations == []


def test_gitlab_puts_no_one_back_when_someone_reopens_merging_during_the_lock(make, gitlab):
    gitlab.protect("acme/web", "main")
    h = make(gitlab, config("gitlab"))
    lk = lock(h)
    h.drain()
    levels = gitlab.projects["acme/web"].protected["main"]["merge_access_levels"]
    levels[:] = [{"id": 999, "access_level": 40, "access_level_description": "Maintainers", "user_id": None, "group_id": None}]
    time_passes(h)
    h.drain()
    assert gitlab.merge_blocked("acme/web", "main")
    unlock(h, lk)
    h.drain()
    assert [e["access_level"] for e in gitlab.protection("acme/web", "main")["merge_access_levels"]] == [40]


def test_gitlab_without_maintainer_falls_back_to_statuses(make, gitlab):
    gitlab.add_mr("acme/web", 7, sha("mr7"))
    gitlab.maintainer = False
    h = make(gitlab, config("gitlab"))
    lock(h)
    h.drain()
    assert gitlab.latest_status("acme/web", sha("mr7"), "shiplane")["status"] == "pending"
    assert "Maintainer" in freeze_row(h).last_error


@pytest.fixture
def bitbucket():
    fake = FakeBitbucket(email="bot@example.com", api_token="bb-api-token")
    fake.add_repo("acme/web")
    return fake


def test_bitbucket_creates_and_deletes_a_restrict_merges_restriction(make, bitbucket):
    h = make(bitbucket, config("bitbucket"))
    h.drain()
    lk = lock(h)
    h.drain()
    assert writes(bitbucket) == [("POST", "/2.0/repositories/acme/web/branch-restrictions")]
    (restriction,) = bitbucket.restrictions("acme/web")
    assert {k: restriction[k] for k in ("kind", "branch_match_kind", "pattern", "users", "groups")} == {
        "kind": "restrict_merges", "branch_match_kind": "glob", "pattern": "main", "users": [], "groups": []
    }
    assert bitbucket.merge_blocked("acme/web", "main")
    # deleted by hand, put back at the next sync
    bitbucket.repos["acme/web"].restrictions.clear()
    time_passes(h)
    h.drain()
    (again,) = bitbucket.restrictions("acme/web")
    start = len(bitbucket.requests)
    unlock(h, lk)
    h.drain()
    assert writes(bitbucket, start) == [("DELETE", f"/2.0/repositories/acme/web/branch-restrictions/{again['id']}")]
    assert bitbucket.restrictions("acme/web") == []
    assert bitbucket.violations == []


def test_bitbucket_never_edits_a_restriction_it_did_not_create(make, bitbucket):
    theirs = bitbucket.add_restriction("acme/web", {"kind": "restrict_merges", "pattern": "main", "users": [{"nickname": "ann"}]})
    bitbucket.add_pull("acme/web", 3, sha("bb3"))
    h = make(bitbucket, config("bitbucket"))
    lk = lock(h)
    h.drain()
    assert bitbucket.restrictions("acme/web") == [theirs]
    row = freeze_row(h)
    assert row.failed and "did not create" in row.last_error
    assert bitbucket.status("acme/web", sha("bb3"), "shiplane")["state"] == "INPROGRESS"  # statuses took over
    unlock(h, lk)
    h.drain()
    assert bitbucket.restrictions("acme/web") == [theirs]
    assert not any(c.method in ("PUT", "DELETE") for c in bitbucket.requests)


def test_bitbucket_adopts_its_own_restriction_when_the_create_answer_was_lost(make, bitbucket):
    bitbucket.timeout_next(1, applied=True, match="POST /2.0/repositories/acme/web/branch-restrictions")
    h = make(bitbucket, config("bitbucket"))
    h.drain()
    lk = lock(h)
    h.drain()
    assert len(bitbucket.restrictions("acme/web")) == 1 and freeze_row(h).ref is None and freeze_row(h).writing
    time_passes(h)  # the retry after the timeout
    h.drain()
    (ours,) = bitbucket.restrictions("acme/web")
    assert freeze_row(h).ref == str(ours["id"]) and not freeze_row(h).failed
    unlock(h, lk)
    h.drain()
    assert bitbucket.restrictions("acme/web") == []


# ---------------------------------------------------------------- faults


class Flaky(httpx.AsyncBaseTransport):
    """A quarter of all requests fail before they reach the forge: 502, 429 with Retry-After, a
    timeout, or (after the forge acted) a lost answer."""

    def __init__(self, fake, seed: int) -> None:
        self.fake, self.random = fake, random.Random(seed)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        roll = self.random.random()
        if roll < 0.0625:
            return httpx.Response(502, json={"message": "Server Error"})
        if roll < 0.125:
            return httpx.Response(429, json={"message": "slow down"}, headers={"retry-after": "1"})
        if roll < 0.1875:
            raise httpx.ConnectTimeout("injected", request=request)
        response = await self.fake.handle_async_request(request)
        if roll < 0.25:
            raise httpx.ReadTimeout("injected after the forge acted", request=request)
        return response


def settle(h: Harness, done, rounds: int = 60) -> None:
    for _ in range(rounds):
        h.drain()
        if done():
            return
        time_passes(h)
    raise AssertionError("did not converge")


@pytest.mark.parametrize("forge", ["github", "gitlab", "bitbucket"])
def test_a_quarter_of_forge_requests_failing_still_converges(make, forge, github, gitlab, bitbucket):
    fake = {"github": github, "gitlab": gitlab, "bitbucket": bitbucket}[forge]
    for i in range(1, 9):
        if forge == "github":
            github.add_pull("acme/web", i, sha(f"pr{i}"))
        elif forge == "gitlab":
            gitlab.add_mr("acme/web", i, sha(f"pr{i}"))
        else:
            bitbucket.add_pull("acme/web", i, sha(f"pr{i}"))
    if forge == "gitlab":
        gitlab.protect("acme/web", "main", merge=[{"access_level": 40}])
    h = make(Flaky(fake, seed=1234), config(forge, merge_freeze="both"))

    def status(i):
        if forge == "github":
            s = github.latest_status("acme/web", sha(f"pr{i}"), "shiplane")
            return s and s["state"]
        if forge == "gitlab":
            s = gitlab.latest_status("acme/web", sha(f"pr{i}"), "shiplane")
            return s and {"failed": "failure"}.get(s["status"], s["status"])
        s = bitbucket.status("acme/web", sha(f"pr{i}"), "shiplane")
        return s and {"INPROGRESS": "pending", "SUCCESSFUL": "success"}[s["state"]]

    blocked = {"github": lambda: github.merge_blocked("acme/web", "main"), "gitlab": lambda: gitlab.merge_blocked("acme/web", "main"),
               "bitbucket": lambda: bitbucket.merge_blocked("acme/web", "main")}[forge]
    objects = {"github": lambda: len(github.rulesets("acme/web")), "gitlab": lambda: 0,
               "bitbucket": lambda: len(bitbucket.restrictions("acme/web"))}[forge]

    lk = lock(h)
    settle(h, lambda: blocked() and all(status(i) == "pending" for i in range(1, 9)))
    assert objects() <= 1  # lost answers never left a second ruleset or restriction behind
    unlock(h, lk)
    settle(h, lambda: not blocked() and all(status(i) == "success" for i in range(1, 9)) and not freeze_row(h).failed)
    assert objects() == 0
    if forge == "gitlab":
        assert [e["access_level"] for e in gitlab.protection("acme/web", "main")["merge_access_levels"]] == [40]
    assert fake.violations == []


# ---------------------------------------------------------------- the deployment protection rule callback (hardening)


@pytest.mark.parametrize(
    "callback",
    [
        "https://evil.example.com/repos/acme/web/actions/runs/1/deployment_protection_rule",
        "http://api.github.com/repos/acme/web/actions/runs/1/deployment_protection_rule",
        "https://api.github.com.evil.example.com/repos/acme/web/actions/runs/1/deployment_protection_rule",
        "https://user:pass@api.github.com/repos/acme/web/actions/runs/1/deployment_protection_rule",
        "https://api.github.com/graphql",
    ],
)
def test_a_protection_rule_callback_off_the_github_api_is_refused_and_gets_no_token(make, github, callback):
    h = make(github, config(merge_freeze="statuses"))
    payload = {
        "action": "requested",
        "environment": "production",
        "deployment_callback_url": callback,
        "deployment": {"sha": sha(1)},
        "repository": {"full_name": "acme/web"},
    }
    raw = json.dumps(payload).encode()
    r = h.client.post("/hooks/github", content=raw, headers=gh_headers("deployment_protection_rule", raw))
    assert r.status_code == 200 and "refused" in r.json()["actions"][0]
    h.drain()
    assert h.jobs(kind="protection:github") == []
    assert not any("deployment_protection_rule" in c.path or c.path == "/graphql" for c in github.requests)
    (event,) = events(h, "forge_error")
    assert "not on the configured GitHub API" in event["data"]["error"]


def test_the_protection_job_itself_refuses_a_foreign_callback(make, github):
    """Defence in depth: a job queued before an upgrade (or by hand) still sends nothing off-host."""
    h = make(github, config(merge_freeze="statuses"))
    with h.db.write() as conn:
        from shiplane.jobs import queue

        queue.enqueue(conn, "protection:github", {"callback_url": "https://evil.example.com/repos/x", "environment": "production",
                                                  "approve": True, "comment": "ok"}, clock.now())
    h.drain()
    (job,) = h.jobs(kind="protection:github")
    assert job.state == "dead" and "refused" in job.last_error
    assert github.requests == [] or all("evil" not in str(c.headers.get("host", "")) for c in github.requests)
    assert not any(c.path == "/repos/x" for c in github.requests)


def test_gate_changes_while_a_freeze_is_in_flight_end_on_the_last_word(make, github):
    h = make(github, config())
    lk = lock(h)
    unlock(h, lk)
    lk = lock(h, "again")
    h.drain()
    assert len(github.rulesets("acme/web")) == 1 and github.merge_blocked("acme/web", "main")
    unlock(h, lk)
    h.drain()
    assert github.rulesets("acme/web") == []


def test_a_restart_looks_at_the_freeze_again(make, github):
    h = make(github, config())
    lock(h)
    h.drain()
    github.repo("acme/web").rulesets.clear()
    with h.db.write() as conn:
        h.ctx.enforcement.reconcile_all(conn, clock.now())
    h.drain()
    assert github.merge_blocked("acme/web", "main")


def test_a_freeze_job_for_a_service_back_on_statuses_does_nothing(make, github):
    h = make(github, config(merge_freeze="statuses"))
    h.drain()
    before = len(github.requests)
    with h.db.write() as conn:
        from shiplane.jobs import queue

        queue.enqueue(conn, "freeze:github", {"service": "web"}, clock.now())  # queued before the config changed
    h.drain()
    assert github.requests[before:] == [] and {j.state for j in h.jobs(kind="freeze:github")} == {"done"}



# ---------------------------------------------------------------- shiplane config check --online


def online(settings, fake) -> list[str]:
    import anyio

    from shiplane.enforcement import online as checks

    return anyio.run(lambda: checks.problems(settings, transport=fake))


def test_online_check_reports_a_freeze_that_failed_for_good(make, github, db_url):
    from tests.conftest import make_settings

    github.admin = False
    h = make(github, config())
    settings = make_settings(db_url, config())
    assert online(settings, github) == []  # reads work; a token does not say what it may write
    lock(h)
    h.drain()
    (problem,) = online(settings, github)
    assert problem.startswith("services[0].merge_freeze: the branch freeze has failed since ")
    assert "statuses take over" in problem and "HTTP 403" in problem and "Administration" in problem


def test_online_check_reports_a_github_app_without_administration(db, db_url):
    from tests.conftest import make_settings
    from tests.fakes import make_app_keypair

    private, public = make_app_keypair()
    fake = FakeGitHub(token=(), app_id=4242, app_public_key=public, installation_ids=(77,))
    fake.add_repo("acme/web")
    cfg = config().model_dump(mode="json")
    cfg["forges"]["github"].update(token=None, app_id=4242, private_key=private, installation_id=77)
    (problem,) = online(make_settings(db_url, Config.model_validate(cfg)), fake)
    assert problem.startswith("services[0].merge_freeze: the GitHub App installation has no Administration (write) permission")


@pytest.mark.parametrize("forge", ["gitlab", "bitbucket"])
def test_online_check_reports_missing_rights_on_gitlab_and_bitbucket(db, db_url, forge, gitlab, bitbucket):
    from tests.conftest import make_settings

    fake = {"gitlab": gitlab, "bitbucket": bitbucket}[forge]
    settings = make_settings(db_url, config(forge))
    assert online(settings, fake) == []
    if forge == "gitlab":
        gitlab.maintainer = False
    else:
        bitbucket.admin = False
    (problem,) = online(settings, fake)
    assert problem.startswith("services[0].merge_freeze: ") and "HTTP 403" in problem
    assert ("Maintainer" if forge == "gitlab" else "repository:admin") in problem


def test_online_check_of_a_statuses_service_lists_its_pull_requests(db, db_url, github):
    from tests.conftest import make_settings

    github.revoke_token("ghp_test_token")
    (problem,) = online(make_settings(db_url, config(merge_freeze="statuses")), github)
    assert problem.startswith("services[0].repo: GitHub list pulls acme/web: HTTP 401")


def test_config_check_online_exits_1_with_file_key_reason(tmp_path):
    """The command as a user runs it: a forge it cannot reach is a problem of that service's key."""
    from tests.integration.test_cli import run

    path = tmp_path / "shiplane.toml"
    path.write_text(
        '[[services]]\nslug = "web"\nrepo = "github:acme/web"\nmerge_freeze = "branch"\n'
        '[forges.github]\napi_url = "http://127.0.0.1:9"\ntoken = "t"\n'
    )
    r = run("config", "check", "--config", str(path), "--online", env={"SHIPLANE_DATABASE_URL": f"sqlite:///{tmp_path}/none.db"})
    assert r.returncode == 1, r.stdout + r.stderr
    assert r.stderr.startswith(f"{path}: services[0].merge_freeze: GitHub list rulesets acme/web: ")
    assert not (tmp_path / "none.db").exists()  # looking for recorded errors created no database
    assert run("config", "check", "--config", str(path)).returncode == 0  # offline, the file itself is fine


def test_gitlab_merge_requests_are_exempt_by_label_from_listings_and_hooks(make, gitlab):
    """GitLab merge requests carry `labels` (names) in listings and Merge Request Hooks carry label
    objects with a `title` (docs.gitlab.com, "Merge requests API" and "Webhook events")."""
    gitlab.add_mr("acme/web", 1, sha("mr1"), labels=["hotfix"])
    gitlab.add_mr("acme/web", 2, sha("mr2"))
    h = make(gitlab, config("gitlab", merge_freeze="statuses", exempt_labels=["hotfix"]))
    h.drain()
    lock(h)
    h.drain()
    assert gitlab.latest_status("acme/web", sha("mr1"), "shiplane")["description"] == "Exempt from Production lock: label hotfix"
    assert gitlab.latest_status("acme/web", sha("mr2"), "shiplane")["status"] == "pending"
    hook = {
        "object_kind": "merge_request",
        "project": {"path_with_namespace": "acme/web"},
        "object_attributes": {"iid": 2, "action": "update", "target_branch": "main", "last_commit": {"id": sha("mr2")},
                              "title": "MR 2", "updated_at": "2026-12-02 10:00:00 UTC"},
        "labels": [{"id": 9, "title": "hotfix", "color": "#ff0000"}],
        "changes": {"labels": {"previous": [], "current": [{"id": 9, "title": "hotfix"}]}},
    }
    r = h.client.post("/hooks/gitlab", json=hook, headers={"X-Gitlab-Token": "tok", "X-Gitlab-Event": "Merge Request Hook"})
    assert r.status_code == 200, r.text
    h.drain()
    assert gitlab.latest_status("acme/web", sha("mr2"), "shiplane")["status"] == "success"
    assert [e["data"]["number"] for e in events(h, "merge_exempted")] == [1, 2]
    assert gitlab.violations == []


def test_status_writes_wait_for_their_send_window_whatever_the_claims_said(db):
    """The worker stamps a claimed batch at claim time; the send log stamps each write when it goes
    out, so a batch that went out late cannot overlap the next one within the forge's window."""
    import anyio

    from shiplane.enforcement.runtime import SendLog

    async def main():
        log = SendLog(db, "sent:test", 2, 0)
        await log.slot()
        await log.slot()
        with anyio.move_on_after(0.3) as waited:
            await log.slot()  # the third write of the minute waits for the first to leave the window
        assert waited.cancelled_caught
        other = SendLog(db, "sent:test", 2, 0)  # another process's log of the same budget
        with anyio.move_on_after(0.3) as waited:
            await other.slot()
        assert waited.cancelled_caught
        unpaced = SendLog(db, "sent:other", 0, 0)
        with anyio.fail_after(1):
            for _ in range(100):
                await unpaced.slot()

    anyio.run(main)
