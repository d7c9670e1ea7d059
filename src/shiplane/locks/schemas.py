from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any

from pydantic import Field, PlainValidator, WithJsonSchema

from shiplane.clock import parse_iso
from shiplane.schemas import Body, Reason, Slug, in_range

_HHMM = re.compile(r"^\d{1,2}:\d{2}$")


def _when(value: Any) -> datetime | str:
    """An instant (aware, or naive = UTC), or ``"HH:MM"``: the next such local time in the environment's ``timezone``."""
    if isinstance(value, datetime):
        return in_range(value)
    if isinstance(value, str):
        if _HHMM.match(value):
            return value  # resolved against the environment's zone by locks.service.resolve
        try:
            return in_range(parse_iso(value))
        except ValueError as exc:
            raise ValueError(f"not an ISO-8601 date-time or HH:MM: {value!r} ({exc})") from None
    raise ValueError("an ISO-8601 date-time or HH:MM string")


When = Annotated[
    datetime | str,
    PlainValidator(_when),
    WithJsonSchema({"anyOf": [{"type": "string", "format": "date-time"}, {"type": "string", "pattern": "^\\d{1,2}:\\d{2}$"}]}),
]


class LockIn(Body):
    environment: Slug
    service: Slug | None = Field(None, description="omit to lock every service in the environment")
    reason: Reason
    starts_at: When | None = Field(
        None, description="a future instant, or HH:MM in the environment's timezone: the lock is scheduled until then (omit: now)"
    )
    expires_at: When | None = Field(None, description="an instant or HH:MM, in the future and after starts_at")


class LockPatch(Body):
    """Only the fields sent change; ``expires_at: null`` removes the expiry."""

    reason: Reason | None = None
    starts_at: When | None = Field(None, description="an instant or HH:MM; only while the lock is scheduled")
    expires_at: When | None = Field(None, description="an instant or HH:MM: set, extend or shorten; null for no expiry")
