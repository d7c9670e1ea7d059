"""Open pull requests as last seen (listings, webhooks, reviews), and who is exempt from a lock."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.engine import Connection

from shiplane.enforcement import statuses
from shiplane.enforcement.forges.base import PullRequest
from shiplane.enforcement.targets import Target, upsert
from shiplane.events import service as events
from shiplane.tables.enforcement import pull_requests

_COLUMNS = ["head_sha", "base", "state", "draft", "mergeable", "title", "updated_at", "seen_at", "merged_at", "merge_sha", "labels"]
_KEY = ["forge", "repo", "number"]


def record(conn: Connection, forge: str, repo: str, pulls: Sequence[PullRequest], now: datetime) -> None:
    # Listings may not know about approvals: never overwrite one here.
    upsert(conn, pull_requests, [_row(forge, repo, p, now, "open") for p in pulls], _KEY, _COLUMNS)


def _row(
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
        "labels": [label[:100] for label in pull.labels[:100]],  # bounded: a webhook body decides them
    }


def save(
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
    cols = _COLUMNS + (["approved"] if pull.approved else [])
    upsert(conn, pull_requests, _row(forge, repo, pull, now, state, merged_at, merge_sha), _KEY, cols)


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
    upsert(conn, pull_requests, values, _KEY, ["approved"])


def approved(conn: Connection, forge: str, repo: str) -> set[int]:
    return set(
        conn.execute(
            select(pull_requests.c.number).where(
                pull_requests.c.forge == forge, pull_requests.c.repo == repo, pull_requests.c.approved.is_(True)
            )
        ).scalars()
    )


def note_exemptions(
    conn: Connection,
    target: Target,
    base: statuses.DesiredStatus,
    exempt: Sequence[PullRequest],
    now: datetime,
    *,
    others: Sequence[int] | None = None,
) -> int:
    """Record ``merge_exempted`` once per pull request per lock (``exempt_for`` = the lock's status).

    ``others`` are pull requests known not to be exempt now (a label removed): their next
    exemption is news again. ``None`` means every other open pull request of the target.
    """
    numbers = [p.number for p in exempt]
    clear = update(pull_requests).where(
        pull_requests.c.forge == target.forge, pull_requests.c.repo == target.repo, pull_requests.c.exempt_for.is_not(None)
    )
    if others is None:
        conn.execute(clear.where(pull_requests.c.number.not_in(numbers or [-1])).values(exempt_for=None))
    elif others:
        conn.execute(clear.where(pull_requests.c.number.in_(list(others))).values(exempt_for=None))
    if not exempt:
        return 0
    seen = dict(
        conn.execute(
            select(pull_requests.c.number, pull_requests.c.exempt_for).where(
                pull_requests.c.forge == target.forge, pull_requests.c.repo == target.repo, pull_requests.c.number.in_(numbers)
            )
        ).all()
    )
    recorded = 0
    for pull in exempt:
        if seen.get(pull.number) == base.signature:
            continue
        label = statuses.exempt_label(pull.labels, target.exempt_labels)
        events.record(
            conn,
            "merge_exempted",
            now,
            actor="system",
            environment=target.environment,
            service=target.service,
            data={
                "forge": target.forge,
                "repo": target.repo,
                "number": pull.number,
                "title": pull.title[:300],
                "url": pull.url,
                "label": label,
                "lock": base.description,
            },
        )
        conn.execute(
            update(pull_requests)
            .where(pull_requests.c.forge == target.forge, pull_requests.c.repo == target.repo, pull_requests.c.number == pull.number)
            .values(exempt_for=base.signature)
        )
        recorded += 1
    return recorded


def exempted(conn: Connection, target: Target, base: statuses.DesiredStatus) -> list[dict[str, Any]]:
    """The open pull requests exempt from the current lock (for the dashboard)."""
    if not statuses.blocked(base) or not target.exempt_labels:
        return []
    rows = conn.execute(
        select(pull_requests.c.number, pull_requests.c.title, pull_requests.c.url, pull_requests.c.labels).where(
            pull_requests.c.forge == target.forge,
            pull_requests.c.repo == target.repo,
            pull_requests.c.base == target.branch,
            pull_requests.c.state == "open",
            pull_requests.c.exempt_for == base.signature,
        ).order_by(pull_requests.c.number)
    ).all()
    return [
        {
            "number": r.number,
            "title": r.title,
            "url": r.url if (r.url or "").startswith(("https://", "http://")) else None,  # a link, never a script
            "label": statuses.exempt_label(r.labels or [], target.exempt_labels),
        }
        for r in rows
    ]
