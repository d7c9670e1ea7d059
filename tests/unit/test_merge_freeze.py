"""The pure decisions of a merge freeze: each pull request's status, when a write is due, whose
freeze Shiplane may touch, and where a deployment protection rule may be answered."""

from __future__ import annotations

import pytest

from shiplane.enforcement.forges.base import FreezeSpec, Observed
from shiplane.enforcement.forges.github import callback_on_api, queued_pulls
from shiplane.enforcement.freeze import needs_write
from shiplane.enforcement.statuses import DesiredStatus, exempt_label, for_pull
from shiplane.enforcement.sync import should_post

URL = "https://ship.example.com/"
LOCKED = DesiredStatus("pending", "Production locked: DB migration (alice)", "shiplane", URL)
OPEN = DesiredStatus("success", "Production open for deploys", "shiplane", URL)


@pytest.mark.parametrize(
    "labels,exempt,found",
    [
        (["hotfix"], ["hotfix"], "hotfix"),
        (["HotFix", "bug"], ["hotfix"], "hotfix"),  # GitHub label names are case-insensitive
        (["bug"], ["hotfix"], None),
        ([], ["hotfix"], None),
        (["security", "hotfix"], ["hotfix", "security"], "hotfix"),  # the configured order decides
    ],
)
def test_it_finds_the_exempt_label(labels, exempt, found):
    assert exempt_label(labels, exempt) == found


def test_an_exempt_pull_request_gets_success_with_the_label_named():
    status = for_pull(LOCKED, ["hotfix"], ["hotfix"], "Production")
    assert (status.state, status.description) == ("success", "Exempt from Production lock: label hotfix")
    assert (status.context, status.target_url) == ("shiplane", URL)
    assert status.signature != OPEN.signature


def test_with_the_branch_frozen_too_the_description_says_a_bypass_actor_is_needed():
    status = for_pull(LOCKED, ["hotfix"], ["hotfix"], "Production", branch_frozen=True)
    assert status.description == "Exempt from Production lock: label hotfix (branch frozen: merging needs a bypass actor)"
    assert len(status.description) <= 140


@pytest.mark.parametrize("base,labels", [(OPEN, ["hotfix"]), (LOCKED, ["bug"]), (LOCKED, [])])
def test_otherwise_the_gate_status_stands(base, labels):
    assert for_pull(base, labels, ["hotfix"], "Production") is base


def test_a_long_label_is_cut_to_the_forge_limit():
    status = for_pull(LOCKED, ["x" * 100], ["x" * 100], "Production", branch_frozen=True)
    assert len(status.description) == 140 and status.description.endswith("…")


@pytest.mark.parametrize(
    "mode,want,posted,due",
    [
        ("statuses", LOCKED, None, True),
        ("statuses", LOCKED, (LOCKED.signature, "pending"), False),  # identical statuses are not posted again
        ("statuses", OPEN, (LOCKED.signature, "pending"), True),
        ("both", LOCKED, (OPEN.signature, "success"), True),
        # branch mode: the freeze closes the merge button; no statuses...
        ("branch", LOCKED, None, False),
        ("branch", LOCKED, (OPEN.signature, "success"), False),
        ("branch", OPEN, None, False),
        # ...except to undo a blocking one that Shiplane posted earlier (a fallback, another mode)
        ("branch", OPEN, (LOCKED.signature, "pending"), True),
        ("branch", OPEN, (LOCKED.signature, "failure"), True),
        ("branch", OPEN, (OPEN.signature, "success"), False),
    ],
)
def test_when_a_status_write_is_due(mode, want, posted, due):
    assert should_post(mode, want, posted) is due


KNOWN = FreezeSpec("shiplane: web merge freeze", ref="42")
NOTHING_KNOWN = FreezeSpec("shiplane: web merge freeze")


@pytest.mark.parametrize(
    "want,observed,known,write",
    [
        (True, Observed(frozen=False), NOTHING_KNOWN, True),  # create
        (True, Observed(frozen=True, ref="42"), KNOWN, False),  # already there
        (True, Observed(frozen=True, ref="42", matches=False), KNOWN, True),  # edited by hand: restore
        (False, Observed(frozen=True, ref="42"), KNOWN, True),  # delete ours
        (False, Observed(frozen=False), KNOWN, False),  # already gone
        # GitLab: merge access already "No one" that Shiplane did not set (nothing stored) stays as it is
        (False, Observed(frozen=True), NOTHING_KNOWN, False),
        (False, Observed(frozen=True), FreezeSpec("x", previous={"protected": True, "merge": []}), True),
    ],
)
def test_when_a_freeze_write_is_due(want, observed, known, write):
    assert needs_write(want, observed, known) is write


@pytest.mark.parametrize(
    "api,url,ok",
    [
        ("https://api.github.com", "https://api.github.com/repos/acme/web/actions/runs/1/deployment_protection_rule", True),
        ("https://api.github.com/", "https://API.GITHUB.COM/repos/acme/web/actions/runs/1/deployment_protection_rule", True),
        ("https://ghe.example.com/api/v3", "https://ghe.example.com/api/v3/repos/a/b/actions/runs/1/deployment_protection_rule", True),
        ("https://ghe.example.com/api/v3", "https://ghe.example.com/repos/a/b/actions/runs/1/deployment_protection_rule", False),
        ("https://api.github.com", "https://evil.example.com/repos/acme/web/actions/runs/1/deployment_protection_rule", False),
        ("https://api.github.com", "https://api.github.com.evil.example.com/repos/acme/web", False),
        ("https://api.github.com", "http://api.github.com/repos/acme/web", False),
        ("https://api.github.com", "https://api.github.com:8443/repos/acme/web", False),
        ("https://api.github.com", "https://token@api.github.com/repos/acme/web", False),
        ("https://api.github.com", "https://api.github.com/graphql", False),
        ("https://api.github.com", "file:///etc/passwd", False),
        ("https://api.github.com", "not a url at all", False),
        ("https://api.github.com", "", False),
    ],
)
def test_a_protection_rule_is_answered_only_on_the_configured_api(api, url, ok):
    assert callback_on_api(api, url) is ok


@pytest.mark.parametrize(
    "ref,pulls",
    [
        ("refs/heads/gh-readonly-queue/main/pr-104-929f8209d40f77f4abc622a499c93a83babdbe64", (104,)),
        ("gh-readonly-queue/release/v2/pr-7-abc123", (7,)),
        ("refs/heads/main", ()),
        ("", ()),
    ],
)
def test_it_reads_the_queued_pull_request_from_the_group_ref(ref, pulls):
    assert queued_pulls(ref) == pulls


@pytest.mark.parametrize(
    "per_minute,per_hour,split",
    [
        (80, 500, ((76, 476), (4, 24))),  # GitHub.com
        (0, 0, ((0, 0), (0, 0))),  # unpaced stays unpaced
        (80, 0, ((76, 0), (4, 0))),
        (0, 500, ((0, 476), (0, 24))),
        (10, 0, None),  # too small to split: one pacer for both
        (80, 100, None),
    ],
)
def test_freezes_keep_a_share_of_the_write_budget(per_minute, per_hour, split):
    from shiplane.enforcement.freeze import split_budget

    assert split_budget(per_minute, per_hour) == split
    if split:
        (sm, sh), (fm, fh) = split
        assert (sm + fm, sh + fh) == (per_minute, per_hour)
