"""The commit status every open pull request should carry for a gate (enforcement/statuses.py)."""

from __future__ import annotations

import pytest

from shiplane.enforcement.statuses import MAX_DESCRIPTION, DesiredStatus, desired, environment_title, truncate

URL = "https://ship.example.com/"
LOCK = {"kind": "lock", "reason": "DB migration", "by": "alice"}
WINDOW = {"kind": "window", "reason": "outside the deploy window", "by": None}
FREEZE = {"kind": "freeze", "reason": "year-end freeze"}
IN_PROGRESS = {"kind": "in_progress", "reason": "deploy #12 (abcdef012345) is in progress", "by": "bob"}
UNHEALTHY = {"kind": "unhealthy", "reason": "latest deploy #12 is unhealthy", "by": "bob"}


def status_for(blockers, **kw) -> DesiredStatus:
    return desired(blockers=blockers, environment="Production", context="shiplane", target_url=URL, **kw)


@pytest.mark.parametrize(
    "blockers,state,description",
    [
        ([], "success", "Production open for deploys"),
        ([LOCK], "pending", "Production locked: DB migration (alice)"),
        ([WINDOW], "pending", "Production locked: outside the deploy window"),  # no one to name
        ([FREEZE], "pending", "Production locked: year-end freeze"),
        ([LOCK, WINDOW, FREEZE], "pending", "Production locked: DB migration (alice) (+2 more)"),
        ([UNHEALTHY], "pending", "Production locked: latest deploy #12 is unhealthy (bob)"),
        # A deploy in progress is a reason to wait before deploying, not before merging.
        ([IN_PROGRESS], "success", "Production open for deploys"),
        ([IN_PROGRESS, LOCK], "pending", "Production locked: DB migration (alice)"),
        ([IN_PROGRESS, LOCK, IN_PROGRESS], "pending", "Production locked: DB migration (alice)"),
    ],
)
def test_it_mirrors_the_gate(blockers, state, description):
    status = status_for(blockers)
    assert (status.state, status.description) == (state, description)
    assert (status.context, status.target_url) == ("shiplane", URL)


def test_it_blocks_in_the_state_the_forge_is_configured_for():
    assert status_for([LOCK], blocked_state="failure").state == "failure"
    assert status_for([], blocked_state="failure").state == "success"


def test_it_keeps_a_long_reason_within_the_forges_limit():
    reason = "migrating the orders table; " * 20
    description = status_for([{"kind": "lock", "reason": reason, "by": "alice"}]).description
    assert len(description) == MAX_DESCRIPTION
    assert description.startswith("Production locked: migrating the orders table;")
    assert description.endswith("…")


@pytest.mark.parametrize(
    "text,limit,cut",
    [
        ("short", 10, "short"),
        ("exactly 10", 10, "exactly 10"),
        ("eleven char", 10, "eleven ch…"),
        ("trailing  space here", 10, "trailing…"),  # no space before the mark
        ("two\nlines", 20, "two lines"),  # forges show one line
        ("  spaced \t out  ", 20, "spaced out"),
        ("émojis 🚀🚀🚀🚀", 10, "émojis 🚀🚀…"),  # characters, not bytes
    ],
)
def test_it_truncates_on_a_character_boundary_marking_the_cut(text, limit, cut):
    assert truncate(text, limit) == cut


@pytest.mark.parametrize(
    "slug,name,title",
    [
        ("production", None, "Production"),
        ("production", "production", "Production"),
        ("prod-eu", "Production (EU)", "Production (EU)"),
        ("", None, ""),
    ],
)
def test_it_titles_an_environment_by_its_name_or_its_capitalised_slug(slug, name, title):
    assert environment_title(slug, name) == title


def test_the_signature_changes_with_everything_the_forge_shows():
    base = status_for([LOCK])
    assert status_for([LOCK]).signature == base.signature  # stable: the same status is not posted twice
    others = [
        status_for([]),
        status_for([LOCK], blocked_state="failure"),
        status_for([{**LOCK, "by": "bob"}]),
        desired(blockers=[LOCK], environment="Production", context="shiplane/merge", target_url=URL),
        desired(blockers=[LOCK], environment="Production", context="shiplane", target_url=URL + "locks"),
    ]
    assert len({base.signature, *(o.signature for o in others)}) == 1 + len(others)


def test_it_gives_the_forge_the_four_fields():
    assert status_for([LOCK]).to_dict() == {
        "state": "pending",
        "description": "Production locked: DB migration (alice)",
        "context": "shiplane",
        "target_url": URL,
    }
