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


def span(seconds: float | None) -> str:
    """A length of time in two units at most: "2 h 10 min", "1 d 12 h", "5 min", "40 s"."""
    if seconds is None:
        return ""
    s = max(0, int(seconds))
    if s < 60:
        return f"{s} s"
    days, rest = divmod(s, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    if days:
        return f"{days} d {hours} h" if hours else f"{days} d"
    if hours:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    return f"{minutes} min"


def _aware(value: datetime | str) -> datetime:
    return parse_iso(value) if isinstance(value, str) else value


def until(value: datetime | str | None, now: datetime) -> str:
    """How far ``value`` is from ``now``: "in 1 d 12 h" or "3 min ago"."""
    if value is None:
        return ""
    delta = (_aware(value) - now).total_seconds()
    return f"in {span(delta)}" if delta >= 0 else f"{span(-delta)} ago"


def held(since: datetime | str | None, now: datetime) -> str:
    """How long something has been in place: "held 2 h 10 min"."""
    return "" if since is None else span((now - _aware(since)).total_seconds())


def span_to(start: datetime | str | None, end: datetime | str | None) -> str:
    return "" if start is None or end is None else span((_aware(end) - _aware(start)).total_seconds())


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
    env.filters.update(
        ago=ago, duration=duration, utc=utc, when=when, percent=percent, in_zone=in_zone, wall=wall, span=span, until=until, held=held, span_to=span_to
    )
    return env


def render(template: str, **context: Any) -> str:
    return environment().get_template(template).render(**context)
