"""A local bare mirror of a service's repository, read with the git CLI.

The remote comes from ``services.git_remote`` (any URL git understands;
``file://`` in tests). Fetching and logging happen in the worker, never in a
request.
"""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from shiplane.changes.commits import Commit
from shiplane.clock import parse_iso

_SEP, _END = "\x1f", "\x1e"
_FORMAT = _SEP.join(["%H", "%an", "%ae", "%aI", "%B"]) + _END


class GitError(Exception):
    pass


@dataclass(frozen=True)
class Mirror:
    path: Path
    remote: str

    def _git(self, *args: str, cwd: Path | None = None, timeout: float = 120) -> str:
        env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C"}
        try:
            done = subprocess.run(
                ["git", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise GitError(f"git {args[0]}: {exc}") from exc
        if done.returncode != 0:
            raise GitError(f"git {' '.join(args[:2])}: {done.stderr.strip()[:500]}")
        return done.stdout

    def update(self) -> None:
        """Clone the mirror on first use, fetch afterwards."""
        if not (self.path / "HEAD").exists():
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._git("clone", "--mirror", "--quiet", self.remote, str(self.path))
        else:
            self._git("fetch", "--prune", "--quiet", "origin", cwd=self.path)

    def has(self, sha: str) -> bool:
        try:
            self._git("cat-file", "-e", f"{sha}^{{commit}}", cwd=self.path)
        except GitError:
            return False
        return True

    def log(self, base: str, head: str, paths: tuple[str, ...] = ()) -> list[Commit]:
        """Commits reachable from ``head`` and not from ``base``, oldest first, with the files each touched."""
        args = ["log", "--reverse", "--no-merges", f"--format={_FORMAT}", "--name-only", f"{base}..{head}"]
        if paths:
            args += ["--", *paths]
        out = self._git(*args, cwd=self.path)
        return parse_log(out)


def parse_log(out: str) -> list[Commit]:
    commits = []
    # Each record: header fields, then (after the %B terminator) the file names of that commit.
    records = out.split(_END)
    files_for_previous: list[str] = []
    parsed: list[tuple[list[str], list[str]]] = []
    for i, record in enumerate(records):
        if i > 0:
            # The text between two terminators starts with the previous commit's files.
            lines = record.split("\n")
            head_start = next((n for n, line in enumerate(lines) if _SEP in line), len(lines))
            files_for_previous = [line for line in lines[:head_start] if line.strip()]
            parsed[-1] = (parsed[-1][0], files_for_previous)
            record = "\n".join(lines[head_start:])
        if _SEP in record:
            parsed.append((record.strip("\n").split(_SEP, 4), []))
    for fields, files in parsed:
        sha, name, email, date, message = (fields + [""] * 5)[:5]
        commits.append(
            Commit(
                sha=sha.strip(),
                message=message.strip("\n"),
                author_name=name or None,
                author_email=email or None,
                timestamp=parse_iso(date) if date else None,
                files=tuple(files),
            )
        )
    return commits


def mirror_for(mirror_dir: str, service: str, remote: str) -> Mirror:
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", service)
    return Mirror(Path(mirror_dir) / f"{safe}.git", remote)
