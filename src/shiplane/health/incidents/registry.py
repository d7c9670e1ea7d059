"""The incident hooks a configuration turns on: ``POST /hooks/<name>`` for each."""

from __future__ import annotations

from collections.abc import Callable

from shiplane.health.incidents.base import IncidentHook
from shiplane.health.incidents.opsgenie import Opsgenie
from shiplane.health.incidents.pagerduty import PagerDuty
from shiplane.settings import Config
from shiplane.settings.lookups import merge_gate_environment


def _pagerduty(config: Config) -> IncidentHook | None:
    section = config.incidents.pagerduty
    return PagerDuty(section, merge_gate_environment(config, section.environment or "")) if section else None


def _opsgenie(config: Config) -> IncidentHook | None:
    section = config.incidents.opsgenie
    return Opsgenie(section, merge_gate_environment(config, section.environment or "")) if section else None


# name → its hook under this configuration (None: not configured, 404)
HOOKS: dict[str, Callable[[Config], IncidentHook | None]] = {"pagerduty": _pagerduty, "opsgenie": _opsgenie}
