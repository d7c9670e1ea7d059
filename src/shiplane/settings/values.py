"""The value types every section uses: durations, times of day, slugs, time zones; and ConfigError."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

DEFAULT_DATABASE_URL = "sqlite:///./shiplane.db"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8700

_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)\s*$")
_DURATION_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_HHMM_RE = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$|^24:00$")
_SLUG_RE = r"^[a-z0-9][a-z0-9._-]{0,63}$"
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class ConfigError(Exception):
    """Raised with every problem found, each as ``(key, reason)``."""

    def __init__(self, path: str, problems: list[tuple[str, str]]) -> None:
        self.path = path
        self.problems = problems
        super().__init__("\n".join(self.lines()))

    def lines(self) -> list[str]:
        return [f"{self.path}: {key}: {reason}" for key, reason in self.problems]


# ---------------------------------------------------------------- value types


def parse_duration(value: Any) -> timedelta:
    """``"30s"``, ``"5m"``, ``"63h"``, ``"2d"`` or a number of seconds."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value)
    elif isinstance(value, str) and (m := _DURATION_RE.match(value)):
        seconds = float(m.group(1)) * _DURATION_UNITS[m.group(2)]
    elif isinstance(value, str) and value.upper().startswith("P"):
        from pydantic import TypeAdapter

        try:  # ISO 8601 ("PT1H"), which is also how these values serialise
            seconds = TypeAdapter(timedelta).validate_python(value).total_seconds()
        except ValidationError:
            raise ValueError(f"not a duration like '30s', '5m', '2h' or '1d': {value!r}") from None
    else:
        raise ValueError(f"not a duration like '30s', '5m', '2h' or '1d': {value!r}")
    if seconds < 0:
        raise ValueError(f"duration must not be negative: {value!r}")
    return timedelta(seconds=seconds)


def _check_timezone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown IANA time zone {value!r}") from None
    return value


def _check_hhmm(value: str) -> str:
    if not isinstance(value, str) or not _HHMM_RE.match(value):
        raise ValueError(f"not a time of day HH:MM: {value!r}")
    return value


def _check_day(value: str) -> str:
    day = value.lower()[:3] if isinstance(value, str) else value
    if day not in DAYS:
        raise ValueError(f"not a day of the week (mon..sun): {value!r}")
    return day


Duration = Annotated[timedelta, BeforeValidator(parse_duration)]
TimeZoneName = Annotated[str, AfterValidator(_check_timezone)]
HHMM = Annotated[str, AfterValidator(_check_hhmm)]
Day = Annotated[str, BeforeValidator(_check_day)]
Slug = Annotated[str, Field(pattern=_SLUG_RE)]


class Section(BaseModel):
    # Unknown keys are errors: a misspelt key silently ignored is a lock that never happens.
    model_config = ConfigDict(extra="forbid", frozen=True)


class Scoped(Section):
    """A section that applies to some environments and services (all when empty)."""

    environments: list[str] = []
    services: list[str] = []
