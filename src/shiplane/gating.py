"""Where deploy intake asks the gate (locks, schedules, an unhealthy latest deploy)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.engine import Connection

from shiplane.context import AppContext
from shiplane.deploys.service import BlockerCheck
from shiplane.locks import gate, inputs


def blocker_check_for(ctx: AppContext) -> BlockerCheck:
    schedule = ctx.schedule

    def check(conn: Connection, svc: Any, env: Any, now: datetime, latest: Any) -> list[dict[str, Any]]:
        # Read inside the registering transaction, never from the gate cache:
        # enforcement must see a lock committed a millisecond ago. In-progress
        # deploys are the deploy service's own 409, checked before this.
        gate_inputs = inputs.for_intake(conn, schedule, env, svc, latest)
        return [b.to_dict() for b in gate.blockers_at(gate_inputs, now, now)]

    return check


def intake_options(ctx: AppContext) -> dict[str, Any]:
    """The keyword arguments every way in (API, Sleuth, webhooks) passes to deploys.register.

    Built once per process: the config never changes while it runs, and this sits on
    the registration hot path.
    """
    if ctx.intake is None:
        ctx.intake = _intake_options(ctx)
    return ctx.intake


def _intake_options(ctx: AppContext) -> dict[str, Any]:
    from functools import lru_cache

    from shiplane.changes.service import tracked
    from shiplane.health.lifecycle import metrics_for

    config = ctx.settings.config

    @lru_cache(maxsize=4096)
    def judged(environment: str, service: str) -> bool:
        return bool(metrics_for(config, environment, service))

    return {
        "judged": judged,
        "auto_create": config.server.auto_create,
        "cache": ctx.catalog,
        "blocker_check": blocker_check_for(ctx),
        "tracked": tracked(config),
        "issue_pattern": config.changes.issue_pattern,
    }
