"""Pull request numbers and issue keys from commit messages and branch names (pure)."""

from __future__ import annotations

import re

DEFAULT_ISSUE_PATTERN = r"[A-Z][A-Z0-9]+-\d+"

# "#12", "(#12)", "Merge pull request #12 from ...", "pull request #12",
# Bitbucket's "Merged in feature (pull request #12)" and GitLab's "!12".
_PR_PATTERNS = (
    re.compile(r"(?<![\w/&])#(\d{1,9})\b"),
    re.compile(r"(?<![\w/])!(\d{1,9})\b"),
)


def pull_requests(text: str) -> list[int]:
    found: list[int] = []
    for pattern in _PR_PATTERNS:
        for m in pattern.finditer(text or ""):
            number = int(m.group(1))
            if number not in found:
                found.append(number)
    return found


def issue_keys(text: str, pattern: str = DEFAULT_ISSUE_PATTERN) -> list[str]:
    found: list[str] = []
    for m in re.finditer(rf"(?<![A-Za-z0-9])({pattern})(?![A-Za-z0-9])", text or ""):
        key = m.group(1)
        if key not in found:
            found.append(key)
    return found


# Reverts (SPEC §8.7): git's own trailer ("This reverts commit <sha>.", written by `git revert`),
# GitHub's revert button (title 'Revert "<original title>"', body "Reverts <owner>/<repo>#<n>").
_REVERTS_COMMIT = re.compile(r"\bThis reverts commit ([0-9a-fA-F]{7,64})\b")
_REVERT_TITLE = re.compile(r'^Revert "(.+)"\s*$', re.DOTALL)
_REVERTS_PULL = re.compile(r"\bReverts [\w.-]+/[\w.-]+#(\d+)\b")


def reverted_commits(text: str) -> list[str]:
    """The shas a message says it reverts (``This reverts commit <sha>``), lower case, in order."""
    return list(dict.fromkeys(m.group(1).lower() for m in _REVERTS_COMMIT.finditer(text or "")))


def reverted_title(title: str) -> str | None:
    """The original title of a ``Revert "<title>"`` pull request, else None."""
    m = _REVERT_TITLE.match((title or "").strip())
    return m.group(1) if m else None


def reverted_pull(body: str) -> int | None:
    """The pull request number of GitHub's ``Reverts <owner>/<repo>#<n>`` body line, else None."""
    m = _REVERTS_PULL.search(body or "")
    return int(m.group(1)) if m else None
