"""Keeping every open pull request's status equal to its merge gate (the database side).

Record, then deliver: a gate change writes a ``merge_sync`` job in the same
transaction; the sync job lists the open pull requests and writes one
``status:<forge>`` job per pull request whose posted status differs, in
priority order; each of those posts once and records what it posted.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.engine import Connection

from shiplane.clock import iso
from shiplane.db import conflict_insert
from shiplane.enforcement import statuses
from shiplane.enforcement.forges.base import PullRequest
from shiplane.events import service as events
from shiplane.jobs import queue
from shiplane.locks import gate, inputs
from shiplane.locks.calendar import Schedule
from shiplane.locks.watch import GateChange
from shiplane.settings import Config
from shiplane.settings.lookups import merge_gate_environment
from shiplane.tables.enforcement import commit_statuses, merge_sync, pull_requests

SYNC_JOB = "merge_sync"


def status_job(forge: str) -> str:
    return f"status:{forge}"


@dataclass(frozen=True)
class Target:
    """A service whose open pull requests mirror the gate of its merge-gate environment."""

    service: str
    forge: str
    repo: str
    branch: str
    context: str
    environment: str
    blocked_state: str
    target_url: str

    def desired(self, blockers: Sequence[dict[str, Any]]) -> statuses.DesiredStatus:
        return statuses.desired(
            blockers=blockers,
            environment=statuses.environment_title(self.environment),
            context=self.context,
            target_url=self.target_url,
            blocked_state=self.blocked_state,
        )


def targets(config: Config) -> list[Target]:
    out = []
    base_url = (config.server.public_url or "http://127.0.0.1:8700").rstrip("/")
    for svc in config.services:
        if not svc.repo:
            continue
        forge, _, repo = svc.repo.partition(":")
        forge_config = getattr(config.forges, forge)
        if forge_config is None:
            continue
        out.append(
            Target(
                service=svc.slug,
                forge=forge,
                repo=repo,
                branch=svc.branch,
                context=svc.status_context,
                environment=merge_gate_environment(config, svc.merge_gate),
                blocked_state=forge_config.blocked_state,
                target_url=f"{base_url}/",
            )
        )
    return out


@functools.lru_cache(maxsize=64)
def _upsert_statement(dialect: str, table: Any, keys: tuple[str, ...], update_cols: tuple[str, ...]) -> Any:
    # Built once and executed with parameters: constructing an ON CONFLICT
    # statement costs about a millisecond, more than running it.
    ins = conflict_insert(dialect, table)
    return ins.on_conflict_do_update(index_elements=list(keys), set_={c: ins.excluded[c] for c in update_cols})


def _upsert(conn: Connection, table: Any, values: Any, keys: list[str], update_cols: list[str]) -> None:
    """Insert or update one row (a dict) or many (a list of dicts with the same keys)."""
    if not values:
        return
    conn.execute(_upsert_statement(conn.dialect.name, table, tuple(keys), tuple(update_cols)), values)


def current_desired(conn: Connection, schedule: Schedule, target: Target, now: datetime) -> statuses.DesiredStatus:
    gate_inputs = inputs.load(conn, schedule, target.environment, target.service, auto_create=True)
    return target.desired([b.to_dict() for b in gate.blockers_at(gate_inputs, now, now)])


def _sync_row(conn: Connection, service: str) -> Any:
    return conn.execute(select(merge_sync).where(merge_sync.c.service == service)).first()


def request_sync(
    conn: Connection, target: Target, desired: statuses.DesiredStatus, now: datetime, *, force: bool = False
) -> bool:
    """Queue a sync when the desired status differs from the one being delivered. Returns whether it did."""
    row = _sync_row(conn, target.service)
    if row is not None and row.signature == desired.signature and not force:
        return False
    _upsert(
        conn,
        merge_sync,
        {
            "service": target.service,
            "desired": desired.to_dict(),
            "signature": desired.signature,
            "started_at": now,
            "total": 0,
            "done": 0,
            "updated_at": now,
        },
        ["service"],
        ["desired", "signature", "started_at", "total", "done", "updated_at"],
    )
    # No dedupe key: A → B → A must sync again. Two workers cannot both get
    # here for one change: the reaction runs inside watch.process's guarded update.
    queue.enqueue(conn, SYNC_JOB, {"service": target.service, "signature": desired.signature}, now)
    return True


def on_gate_change(conn: Connection, change: GateChange, now: datetime, targets_: Sequence[Target]) -> None:
    """The scheduler's reaction: a merge gate changed, so its pull requests must follow."""
    for target in targets_:
        if change.gate.environment == target.environment and change.gate.service == target.service:
            desired = target.desired([b.to_dict() for b in change.gate.blockers])
            request_sync(conn, target, desired, now)


def priority(pull: PullRequest) -> tuple:
    """Closest to merging first: approved, mergeable, not a draft, most recently updated."""
    updated = pull.updated_at.timestamp() if pull.updated_at else 0.0
    return (not pull.approved, pull.mergeable is False, pull.draft, -updated, pull.number)


_PULL_COLUMNS = ["head_sha", "base", "state", "draft", "mergeable", "title", "updated_at", "seen_at", "merged_at", "merge_sha"]


def record_pulls(conn: Connection, forge: str, repo: str, pulls: Sequence[PullRequest], now: datetime) -> None:
    # Listings may not know about approvals: never overwrite one here.
    _upsert(conn, pull_requests, [_pull_row(forge, repo, p, now, "open") for p in pulls], ["forge", "repo", "number"], _PULL_COLUMNS)


def _pull_row(
    forge: str, repo: str, pull: PullRequest, now: datetime, state: str, merged_at: datetime | None = None, merge_sha: str | None = None
) -> dict[str, Any]:
    return {
        "forge": forge,
        "repo": repo,
        "number": pull.number,
        "head_sha": pull.head_sha,
        "base": pull.base,
        "state": state,
        "draft": pull.draft,
        "approved": pull.approved,
        "mergeable": pull.mergeable,
        "title": pull.title[:5000],
        "author": pull.author,
        "url": pull.url,
        "updated_at": pull.updated_at,
        "merged_at": merged_at,
        "merge_sha": merge_sha,
        "seen_at": now,
    }


def save_pull(
    conn: Connection,
    forge: str,
    repo: str,
    pull: PullRequest,
    now: datetime,
    *,
    state: str,
    merged_at: datetime | None = None,
    merge_sha: str | None = None,
) -> None:
    cols = _PULL_COLUMNS + (["approved"] if pull.approved else [])
    _upsert(conn, pull_requests, _pull_row(forge, repo, pull, now, state, merged_at, merge_sha), ["forge", "repo", "number"], cols)


def set_approved(conn: Connection, forge: str, repo: str, number: int, approved: bool, now: datetime) -> None:
    """A review webhook: remember the approval even before the pull request itself was listed."""
    values = {
        "forge": forge,
        "repo": repo,
        "number": number,
        "head_sha": "",
        "base": "",
        "state": "open",
        "approved": approved,
        "title": "",
        "seen_at": now,
    }
    _upsert(conn, pull_requests, values, ["forge", "repo", "number"], ["approved"])


def _approved(conn: Connection, forge: str, repo: str) -> set[int]:
    return set(
        conn.execute(
            select(pull_requests.c.number).where(
                pull_requests.c.forge == forge, pull_requests.c.repo == repo, pull_requests.c.approved.is_(True)
            )
        ).scalars()
    )


def _posted(conn: Connection, target: Target, sha: str) -> str | None:
    return conn.execute(
        select(commit_statuses.c.signature).where(
            commit_statuses.c.forge == target.forge,
            commit_statuses.c.repo == target.repo,
            commit_statuses.c.sha == sha,
            commit_statuses.c.context == target.context,
        )
    ).scalar()


def _post_job(target: Target, sha: str, desired: statuses.DesiredStatus, now: datetime, rank: int) -> queue.Job:
    return queue.Job(
        status_job(target.forge),
        {"service": target.service, "sha": sha, "signature": desired.signature, "status": desired.to_dict()},
        # Microsecond offsets keep the claim order equal to the priority order.
        run_at=now + timedelta(microseconds=rank),
        dedupe_key=f"status:{target.forge}:{target.repo}:{sha}:{target.context}:{desired.signature}",
    )


def enqueue_post(conn: Connection, target: Target, sha: str, desired: statuses.DesiredStatus, now: datetime) -> bool:
    """Queue one status write unless that exact status is already on the commit."""
    if _posted(conn, target, sha) == desired.signature:
        return False
    queue.enqueue_many(conn, [_post_job(target, sha, desired, now, 0)], now)
    return True


def _posted_many(conn: Connection, target: Target, shas: Sequence[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for i in range(0, len(shas), 500):
        out.update(
            conn.execute(
                select(commit_statuses.c.sha, commit_statuses.c.signature).where(
                    commit_statuses.c.forge == target.forge,
                    commit_statuses.c.repo == target.repo,
                    commit_statuses.c.context == target.context,
                    commit_statuses.c.sha.in_(shas[i : i + 500]),
                )
            ).all()
        )
    return out


def plan(
    conn: Connection,
    target: Target,
    signature: str,
    desired: statuses.DesiredStatus,
    pulls: Sequence[PullRequest],
    now: datetime,
) -> int:
    """After listing the open pull requests: queue the writes that differ, most urgent first."""
    row = _sync_row(conn, target.service)
    if row is not None and row.signature != signature:
        return 0  # a newer gate change superseded this sync; its own job will plan
    record_pulls(conn, target.forge, target.repo, pulls, now)
    conn.execute(
        update(pull_requests)
        .where(
            pull_requests.c.forge == target.forge,
            pull_requests.c.repo == target.repo,
            pull_requests.c.base == target.branch,
            pull_requests.c.state == "open",
            pull_requests.c.number.not_in([p.number for p in pulls] or [-1]),
        )
        .values(state="closed", seen_at=now)
    )
    approved = _approved(conn, target.forge, target.repo)
    ranked = sorted((replace(p, approved=p.approved or p.number in approved) for p in pulls), key=priority)
    posted = _posted_many(conn, target, [p.head_sha for p in ranked])
    todo = [
        _post_job(target, pull.head_sha, desired, now, rank)
        for rank, pull in enumerate(ranked)
        if posted.get(pull.head_sha) != desired.signature
    ]
    queue.enqueue_many(conn, todo, now)
    queued = len(todo)
    conn.execute(
        update(merge_sync)
        .where(merge_sync.c.service == target.service)
        .values(pulls=len(pulls), total=queued, done=0, updated_at=now)
    )
    return queued


def still_wanted(conn: Connection, service: str, signature: str) -> bool:
    row = _sync_row(conn, service)
    return row is None or row.signature == signature


def record_posted(conn: Connection, target: Target, sha: str, desired: statuses.DesiredStatus, now: datetime) -> None:
    _upsert(
        conn,
        commit_statuses,
        {
            "forge": target.forge,
            "repo": target.repo,
            "sha": sha,
            "context": target.context,
            "state": desired.state,
            "description": desired.description,
            "signature": desired.signature,
            "posted_at": now,
        },
        ["forge", "repo", "sha", "context"],
        ["state", "description", "signature", "posted_at"],
    )
    conn.execute(
        update(merge_sync)
        .where(merge_sync.c.service == target.service, merge_sync.c.signature == desired.signature)
        .values(done=merge_sync.c.done + 1, updated_at=now)
    )


def record_error(conn: Connection, target: Target, message: str, now: datetime) -> None:
    """A permanent forge error: visible on the dashboard (merge_sync), in events and in the log."""
    _upsert(
        conn,
        merge_sync,
        {"service": target.service, "last_error": message[:2000], "last_error_at": now, "updated_at": now},
        ["service"],
        ["last_error", "last_error_at", "updated_at"],
    )
    events.record(
        conn,
        "forge_error",
        now,
        actor="system",
        environment=target.environment,
        service=target.service,
        data={"forge": target.forge, "repo": target.repo, "error": message[:2000]},
    )


def progress(conn: Connection) -> list[dict[str, Any]]:
    return [
        {
            "service": r.service,
            "desired": r.desired,
            "pulls": r.pulls,
            "total": r.total,
            "done": r.done,
            "started_at": iso(r.started_at),
            "last_error": r.last_error,
            "last_error_at": iso(r.last_error_at),
        }
        for r in conn.execute(select(merge_sync).order_by(merge_sync.c.service))
    ]
