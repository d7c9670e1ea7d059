"""What each deploy shipped: the commits since the previous succeeded deploy there.

Sources, in order of preference:
1. commits sent with the registration (stored at intake, ``changes_source = "body"``);
2. commits seen in push webhooks on the service's branch (``"webhook"``);
3. a local bare mirror of ``services.git_remote`` (``"mirror"``).

The deploy row is the record: a succeeded deploy whose ``changes_source`` is
still NULL is work to do, picked up by the worker (through a partial index),
so registration pays nothing for it.
"""

from __future__ import annotations

import fnmatch
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import anyio
from sqlalchemy import and_, delete, insert, or_, select, update
from sqlalchemy.engine import Connection

from shiplane.changes import parse
from shiplane.changes.commits import Commit
from shiplane.changes.git import GitError, mirror_for
from shiplane.db import Database
from shiplane.settings import Config, ServiceConfig
from shiplane.tables.catalog import environments, services
from shiplane.tables.deploys import deploy_commits, deploys
from shiplane.tables.enforcement import pull_requests, pushed_commits

log = logging.getLogger("shiplane.changes")
BATCH = 20


@dataclass(frozen=True)
class Work:
    deploy_id: int
    service: str
    environment: str
    sha: str
    previous_sha: str | None


def pending(conn: Connection, limit: int = BATCH) -> list[Work]:
    rows = conn.execute(
        select(deploys.c.id, deploys.c.sha, deploys.c.service_id, deploys.c.environment_id, deploys.c.deployed_at,
               services.c.slug.label("service"), environments.c.slug.label("environment"))
        .join(services, services.c.id == deploys.c.service_id)
        .join(environments, environments.c.id == deploys.c.environment_id)
        .where(deploys.c.status == "succeeded", deploys.c.changes_source.is_(None))
        .order_by(deploys.c.id)
        .limit(limit)
    ).all()
    out = []
    for r in rows:
        previous = conn.execute(
            select(deploys.c.sha)
            .where(
                deploys.c.service_id == r.service_id,
                deploys.c.environment_id == r.environment_id,
                deploys.c.status.in_(("succeeded", "rolled_back")),
                deploys.c.id != r.id,
                or_(
                    deploys.c.deployed_at < r.deployed_at,
                    and_(deploys.c.deployed_at == r.deployed_at, deploys.c.id < r.id),
                ),
            )
            .order_by(deploys.c.deployed_at.desc(), deploys.c.id.desc())
            .limit(1)
        ).scalar()
        out.append(Work(r.id, r.service, r.environment, r.sha, previous))
    return out


def matches_paths(files: Sequence[str], paths: Sequence[str]) -> bool:
    """Monorepo filter: a commit counts for a service when it touches one of its paths."""
    if not paths:
        return True
    for f in files:
        for p in paths:
            p = p.rstrip("/")
            if f == p or f.startswith(p + "/") or fnmatch.fnmatch(f, p):
                return True
    return False


def from_webhooks(conn: Connection, svc: ServiceConfig, base: str, head: str) -> list[Commit] | None:
    """Commits pushed to the branch after ``base`` up to ``head``, or None if either is unknown."""
    if not svc.repo:
        return None
    forge, _, repo = svc.repo.partition(":")
    scope = and_(pushed_commits.c.forge == forge, pushed_commits.c.repo == repo, pushed_commits.c.branch == svc.branch)
    ids = dict(
        conn.execute(select(pushed_commits.c.sha, pushed_commits.c.id).where(scope, pushed_commits.c.sha.in_((base, head)))).all()
    )
    if base not in ids or head not in ids or ids[head] <= ids[base]:
        return None
    rows = conn.execute(
        select(pushed_commits).where(scope, pushed_commits.c.id > ids[base], pushed_commits.c.id <= ids[head]).order_by(pushed_commits.c.id)
    ).all()
    return [Commit.from_row(r) for r in rows]


def _merged_pull_numbers(conn: Connection, svc: ServiceConfig, shas: Sequence[str]) -> dict[str, int]:
    if not svc.repo or not shas:
        return {}
    forge, _, repo = svc.repo.partition(":")
    return dict(
        conn.execute(
            select(pull_requests.c.merge_sha, pull_requests.c.number).where(
                pull_requests.c.forge == forge, pull_requests.c.repo == repo, pull_requests.c.merge_sha.in_(list(shas))
            )
        ).all()
    )


def record(
    conn: Connection,
    work: Work,
    source: str,
    commits: Sequence[Commit],
    note: str | None,
    svc: ServiceConfig | None,
    issue_pattern: str,
) -> None:
    """Store the change list (replacing any earlier attempt) and the batch size."""
    conn.execute(delete(deploy_commits).where(deploy_commits.c.deploy_id == work.deploy_id))
    merged = _merged_pull_numbers(conn, svc, [c.sha for c in commits]) if svc else {}
    rows = []
    files: set[str] = set()
    for i, c in enumerate(commits):
        prs = parse.pull_requests(c.message)
        if c.sha in merged and merged[c.sha] not in prs:
            prs.append(merged[c.sha])
        files.update(c.files)
        rows.append(
            dict(
                deploy_id=work.deploy_id,
                position=i,
                pull_requests=prs,
                issue_keys=parse.issue_keys(c.message, issue_pattern),
                **c.columns(),
            )
        )
    if rows:
        conn.execute(insert(deploy_commits), rows)
    conn.execute(
        update(deploys)
        .where(deploys.c.id == work.deploy_id)
        .values(
            changes_source=source,
            changes_note=note,
            commit_count=len(rows),
            files_changed=len(files) if files or source != "none" else None,
            has_changes=source != "none",
        )
    )


class ChangeTracker:
    """The worker's side: work out what pending deploys shipped."""

    def __init__(self, config: Config, db: Database) -> None:
        self.config = config
        self.db = db
        self.services = {s.slug: s for s in config.services}
        self.pattern = config.changes.issue_pattern

    def _mirror_log(self, svc: ServiceConfig, base: str, head: str) -> list[Commit]:
        mirror = mirror_for(self.config.changes.mirror_dir, svc.slug, svc.git_remote)
        mirror.update()
        for sha in (base, head):
            if not mirror.has(sha):
                raise GitError(f"{sha[:12]} is not in {svc.git_remote}")
        return mirror.log(base, head, tuple(svc.paths))

    async def resolve(self, work: Work) -> tuple[str, list[Commit], str | None]:
        svc = self.services.get(work.service)
        if work.previous_sha is None:
            return "none", [], first_deploy_note(work.service, work.environment)
        if work.previous_sha == work.sha:
            return "none", [], "same commit as the previous deploy"
        if svc is not None:
            pushed = await self.db.run_read(from_webhooks, svc, work.previous_sha, work.sha)
            if pushed is not None:
                return "webhook", [c for c in pushed if matches_paths(c.files, svc.paths)], None
            if svc.git_remote:
                try:
                    commits = await anyio.to_thread.run_sync(self._mirror_log, svc, work.previous_sha, work.sha)
                    return "mirror", commits, None
                except GitError as exc:
                    log.warning("changes of deploy %s from the mirror: %s", work.deploy_id, exc)
                    return "none", [], f"git mirror: {exc}"
        return "none", [], NO_SOURCE

    async def tick(self) -> int:
        batch = await self.db.run_read(pending)
        for work in batch:
            source, commits, note = await self.resolve(work)
            await self.db.run_write(record, work, source, commits, note, self.services.get(work.service), self.pattern)
        return len(batch)


NO_SOURCE = "no change source: send commits with the deploy, configure push webhooks, or set services.git_remote"


def first_deploy_note(service: str, environment: str) -> str:
    return f"first deploy of {service} to {environment}: no earlier deploy to compare with"


def body_stats(commits: Sequence[Any]) -> tuple[int, int | None]:
    """Batch size of commits sent with a registration: (commits, files changed when known)."""
    files: set[str] = set()
    known = False
    for c in commits:
        if getattr(c, "files", None):
            known = True
            files.update(f for f in c.files if isinstance(f, str))
    return len(commits), (len(files) if known else None)

