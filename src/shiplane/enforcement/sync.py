"""Keeping every open pull request's status equal to its merge gate (the database side).

Record, then deliver: a gate change writes a ``merge_sync`` job in the same
transaction; the sync job lists the open pull requests and writes one
``status:<forge>`` job per pull request whose posted status differs, in
priority order; each of those posts once and records what it posted.

Which statuses are wanted depends on the service's effective ``merge_freeze``
(``freeze.effective_mode``): ``statuses`` and ``both`` mirror the gate on every
pull request (an exempt label gives ``success``); ``branch`` posts nothing while
the branch freeze holds, and only replaces a blocking status that Shiplane posted
earlier (a fallback, another mode) once the gate opens.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.engine import Connection

from shiplane.clock import iso
from shiplane.enforcement import freeze, merge_queue, pulls, statuses
from shiplane.enforcement.forges.base import MergeGroup, PullRequest
from shiplane.enforcement.targets import Target, targets, upsert
from shiplane.events import service as events
from shiplane.jobs import queue
from shiplane.locks import gate, inputs
from shiplane.locks.calendar import Schedule
from shiplane.locks.watch import GateChange
from shiplane.tables.enforcement import commit_statuses, merge_sync, pull_requests
from shiplane.tables.jobs import jobs

SYNC_JOB = "merge_sync"

__all__ = ["Target", "targets"]  # re-exported: where a target is defined


def status_job(forge: str) -> str:
    return f"status:{forge}"


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
    upsert(
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
    _supersede(conn, target, desired.signature, now)
    return True


def _supersede(conn: Connection, target: Target, signature: str, now: datetime) -> None:
    """Status writes still queued for an older gate state would be claimed, take a share of the
    paced budget, and be dropped unsent (``still_wanted``): settle them now instead."""
    conn.execute(
        update(jobs)
        .where(
            jobs.c.kind == status_job(target.forge),
            jobs.c.state == "pending",
            or_(jobs.c.claimed_until.is_(None), jobs.c.claimed_until < now),
            jobs.c.payload["service"].as_string() == target.service,
            jobs.c.payload["signature"].as_string() != signature,
        )
        .values(state="done", finished_at=now, last_error="superseded by a newer gate state", dedupe_key=None)
    )


def on_gate_change(conn: Connection, change: GateChange, now: datetime, targets_: Sequence[Target]) -> None:
    """The scheduler's reaction: a merge gate changed, so its branch and pull requests must follow.

    The freeze job is queued first: within a tick the worker claims freeze jobs before anything
    else, and no status job can exist before the sync job has listed the pull requests.
    """
    for target in targets_:
        if change.gate.environment == target.environment and change.gate.service == target.service:
            desired = target.desired([b.to_dict() for b in change.gate.blockers])
            if target.freezes:
                freeze.request(conn, target, statuses.blocked(desired), now)
            request_sync(conn, target, desired, now)


def priority(pull: PullRequest) -> tuple:
    """Closest to merging first: approved, mergeable, not a draft, most recently updated."""
    updated = pull.updated_at.timestamp() if pull.updated_at else 0.0
    return (not pull.approved, pull.mergeable is False, pull.draft, -updated, pull.number)


def should_post(mode: str, want: statuses.DesiredStatus, posted: tuple[str, str] | None) -> bool:
    """Pure: is a write due, given what Shiplane last posted on the commit ((signature, state) or None)?"""
    if posted is not None and posted[0] == want.signature:
        return False
    if mode == "branch":
        # The freeze closes the merge button; statuses only undo a blocking one posted earlier.
        return want.state == "success" and posted is not None and posted[1] != "success"
    return True


def _post_job(
    target: Target, sha: str, want: statuses.DesiredStatus, now: datetime, rank: int, sync_signature: str
) -> queue.Job:
    return queue.Job(
        status_job(target.forge),
        # `signature` is the gate's (the sync this write belongs to); `status` is this commit's own.
        {"service": target.service, "sha": sha, "signature": sync_signature, "status": want.to_dict()},
        # Microsecond offsets keep the claim order equal to the priority order.
        run_at=now + timedelta(microseconds=rank),
        dedupe_key=f"status:{target.forge}:{target.repo}:{sha}:{target.context}:{want.signature}",
    )


def enqueue_post(conn: Connection, target: Target, sha: str, desired: statuses.DesiredStatus, now: datetime) -> bool:
    """Queue the gate's status on one commit (a merge group's head) unless it is already there."""
    if _posted_many(conn, target, [sha]).get(sha, (None, None))[0] == desired.signature:
        return False
    queue.enqueue_many(conn, [_post_job(target, sha, desired, now, 0, desired.signature)], now)
    return True


def sync_pull(conn: Connection, target: Target, pull: PullRequest, base: statuses.DesiredStatus, now: datetime) -> bool:
    """A webhook changed one pull request (new head, labels): queue its status now, if one is due."""
    mode = freeze.effective_mode(conn, target)
    want = target.for_pull(base, pull.labels, mode)
    exempt = want is not base
    if statuses.blocked(base) and target.exempt_labels and mode != "branch":
        pulls.note_exemptions(conn, target, base, [pull] if exempt else [], now, others=[] if exempt else [pull.number])
    if not should_post(mode, want, _posted_many(conn, target, [pull.head_sha]).get(pull.head_sha)):
        return False
    queue.enqueue_many(conn, [_post_job(target, pull.head_sha, want, now, 0, base.signature)], now)
    return True


def merge_group(
    conn: Connection, target: Target, group: MergeGroup, base: statuses.DesiredStatus, now: datetime
) -> list[str]:
    """``checks_requested``: the gate's status on the group's head, held while closed. ``destroyed``: see merge_queue."""
    if group.action == "destroyed":
        kind = merge_queue.destroyed(conn, target, group, statuses.blocked(base), base.description, now)
        return [kind] if kind else []
    out = []
    if statuses.blocked(base):
        merge_queue.hold(conn, target.forge, group, now)
        out.append(f"merge group {group.head_sha[:12]} held")
    if enqueue_post(conn, target, group.head_sha, base, now):
        out.append(f"status {target.service} merge group {group.head_sha[:12]}")
    return out


def release_held(conn: Connection, target: Target, base: statuses.DesiredStatus, now: datetime) -> int:
    """The gate is open (and the branch unfrozen): every held merge group gets ``success`` and goes on."""
    if statuses.blocked(base) or not freeze.is_open(conn, target):
        return 0
    rows = merge_queue.held(conn, target)
    for row in rows:
        enqueue_post(conn, target, row.head_sha, base, now)
    merge_queue.mark(conn, [r.id for r in rows], "released", now)
    return len(rows)


def _posted_many(conn: Connection, target: Target, shas: Sequence[str]) -> dict[str, tuple[str, str]]:
    out: dict[str, tuple[str, str]] = {}
    for i in range(0, len(shas), 500):
        out.update(
            (sha, (signature, state))
            for sha, signature, state in conn.execute(
                select(commit_statuses.c.sha, commit_statuses.c.signature, commit_statuses.c.state).where(
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
    open_pulls: Sequence[PullRequest],
    now: datetime,
) -> int:
    """After listing the open pull requests: queue the writes that differ, most urgent first."""
    row = _sync_row(conn, target.service)
    if row is not None and row.signature != signature:
        return 0  # a newer gate change superseded this sync; its own job will plan
    pulls.record(conn, target.forge, target.repo, open_pulls, now)
    conn.execute(
        update(pull_requests)
        .where(
            pull_requests.c.forge == target.forge,
            pull_requests.c.repo == target.repo,
            pull_requests.c.base == target.branch,
            pull_requests.c.state == "open",
            pull_requests.c.number.not_in([p.number for p in open_pulls] or [-1]),
        )
        .values(state="closed", seen_at=now)
    )
    approved = pulls.approved(conn, target.forge, target.repo)
    ranked = sorted((replace(p, approved=p.approved or p.number in approved) for p in open_pulls), key=priority)
    mode = freeze.effective_mode(conn, target)
    posted = _posted_many(conn, target, [p.head_sha for p in ranked])
    todo, exempt = [], []
    for rank, pull in enumerate(ranked):
        want = target.for_pull(desired, pull.labels, mode)
        if want is not desired:
            exempt.append(pull)
        if should_post(mode, want, posted.get(pull.head_sha)):
            todo.append(_post_job(target, pull.head_sha, want, now, rank, signature))
    if statuses.blocked(desired) and target.exempt_labels and mode != "branch":
        pulls.note_exemptions(conn, target, desired, exempt, now)
    queue.enqueue_many(conn, todo, now)
    if mode == "statuses":  # with a branch freeze, the freeze job releases them once the branch is open
        release_held(conn, target, desired, now)
    conn.execute(
        update(merge_sync)
        .where(merge_sync.c.service == target.service)
        .values(pulls=len(open_pulls), total=len(todo), done=0, updated_at=now)
    )
    return len(todo)


def needs_listing(conn: Connection, target: Target, desired: statuses.DesiredStatus) -> bool:
    """With the branch frozen in branch mode, a closed gate posts nothing: listing every open pull
    request (twenty pages for 2,000) would only hold the worker up."""
    return not (statuses.blocked(desired) and freeze.effective_mode(conn, target) == "branch")


def nothing_to_post(conn: Connection, target: Target, signature: str, now: datetime) -> None:
    conn.execute(
        update(merge_sync)
        .where(merge_sync.c.service == target.service, merge_sync.c.signature == signature)
        .values(total=0, done=0, updated_at=now)
    )


def still_wanted(conn: Connection, service: str, signature: str) -> bool:
    row = _sync_row(conn, service)
    return row is None or row.signature == signature


def record_posted(
    conn: Connection, target: Target, sha: str, desired: statuses.DesiredStatus, now: datetime, sync_signature: str | None = None
) -> None:
    upsert(
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
        .where(merge_sync.c.service == target.service, merge_sync.c.signature == (sync_signature or desired.signature))
        .values(done=merge_sync.c.done + 1, updated_at=now)
    )


def record_error(conn: Connection, target: Target, message: str, now: datetime) -> None:
    """A permanent forge error: visible on the dashboard (merge_sync), in events and in the log."""
    upsert(
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


def progress(conn: Connection, targets_: Sequence[Target] = ()) -> list[dict[str, Any]]:
    """Per service: the status its pull requests should carry and how far delivery got, its branch
    freeze (if any) and the pull requests exempt from the current lock."""
    by_service = {t.service: t for t in targets_}
    freezes = freeze.states(conn)
    out = []
    for r in conn.execute(select(merge_sync).order_by(merge_sync.c.service)):
        target = by_service.get(r.service)
        item = {
            "service": r.service,
            "desired": r.desired,
            "pulls": r.pulls,
            "total": r.total,
            "done": r.done,
            "started_at": iso(r.started_at),
            "last_error": r.last_error,
            "last_error_at": iso(r.last_error_at),
            "mode": target.merge_freeze if target else "statuses",
            "forge_title": target.forge_title if target else "",
            "freeze": freezes.get(r.service) if target and target.freezes else None,
            "exempted": [],
        }
        if target is not None and r.desired:
            item["exempted"] = pulls.exempted(conn, target, statuses.DesiredStatus(**r.desired))
        out.append(item)
    return out
