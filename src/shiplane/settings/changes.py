"""What shipped and how it is counted: change tracking and DORA."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import field_validator

from shiplane.settings.values import Section, TimeZoneName


class ChangesConfig(Section):
    issue_pattern: str = r"[A-Z][A-Z0-9]+-\d+"
    mirror_dir: str = "./shiplane-mirrors"  # where bare mirrors of services' git_remote live
    issue_url: str = ""  # e.g. "https://acme.atlassian.net/browse/{key}": issue keys become links

    @field_validator("issue_url")
    @classmethod
    def _issue_url(cls, value: str) -> str:
        if value and ("{key}" not in value or not value.startswith(("https://", "http://"))):
            raise ValueError(f"must be an http(s) URL containing {{key}}: {value!r}")
        return value

    @field_validator("issue_pattern")
    @classmethod
    def _pattern(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"not a regular expression: {value!r} ({exc})") from None
        return value


class DoraConfig(Section):
    timezone: TimeZoneName = "UTC"
    # What fails a deploy for DORA (SPEC §8.9): "health" (its health in failure_states, a rollback
    # or a revert) or "incident" (only an incident attached to it; its resolution recovers it).
    failure: Literal["health", "incident"] = "health"
    failure_states: list[Literal["ailing", "unhealthy", "incident"]] = ["unhealthy", "incident"]
    # A merged revert pull request or a pushed revert commit fails the deploy that shipped the change.
    reverts: bool = True
