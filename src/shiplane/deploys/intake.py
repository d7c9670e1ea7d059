"""How deploys come in: the options every way in (API, Sleuth, webhooks) registers with.

``Intake`` is plain data; ``intake_for`` builds it once per process from the
configuration and wires the gate in as the blocker check.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy.engine import Connection

from shiplane.catalog.service import Cache
from shiplane.changes.parse import DEFAULT_ISSUE_PATTERN
from shiplane.context import AppContext
from shiplane.locks import gate, inputs
from shiplane.settings.lookups import metrics_for, tracked

# (conn, service_ref, environment_ref, now, latest counted deploy row or None, latest deploy row or None)
#   -> blockers (dicts as in the gate API)
BlockerCheck = Callable[[Connection, Any, Any, datetime, Any, Any], Sequence[dict[str, Any]]]


@dataclass(frozen=True)
class Intake:
    auto_create: bool = True
    cache: Cache | None = None
    blocker_check: BlockerCheck | None = None  # None: the gate is not asked (tests, backfills)
    tracked: frozenset[str] = frozenset()  # services whose changes the worker works out
    issue_pattern: str = DEFAULT_ISSUE_PATTERN
    judged: Callable[[str, str], bool] | None = None  # (environment, service) -> has metrics to judge
    rollback_passes: frozenset[str] = frozenset()  # [gate] rollback_passes: blocker kinds a rollback goes through
    cooled: frozenset[str] = frozenset()  # environments with a cooldown: a finished deploy closes their gate


def blocker_check_for(ctx: AppContext) -> BlockerCheck:
    schedule = ctx.schedule

    def check(conn: Connection, svc: Any, env: Any, now: datetime, live: Any, latest: Any) -> list[dict[str, Any]]:
        # Read inside the registering transaction, never from the gate cache:
        # enforcement must see a lock committed a millisecond ago. In-progress
        # deploys are the deploy service's own 409, checked before this.
        gate_inputs = inputs.for_intake(conn, schedule, env, svc, live, latest)
        return [b.to_dict() for b in gate.blockers_at(gate_inputs, now, now)]

    return check


def intake_for(ctx: AppContext) -> Intake:
    """Built once per process: the config never changes while it runs, and this sits on the hot path."""
    if ctx.intake is None:
        config = ctx.settings.config

        @lru_cache(maxsize=4096)
        def judged(environment: str, service: str) -> bool:
            return bool(metrics_for(config, environment, service))

        ctx.intake = Intake(
            auto_create=config.server.auto_create,
            cache=ctx.catalog,
            blocker_check=blocker_check_for(ctx),
            tracked=tracked(config),
            issue_pattern=config.changes.issue_pattern,
            judged=judged,
            rollback_passes=frozenset(config.gate.rollback_passes),
            cooled=frozenset(e.slug for e in config.environments if e.cooldown is not None),
        )
    return ctx.intake
