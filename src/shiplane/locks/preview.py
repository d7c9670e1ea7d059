"""What a schedule change closes: the closed periods one configuration adds or removes (pure).

``diff`` compares two compiled schedules over ``[now, now + days)``, per environment, and per
service for the services that some rule names (a rule with ``services = [...]`` closes only
those services' gates). A period is the same in both when its kind, reason, start and end are.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from shiplane.locks.calendar import Schedule, compile_schedule
from shiplane.settings import Config


@dataclass(frozen=True, order=True)
class Change:
    scope: str  # "production", or "production/web" for a service-only rule
    start: datetime
    end: datetime
    change: str  # added | removed
    kind: str  # window | freeze | holiday
    reason: str


def scopes(*configs: Config, environment: str | None = None) -> list[tuple[str, str | None]]:
    """Each environment named in the configurations (or ``environment``), and the services rules name."""
    envs: set[str] = set()
    services: set[str] = set()
    for config in configs:
        envs |= {e.slug for e in config.environments}
        for rule in (*config.windows, *config.freezes, *config.holidays):
            envs |= set(rule.environments)
            services |= set(rule.services)
    if environment is not None:
        envs = {environment}
    if not envs:
        envs = {"production"}  # rules that name no environment apply to every one: show the default
    return [(env, svc) for env in sorted(envs) for svc in (None, *sorted(services))]


def _periods(schedule: Schedule, environment: str, service: str | None, start: datetime, end: datetime) -> set[tuple]:
    return {
        (i.kind, i.reason, i.start, i.end)
        for i in schedule.for_scope(environment, service).intervals(start, end)
        if i.end > start and i.start < end
    }


def diff(old: Config, new: Config, now: datetime, days: int, environment: str | None = None) -> list[Change]:
    end = now + timedelta(days=days)
    before, after = compile_schedule(old), compile_schedule(new)
    out: list[Change] = []
    for env, svc in scopes(old, new, environment=environment):
        was, will = _periods(before, env, svc, now, end), _periods(after, env, svc, now, end)
        if svc is not None:  # a service row only for what differs from its environment's
            was -= _periods(before, env, None, now, end)
            will -= _periods(after, env, None, now, end)
        name = f"{env}/{svc}" if svc else env
        out += [Change(name, s, e, "added", k, r) for k, r, s, e in will - was]
        out += [Change(name, s, e, "removed", k, r) for k, r, s, e in was - will]
    return sorted(out)
