"""What a verified forge webhook does (the database side; one transaction per delivery)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.engine import Connection

from shiplane.catalog import service as catalog
from shiplane.changes import parse
from shiplane.db import conflict_insert
from shiplane.deploys import reverts
from shiplane.deploys.intake import Intake
from shiplane.deploys.register import register
from shiplane.deploys.schemas import DeployIn
from shiplane.deploys.service import in_progress, transition
from shiplane.enforcement import pulls, sync
from shiplane.enforcement.forges import base as ev
from shiplane.errors import DomainError
from shiplane.events import service as events
from shiplane.jobs import queue
from shiplane.locks import gate, inputs
from shiplane.locks.calendar import Schedule
from shiplane.tables.catalog import environments, services
from shiplane.tables.enforcement import pull_requests, pushed_commits, webhook_deliveries

PROTECTION_JOB = "protection:github"

log = logging.getLogger("shiplane.enforcement")


def _nowhere(url: str) -> bool:
    return False


@dataclass(frozen=True)
class Context:
    targets: tuple[sync.Target, ...]
    schedule: Schedule
    intake: Intake  # how deploys are registered
    # Is a deployment protection rule's callback URL on the configured GitHub API? (GitHub.callback_allowed)
    callback_allowed: Callable[[str], bool] = _nowhere
    reverts: bool = True  # [dora] reverts: a merged revert fails the deploy that shipped the change


def _first_time(conn: Connection, forge: str, delivery_id: str | None, now: datetime) -> bool:
    if not delivery_id:
        return True
    ins = conflict_insert(conn.dialect.name, webhook_deliveries)
    # RETURNING rather than rowcount: psycopg reports -1 for INSERT ... ON CONFLICT.
    inserted = conn.execute(
        ins.values(forge=forge, delivery_id=delivery_id[:200], received_at=now)
        .on_conflict_do_nothing(index_elements=["forge", "delivery_id"])
        .returning(webhook_deliveries.c.id)
    ).first()
    return inserted is not None


def _targets(ctx: Context, forge: str, repo: str, branch: str | None = None) -> list[sync.Target]:
    return [
        t for t in ctx.targets if t.forge == forge and t.repo == repo and (branch is None or t.branch == branch)
    ]


def accept(conn: Connection, delivery: ev.Delivery, now: datetime, ctx: Context) -> dict[str, Any]:
    if not _first_time(conn, delivery.forge, delivery.delivery_id, now):
        return {"status": "duplicate", "delivery": delivery.delivery_id}
    actions: list[str] = []
    for event in delivery.events:
        actions.extend(_act(conn, delivery.forge, event, now, ctx))
    return {"status": "ok", "events": [type(e).__name__ for e in delivery.events], "actions": actions}


def _act(conn: Connection, forge: str, event: ev.WebhookEvent, now: datetime, ctx: Context) -> list[str]:
    if isinstance(event, ev.PullRequestChanged):
        pulls.save(conn, forge, event.repo, event.pull, now, state="open")
        out = []
        for target in _targets(ctx, forge, event.repo, event.pull.base):
            desired = sync.current_desired(conn, ctx.schedule, target, now)
            if sync.sync_pull(conn, target, event.pull, desired, now):
                out.append(f"status {target.service} #{event.pull.number}")
        return out
    if isinstance(event, ev.PullRequestClosed):
        state = "merged" if event.merged else "closed"
        pulls.save(
            conn, forge, event.repo, event.pull, now, state=state, merged_at=event.merged_at, merge_sha=event.merge_sha
        )
        out = [f"pull #{event.pull.number} {state}"]
        if event.merged and ctx.reverts:
            out += _pull_reverts(conn, forge, event, now)
        return out
    if isinstance(event, ev.Review):
        pulls.set_approved(conn, forge, event.repo, event.number, event.approved, now)
        return [f"pull #{event.number} approved={event.approved}"]
    if isinstance(event, ev.Pushed):
        out = []
        # A revert counts once it is on a service's own branch (SPEC §8.7: merged), not on the
        # `revert-…` branch GitHub's Revert button pushes before anyone merges it.
        counts = ctx.reverts and bool(_targets(ctx, forge, event.repo, event.branch))
        for c in event.commits:
            _save_commit(conn, forge, event.repo, event.branch, c, now)
            shas = parse.reverted_commits(c.message) if counts else []
            if shas:
                marked = reverts.mark_reverted(conn, shas, origin=f"commit {c.sha[:7]}", actor=f"{forge}:push", now=now)
                out += [f"revert: deploy {i} failed" for i in marked]
        return [f"{len(event.commits)} commits on {event.branch}", *out]
    if isinstance(event, ev.MergeGroup):
        out = []
        for target in _targets(ctx, forge, event.repo, event.base):
            desired = sync.current_desired(conn, ctx.schedule, target, now)
            out.extend(sync.merge_group(conn, target, event, desired, now))
        return out
    if isinstance(event, ev.DeploymentStatus):
        return _register(conn, forge, event, now, ctx)
    if isinstance(event, ev.ProtectionRule):
        return _protection(conn, forge, event, now, ctx)
    return []


_PULL = select(pull_requests.c.merge_sha, pull_requests.c.head_sha).where(
    pull_requests.c.forge == bindparam("forge"), pull_requests.c.repo == bindparam("repo"), pull_requests.c.state == "merged"
)


def _pull_reverts(conn: Connection, forge: str, event: ev.PullRequestClosed, now: datetime) -> list[str]:
    """A merged revert pull request (SPEC §8.7): the changes it reverts, and the deploys that shipped them."""
    pull = event.pull
    shas = [*parse.reverted_commits(pull.title), *parse.reverted_commits(pull.body)]
    params = {"forge": forge, "repo": event.repo}
    originals = []
    number = parse.reverted_pull(pull.body)
    if number is not None and number != pull.number:
        originals += conn.execute(_PULL.where(pull_requests.c.number == number), params).all()
    title = parse.reverted_title(pull.title)
    if title is not None:
        originals += conn.execute(
            _PULL.where(pull_requests.c.title == title, pull_requests.c.number != pull.number)
            .order_by(pull_requests.c.merged_at.desc())
            .limit(1),
            params,
        ).all()
    for o in originals:
        shas += [s for s in (o.merge_sha, o.head_sha) if s]
    if not shas:
        return []
    marked = reverts.mark_reverted(conn, shas, origin=f"pull request #{pull.number}", actor=f"{forge}:pull_request", now=now)
    return [f"revert: deploy {i} failed" for i in marked]


def _save_commit(conn: Connection, forge: str, repo: str, branch: str, c: ev.Commit, now: datetime) -> None:
    ins = conflict_insert(conn.dialect.name, pushed_commits)
    conn.execute(
        ins.values(forge=forge, repo=repo, branch=branch, received_at=now, **c.columns()).on_conflict_do_nothing(
            index_elements=["forge", "repo", "sha"]
        )
    )


def _register(conn: Connection, forge: str, event: ev.DeploymentStatus, now: datetime, ctx: Context) -> list[str]:
    out = []
    for target in _targets(ctx, forge, event.repo):
        if event.state == "cancelled":
            try:
                out.append(_cancel(conn, forge, target.service, event, now))
            except DomainError as exc:
                out.append(f"deploy of {target.service} not cancelled: {exc}")
            continue
        try:
            body = DeployIn(
                service=target.service,
                environment=event.environment.lower(),
                sha=event.sha,
                status=event.state,  # type: ignore[arg-type]
                finished_at=event.at if event.state != "started" else None,
                started_at=event.at if event.state == "started" else None,
                url=event.url,
                author=event.author,
            )
            with conn.begin_nested():
                result = register(
                    conn,
                    body,
                    actor=f"{forge}:deployment_status" if forge == "github" else f"{forge}:deployment",
                    now=now,
                    intake=ctx.intake,
                )
            out.append(f"deploy {result.deploy['id']} {result.deploy['status']}")
        except (DomainError, ValueError) as exc:
            # A webhook cannot be refused like an API call; record why nothing happened.
            out.append(f"deploy of {target.service} not recorded: {exc}")
    return out


def _cancel(conn: Connection, forge: str, service: str, event: ev.DeploymentStatus, now: datetime) -> str:
    """A cancelled deployment ends the deploy of that sha in progress; there is nothing else to record."""
    environment = event.environment.lower()
    sid, eid = catalog.find(conn, services, service), catalog.find(conn, environments, environment)
    row = in_progress(conn, sid, eid) if sid is not None and eid is not None else None
    if row is None or not event.sha or not row.sha.startswith(event.sha.lower()):
        return f"deploy of {service} not cancelled: no deploy of {event.sha[:12]!r} in progress in {environment[:64]}"
    with conn.begin_nested():
        deploy = transition(conn, row.id, "cancelled", actor=f"{forge}:deployment", now=now, finished_at=event.at)
    return f"deploy {deploy['id']} {deploy['status']}"


def _protection(conn: Connection, forge: str, event: ev.ProtectionRule, now: datetime, ctx: Context) -> list[str]:
    if not ctx.callback_allowed(event.callback_url):
        # Answering means sending our token to that URL: only ever to the configured GitHub API.
        message = f"deployment_callback_url {event.callback_url[:300]!r} is not on the configured GitHub API; refused"
        log.warning("deployment protection rule for %s (%s): %s", event.repo, event.environment, message)
        events.record(
            conn, "forge_error", now, actor=f"{forge}:deployment_protection_rule",
            data={"forge": forge, "repo": event.repo, "environment": event.environment[:100], "error": message},
        )
        return [f"protection rule {event.environment}: refused (callback not on the GitHub API)"]
    services = [t.service for t in _targets(ctx, forge, event.repo)] or [None]
    blockers: list[dict[str, Any]] = []
    for service in services:
        gate_inputs = inputs.load(conn, ctx.schedule, event.environment.lower(), service, auto_create=True)
        # A protection rule guards a deploy, so a deploy in progress counts here (unlike for merges).
        blockers += [b.to_dict() for b in gate.blockers_at(gate_inputs, now, now)]
    approve = not blockers
    comment = "Shiplane: gate open" if approve else "Shiplane: " + "; ".join(b["reason"] for b in blockers)
    queue.enqueue(
        conn,
        PROTECTION_JOB,
        {"callback_url": event.callback_url, "environment": event.environment, "approve": approve, "comment": comment[:1000]},
        now,
    )
    return [f"protection rule {event.environment}: {'approve' if approve else 'reject'}"]
