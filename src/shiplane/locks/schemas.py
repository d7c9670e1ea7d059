from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any

from pydantic import Field, PlainValidator, WithJsonSchema

from shiplane.clock import parse_iso
from shiplane.schemas import Body, Reason, Slug, in_range
from shiplane.settings import parse_duration

_HHMM = re.compile(r"^\d{1,2}:\d{2}$")


def _when(value: Any) -> datetime | str:
    """An instant (aware, or naive = UTC); ``"HH:MM"``, the next such local time in the environment's
    ``timezone``; or a duration (``"4h"``) from the start (``starts_at``: from now). Resolved by
    ``locks.service.resolve``."""
    if isinstance(value, datetime):
        return in_range(value)
    if isinstance(value, str):
        if _HHMM.match(value):
            return value
        try:
            return in_range(parse_iso(value))
        except ValueError as exc:
            problem = str(exc)
        try:
            parse_duration(value)
        except ValueError:
            raise ValueError(f"not an ISO-8601 date-time, HH:MM or a duration like '4h': {value!r} ({problem})") from None
        return value
    raise ValueError("an ISO-8601 date-time, HH:MM or a duration like '4h'")


When = Annotated[
    datetime | str,
    PlainValidator(_when),
    WithJsonSchema({"type": "string", "description": "an ISO-8601 date-time, HH:MM in the environment's timezone, or a duration like '4h'"}),
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
