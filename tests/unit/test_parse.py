import pytest

from shiplane.changes import parse


@pytest.mark.parametrize(
    "message,prs",
    [
        ("Merge pull request #12 from acme/feature", [12]),
        ("Fix login (#812)", [812]),
        ("Merged in feature/x (pull request #7)", [7]),
        ("See !34 for the GitLab MR", [34]),
        ("Refs #1, #2 and #1 again", [1, 2]),
        ("colour #fff is not a PR; neither is a&#39;s entity", []),
        ("url https://x/y#3 is an anchor", []),
        ("", []),
    ],
)
def test_it_finds_pull_request_numbers(message, prs):
    assert parse.pull_requests(message) == prs


@pytest.mark.parametrize(
    "message,keys",
    [
        ("PROJ-123: fix the thing", ["PROJ-123"]),
        ("feature/ABC-9-new-login and AB2-10", ["ABC-9", "AB2-10"]),
        ("lowercase proj-1 is not a key, nor XPROJ-", []),
        ("PROJ-1 PROJ-1 PROJ-2", ["PROJ-1", "PROJ-2"]),
        ("UTF-8 is not an issue key either way", ["UTF-8"]),
    ],
)
def test_it_finds_issue_keys(message, keys):
    assert parse.issue_keys(message) == keys


def test_it_takes_a_custom_issue_pattern():
    assert parse.issue_keys("fixes SP-12 and #44", r"SP-\d+") == ["SP-12"]
