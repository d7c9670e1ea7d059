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
