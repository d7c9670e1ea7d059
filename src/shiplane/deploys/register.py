"""Registering a deploy: from a validated body to a stored deploy, its event and what follows.

Every function takes a connection inside an open transaction and ``now``; the
caller owns the transaction, so a failure anywhere leaves nothing written.
``register`` reads as its steps: the scope, an exact repeat, the one deploy in
progress, the gate, rollback detection, the row, and what the write changes.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, insert, literal, select, union_all
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from shiplane.catalog import service as catalog_service
from shiplane.changes import parse
from shiplane.changes import service as changes_service
from shiplane.deploys.intake import Intake
from shiplane.deploys.schemas import DeployIn
from shiplane.deploys.service import LATEST, get_row, in_progress, joined, mark_rolled_back, to_dict, transition
from shiplane.errors import DeployInProgress, Locked
from shiplane.events import service as events
from shiplane.locks import rollbacks, watch
from shiplane.locks.gate import GATE_BLOCKING_HEALTH
from shiplane.tables.deploys import deploy_commits, deploys
from shiplane.tables.events import events as event_rows

_INSERT = insert(deploys).returning(deploys.c.id)


@functools.lru_cache(maxsize=64)
def _insert_with_event(columns: tuple[str, ...]) -> Any:
    """PostgreSQL: the deploy and its ``deploy_registered`` event in one statement.

    One round trip fewer on the registration hot path (a data-modifying CTE; SQLite
    has none, so there the event is a second INSERT). Built once per column set.
    """
    new = insert(deploys).values({c: bindparam(c, type_=deploys.c[c].type) for c in columns})
    new = new.returning(deploys.c.id).cte("new_deploy")
    event_columns = event_rows.c
    return (
        insert(event_rows)
        .from_select(
            ["at", "kind", "actor", "environment", "service", "deploy_id", "data"],
            select(
                *(bindparam(f"event_{c}", type_=event_columns[c].type) for c in ("at", "kind", "actor", "environment", "service")),
                new.c.id,
                bindparam("event_data", type_=event_columns["data"].type),
            ),
        )
        .returning(event_rows.c.deploy_id)
    )


# Registration needs the scope's latest deploy (repeats), its latest counted deploy
# (the gate's health), and for rollback detection the counted deploy just before the
# new deploy's time and the latest earlier counted deploy of the same sha: one round trip.
_COUNTED = ("succeeded", "rolled_back")


def _counted(*where: Any) -> Any:
    return (
        joined()
        .where(
            deploys.c.service_id == bindparam("sid"),
            deploys.c.environment_id == bindparam("eid"),
            deploys.c.status.in_(_COUNTED),
            *where,
        )
        .order_by(deploys.c.deployed_at.desc(), deploys.c.id.desc())
        .limit(1)
        .subquery()
    )


_LATEST_AND_PREVIOUS = union_all(
    select(literal(1).label("which"), LATEST.subquery()),
    select(literal(2).label("which"), _counted(deploys.c.deployed_at <= bindparam("at"), deploys.c.sha == bindparam("sha"))),
    select(literal(3).label("which"), _counted(deploys.c.deployed_at <= bindparam("at"))),
    select(literal(4).label("which"), _counted()),  # the live deploy, for the gate
)


@dataclass
class Registration:
    deploy: dict[str, Any]
    created: bool
    changed: bool = True  # False only for an exact repeat (idempotent 200, nothing written)
    gate_changed: bool = True  # whether the scope's gate may read differently now


@dataclass
class _GateOutcome:
    blockers: list[dict[str, Any]]
    during_lock: bool = False
    override_reason: str | None = None
    override_by: str | None = None
    rollback_allowed: bool = False  # a rollback went through blockers of [gate] rollback_passes


def register(conn: Connection, body: DeployIn, *, actor: str, now: datetime, intake: Intake = Intake()) -> Registration:
    if body.commits:
        body = body.model_copy(update={"commits": first_listed(body.commits)})
    svc = catalog_service.service(conn, body.service, auto_create=intake.auto_create, now=now, cache=intake.cache)
    env = catalog_service.environment(conn, body.environment, auto_create=intake.auto_create, now=now, cache=intake.cache)
    at = _deploy_time(body, now)
    latest, previous_same_sha, live_before, live = _latest_and_previous(conn, svc.id, env.id, body.sha, at)

    repeat = _repeat_of_latest(conn, body, latest, actor, now)
    if repeat is not None:
        return repeat
    if body.status == "started":
        blocking = in_progress(conn, svc.id, env.id)
        if blocking is not None:
            raise _in_progress_error(blocking)
    # A rollback (SPEC §8.1, §8.9): an earlier sha coming back (not a roll-forward), or said so.
    rollback_of = _rollback_of(body.sha, previous_same_sha, live_before)
    gate = _ask_gate(conn, body, intake, svc, env, live, latest, actor, now, body.rollback or rollback_of is not None)

    tags = list(dict.fromkeys(body.tags))
    if rollback_of is not None and "rollback" not in tags:
        tags.append("rollback")

    values = _deploy_values(body, intake, svc.id, env.id, latest, gate, tags, rollback_of, actor, now)
    registered = {
        "kind": "deploy_registered", "actor": actor, "environment": env.slug, "service": svc.slug,
        "data": {"sha": body.sha, "status": body.status, "during_lock": gate.during_lock, "tags": tags},
    }
    deploy_id = _store(conn, body, values, registered, svc.id, env.id, now)

    watch.watch_scope(conn, env.id, svc.id, now, intake.cache)
    # The scope's gate reads differently only if a deploy is now in progress, this deploy
    # replaces an unhealthy latest one, or it finished where a cooldown follows a deploy.
    gate_changed = (
        body.status == "started"
        or (live is not None and live.health_state in GATE_BLOCKING_HEALTH)
        or (body.status != "started" and env.slug in intake.cooled)
    )
    if gate_changed:
        watch.mark_scope_due(conn, env.id, svc.id, now)
    if body.commits:
        conn.execute(
            insert(deploy_commits),
            [_commit_row(deploy_id, i, c, intake.issue_pattern) for i, c in enumerate(body.commits)],
        )
    if gate.override_reason:
        events.record(
            conn,
            "override",
            now,
            actor=actor,
            environment=env.slug,
            service=svc.slug,
            deploy_id=deploy_id,
            data={"reason": gate.override_reason, "blockers": gate.blockers},
        )
    if gate.rollback_allowed:
        events.record(
            conn, "rollback_allowed", now, actor=actor, environment=env.slug, service=svc.slug, deploy_id=deploy_id,
            data={"blockers": gate.blockers, "passed": sorted({rollbacks.pass_kind(b) for b in gate.blockers})},
        )
    if body.status == "succeeded" and rollback_of is not None:
        mark_rolled_back(conn, svc.id, env.id, rollback_of, deploy_id, actor, now)
        return Registration(to_dict(get_row(conn, deploy_id)), created=True)
    row = values | {"id": deploy_id, "service_slug": svc.slug, "environment_slug": env.slug, "health_score": None}
    return Registration(to_dict(row), created=True, gate_changed=gate_changed)


def _deploy_time(body: DeployIn, now: datetime) -> datetime:
    """The deploy time the new deploy will get (as `_deploy_values` stores it)."""
    if body.status == "started":
        return body.started_at or now
    return body.finished_at or now


def _latest_and_previous(
    conn: Connection, service_id: int, environment_id: int, sha: str, at: datetime
) -> tuple[Any, Any, Any, Any]:
    """The scope's latest deploy; its latest counted deploy of this sha and latest counted
    deploy at or before `at`; its latest counted deploy."""
    found: dict[int, Any] = {}
    for row in conn.execute(_LATEST_AND_PREVIOUS, {"sid": service_id, "eid": environment_id, "sha": sha, "at": at}):
        found[row.which] = row
    return found.get(1), found.get(2), found.get(3), found.get(4)


def _rollback_of(sha: str, previous_same_sha: Any, live_before: Any) -> int | None:
    """SPEC §8.9: the latest earlier deploy of this sha, when re-deploying it replaces another sha.

    Earlier by deploy time (a backdated registration looks back from its own time, never at a
    later deploy), and not a roll-forward: re-deploying a sha whose own latest deploy there was
    rolled back goes forward again.
    """
    if previous_same_sha is None or live_before is None or live_before.sha == sha:
        return None
    if previous_same_sha.status == "rolled_back":
        return None
    return previous_same_sha.id


def _repeat_of_latest(conn: Connection, body: DeployIn, latest: Any, actor: str, now: datetime) -> Registration | None:
    """A repeat of the latest deploy: the same answer again, or the end of the deploy it started.

    The same status is a repeat only when the times sent (if any) are the latest deploy's too
    (SPEC §8.9): a backdated registration of the same sha is another deploy.
    """
    if latest is None or latest.sha != body.sha:
        return None
    if latest.status == body.status:
        if (body.started_at is not None and body.started_at != latest.started_at) or (
            body.finished_at is not None and body.finished_at != latest.finished_at
        ):
            return None
        return Registration(to_dict(latest), created=False, changed=False, gate_changed=False)
    if latest.status == "started" and body.status in ("succeeded", "failed"):
        # The same pipeline reporting the end of the deploy it started.
        updated = transition(conn, latest.id, body.status, actor=actor, now=now, finished_at=body.finished_at)
        return Registration(updated, created=False)
    return None


def _ask_gate(
    conn: Connection, body: DeployIn, intake: Intake, svc: Any, env: Any, live: Any, latest: Any, actor: str,
    now: datetime, rollback: bool = False,
) -> _GateOutcome:
    """Refuse a start through a closed gate unless overridden; record after-the-fact deploys as during a lock."""
    blockers = list(intake.blocker_check(conn, svc, env, now, live, latest)) if intake.blocker_check else []
    if not blockers:
        return _GateOutcome(blockers)
    if body.status == "started":
        if not body.override_reason:
            if rollback and rollbacks.passes(blockers, intake.rollback_passes):
                return _GateOutcome(blockers, rollback_allowed=True)
            raise Locked(
                f"{body.environment} is closed for {body.service}: "
                + "; ".join(b.get("reason") or b["kind"] for b in blockers),
                blockers=blockers,
            )
        return _GateOutcome(blockers, override_reason=body.override_reason, override_by=actor)
    # After-the-fact records are never refused: losing history is worse
    # than recording that a deploy went out while the gate was closed.
    return _GateOutcome(
        blockers,
        during_lock=True,
        override_reason=body.override_reason or None,
        override_by=actor if body.override_reason else None,
    )


def _deploy_values(
    body: DeployIn,
    intake: Intake,
    service_id: int,
    environment_id: int,
    latest: Any,
    gate: _GateOutcome,
    tags: list[str],
    rollback_of: int | None,
    actor: str,
    now: datetime,
) -> dict[str, Any]:
    started_at = body.started_at or (now if body.status == "started" else None)
    finished_at = body.finished_at or (now if body.status != "started" else None)
    return dict(
        service_id=service_id,
        environment_id=environment_id,
        sha=body.sha,
        status=body.status,
        registered_at=now,
        started_at=started_at,
        finished_at=finished_at,
        deployed_at=finished_at or started_at or now,
        version=body.version,
        author=body.author,
        email=body.email,
        url=body.url,
        tags=tags,
        during_lock=gate.during_lock,
        override_reason=gate.override_reason,
        override_by=gate.override_by,
        registered_by=actor,
        rollback_of=rollback_of,
        has_changes=body.commits is not None,
        **_change_columns(body, latest, intake.tracked),
        **_health_columns(body, intake.judged),
    )


def _store(
    conn: Connection,
    body: DeployIn,
    values: dict[str, Any],
    registered: dict[str, Any],
    service_id: int,
    environment_id: int,
    now: datetime,
) -> int:
    if body.status != "started":
        # Only a start can collide with uq_deploys_in_progress: no savepoint needed.
        return _insert(conn, values, registered, now)
    try:
        with conn.begin_nested():
            return _insert(conn, values, registered, now)
    except IntegrityError:
        # Lost the race for the in-progress slot (uq_deploys_in_progress).
        blocking = in_progress(conn, service_id, environment_id)
        if blocking is None:
            raise
        raise _in_progress_error(blocking) from None


def _insert(conn: Connection, values: dict[str, Any], event: dict[str, Any], now: datetime) -> int:
    """Insert the deploy and record its ``deploy_registered`` event; returns the deploy's id."""
    if conn.dialect.name == "postgresql":
        params = values | {f"event_{k}": v for k, v in event.items()} | {"event_at": now}
        deploy_id = conn.execute(_insert_with_event(tuple(sorted(values))), params).scalar_one()
        events.announce(conn, event["kind"])
        return deploy_id
    deploy_id = conn.execute(_INSERT, values).scalar_one()
    events.record(conn, event["kind"], now, deploy_id=deploy_id, **{k: v for k, v in event.items() if k != "kind"})
    return deploy_id


def _in_progress_error(blocking: Any) -> DeployInProgress:
    return DeployInProgress(
        f"deploy {blocking.id} of {blocking.service_slug} to {blocking.environment_slug} is still in progress",
        blocking_deploy=to_dict(blocking),
    )


def _health_columns(body: DeployIn, judged: Callable[[str, str], bool] | None) -> dict[str, Any]:
    """With no metric configured for the scope there is nothing to judge: say so now, finally."""
    if judged is not None and not judged(body.environment, body.service):
        return {
            "health_state": "no_data",
            "health_final": True,
            "health_reason": f"no metrics configured for {body.service} in {body.environment}",
        }
    return {"health_state": "pending", "health_final": False}


def first_listed(commits: list[Any]) -> list[Any]:
    """Each revision once, as first listed: a commit sent twice with two dates must not make the
    lead time it gets depend on the database's row order."""
    seen: set[str] = set()
    return [c for c in commits if not (c.revision in seen or seen.add(c.revision))]


def _change_columns(body: DeployIn, latest: Any, tracked: frozenset[str]) -> dict[str, Any]:
    """Where this deploy's change list comes from, decided at intake when it can be.

    Commits in the body are the changes. Otherwise a first deploy has nothing
    to compare with, and an untracked service has no source: both are settled
    now, so only tracked services leave work (changes_source NULL) for the worker.
    """
    if body.commits is not None:
        count, files = changes_service.body_stats(body.commits)
        return {"changes_source": "body", "commit_count": count, "files_changed": files}
    if latest is None:
        return {"changes_source": "none", "changes_note": changes_service.first_deploy_note(body.service, body.environment)}
    if body.service not in tracked:
        return {"changes_source": "none", "changes_note": changes_service.NO_SOURCE}
    return {}


def _commit_row(deploy_id: int, position: int, commit: Any, issue_pattern: str) -> dict[str, Any]:
    author = commit.author
    return dict(
        deploy_id=deploy_id,
        position=position,
        sha=commit.revision,
        message=commit.message or "",
        author_name=author.name if author else None,
        author_email=author.email if author else None,
        author_username=author.username if author else None,
        committed_at=commit.date,
        url=commit.url,
        pull_requests=parse.pull_requests(commit.message),
        issue_keys=parse.issue_keys(commit.message, issue_pattern),
        files=[f for f in (commit.files or []) if isinstance(f, str)][:1000] or None,
    )
