"""One Jinja2 environment for every page. Autoescape is on: every user string is escaped."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

from shiplane.clock import parse_iso
from shiplane.text import visible_bidi

TEMPLATES = Path(__file__).parent / "templates"


def ago(seconds: float | None) -> str:
    if seconds is None:
        return ""
    s = int(seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if s >= size:
            return f"{s // size} {unit} ago"
    return "just now" if s < 10 else f"{s} s ago"


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    s = float(seconds)
    if s >= 86400:
        return f"{s / 86400:.1f} d"
    if s >= 3600:
        return f"{s / 3600:.1f} h"
    if s >= 60:
        return f"{s / 60:.0f} min"
    return f"{s:.0f} s"


def utc(value: datetime | str | None) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        value = parse_iso(value)
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def when(value: datetime | str | None) -> Markup:
    """A <time> that the page's script shows in the viewer's local time (UTC without script)."""
    if value is None:
        return Markup("")
    if isinstance(value, datetime):
        value = value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return Markup('<time datetime="{}" data-local>{}</time>').format(value, utc(value))


def in_zone(value: datetime | str | None, zone: str | None) -> str:
    """The instant as wall-clock time in a named zone (a window's), e.g. "Mon 09:00 Europe/Berlin"."""
    if value is None or not zone:
        return ""
    if isinstance(value, str):
        value = parse_iso(value)
    return value.astimezone(ZoneInfo(zone)).strftime("%a %H:%M ") + zone


def wall(value: datetime | str | None, zone: str | None) -> str:
    """The instant as a ``datetime-local`` value in a named zone (the lock forms' times)."""
    if value is None:
        return ""
    if isinstance(value, str):
        value = parse_iso(value)
    return value.astimezone(ZoneInfo(zone or "UTC")).strftime("%Y-%m-%dT%H:%M")


def percent(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:.0f}%"


def _finalize(value: Any) -> Any:
    """Every ``{{ }}`` output: bidi controls in text become visible (markup we built is left alone)."""
    return visible_bidi(value) if type(value) is str else value


@lru_cache(maxsize=1)
def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html", "svg"], default=True),
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,
        finalize=_finalize,
    )
    env.filters.update(ago=ago, duration=duration, utc=utc, when=when, percent=percent, in_zone=in_zone, wall=wall)
    return env


def render(template: str, **context: Any) -> str:
    return environment().get_template(template).render(**context)
