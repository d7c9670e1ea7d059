"""A commit as Shiplane stores it, whichever forge, git mirror or request body it came from."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import ConfigDict
from pydantic.dataclasses import dataclass as pydantic_dataclass


# Checked on construction (pydantic, strict): wrong types from a forge or a mirror fail here.
@pydantic_dataclass(frozen=True, config=ConfigDict(strict=True))
class Commit:
    sha: str
    message: str = ""
    author_name: str | None = None
    author_email: str | None = None
    author_username: str | None = None
    timestamp: datetime | None = None
    url: str | None = None
    files: tuple[str, ...] = ()

    def columns(self) -> dict[str, Any]:
        """The values stored for a commit, in pushed_commits and deploy_commits alike."""
        return {
            "sha": self.sha,
            "message": self.message[:65536],
            "author_name": self.author_name,
            "author_email": self.author_email,
            "author_username": self.author_username,
            "committed_at": self.timestamp,
            "url": self.url,
            "files": list(self.files)[:1000],
        }

    @classmethod
    def from_row(cls, row: Any) -> Commit:
        return cls(
            sha=row.sha,
            message=row.message,
            author_name=row.author_name,
            author_email=row.author_email,
            author_username=row.author_username,
            timestamp=row.committed_at,
            url=row.url,
            files=tuple(row.files or ()),
        )
