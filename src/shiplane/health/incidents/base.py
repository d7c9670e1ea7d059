"""What every incident webhook provides, and the plain data it speaks.

A hook authenticates a delivery over its exact bytes, then reads it into
``IncidentReport``s (pure: no clock, no database). Recording is
``health.service.report_incident``, the same as the API, so a delivery that
PagerDuty or Opsgenie retries records nothing twice.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol

KEY_CHARS = 200  # incidents.key
TITLE_CHARS = 500  # incidents.title
URL_CHARS = 2000  # incidents.url


@dataclass(frozen=True)
class IncidentReport:
    """One incident state, as ``POST /api/v1/incidents`` takes it."""

    key: str
    state: Literal["triggered", "resolved"]
    service: str | None
    at: datetime | None  # None: when it is received
    title: str | None = None
    url: str | None = None


@dataclass(frozen=True)
class Reading:
    """What a delivery says: reports to record, or why it is ignored."""

    reports: tuple[IncidentReport, ...] = ()
    ignored: str | None = None


class Unreadable(ValueError):
    """Authenticated, but not a payload Shiplane can record; ``field`` names what is wrong."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


class IncidentHook(Protocol):
    name: str
    environment: str  # where its incidents are recorded

    def authenticate(self, headers: Mapping[str, str], body: bytes) -> bool: ...

    def read(self, payload: Any) -> Reading: ...


def field(payload: Any, path: str) -> Any:
    """``payload["a"]["b"]`` for ``"a.b"``; None when a step is missing or not an object."""
    value = payload
    for step in path.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(step)
    return value


def text(payload: Any, path: str, limit: int, *, required: bool = False) -> str | None:
    value = field(payload, path)
    if value is None or value == "":
        if required:
            raise Unreadable(path, "is missing")
        return None
    if not isinstance(value, str):
        raise Unreadable(path, f"must be a string, not {type(value).__name__}")
    if required and len(value) > limit:
        raise Unreadable(path, f"is longer than {limit} characters")
    return value[:limit]


def key_of(value: str) -> str:
    """An incident key that fits ``incidents.key``: a longer one (an Opsgenie alias may have 512
    characters) keeps its start and gains a digest of the whole, so two never merge."""
    if len(value) <= KEY_CHARS:
        return value
    return value[: KEY_CHARS - 17] + "~" + hashlib.sha256(value.encode()).hexdigest()[:16]
