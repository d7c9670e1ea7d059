"""``jobs dead`` and ``jobs retry``: outbound deliveries that gave up, read and queued on the database directly."""

from __future__ import annotations

import getpass
from typing import Annotated

import typer

from shiplane import clock
from shiplane.cli.common import ConfigOpt, direct_database, fail, out, settings_or_exit


def jobs_dead(
    kind: Annotated[str | None, typer.Option(help="Only jobs of this kind (e.g. notify, status:github, rollback_webhook).")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="At most this many, newest first.")] = 50,
    config: ConfigOpt = None,
) -> None:
    """List deliveries that gave up (a permanent error, or out of attempts), newest first."""
    from shiplane.jobs import queue

    db = direct_database(settings_or_exit(config))
    with db.read() as conn:
        rows = queue.dead(conn, kind=kind, limit=limit)
        total = queue.dead_count(conn, kind)
    if not rows:
        out.print("no dead jobs", markup=False)
        return
    for r in rows:
        error = (r["last_error"] or "").replace("\n", " ")
        out.print(f"#{r['id']:<7} {r['kind']:<20} {r['attempts']:>2} attempts  gave up {clock.iso(r['finished_at'])}  {error[:120]}",
                  markup=False, soft_wrap=True)
    if total > len(rows):
        out.print(f"({len(rows)} of {total} dead jobs shown)", markup=False)


def jobs_retry(
    ids: Annotated[list[int], typer.Argument(help="Ids from `shiplane jobs dead`.")],
    config: ConfigOpt = None,
) -> None:
    """Queue dead jobs again from scratch; the worker delivers them at its next tick. Recorded as `job_retried` events."""
    from shiplane.events import service as events
    from shiplane.jobs import queue

    db = direct_database(settings_or_exit(config))
    try:
        actor = f"cli:{getpass.getuser()}"  # who ran it, as the operating system knows them
    except (KeyError, OSError):  # no login name (a container without a passwd entry)
        actor = "cli"
    missing = []
    for job_id in dict.fromkeys(ids):  # each id once
        now = clock.now()
        with db.write() as conn:
            row = queue.retry(conn, job_id, now)
            if row is not None:
                events.record(conn, "job_retried", now, actor=actor, data={"job_id": job_id, "kind": row["kind"],
                                                                          "last_error": row["last_error"]})
        if row is None:
            missing.append(job_id)
        else:
            out.print(f"#{job_id} {row['kind']} queued again", markup=False)
    if missing:
        fail(f"not a dead job: {', '.join(f'#{i}' for i in missing)}", 2)
