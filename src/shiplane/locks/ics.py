"""The schedule as an iCalendar feed (RFC 5545): one ``VEVENT`` per closed period (pure).

``closed_periods`` lists what closes a scope's gate in ``[now, now + days)``: time outside deploy
windows, freezes, holidays (and eves), and scheduled or active locks, each with its true start and
end (a period already under way keeps its real start). ``to_ical`` writes them with the
``icalendar`` package: ``DTSTART``/``DTEND`` in UTC, ``SUMMARY`` = "<Kind>: <reason>", and a
``UID`` that stays the same from one fetch to the next (a lock: its id, so an edited lock moves in
the user's calendar instead of appearing twice; a schedule period: its scope, rule and start).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from icalendar import Calendar, vText
from icalendar.parser import Contentline

from shiplane.locks.gate import GateInputs

MAX_DAYS = 400
DEFAULT_DAYS = 90
PRODID = "-//Shiplane//Deploy schedule//EN"


@dataclass(frozen=True)
class Period:
    kind: str  # lock | window | freeze | holiday
    reason: str
    start: datetime
    end: datetime
    uid: str
    by: str | None = None
    open_ended: bool = False  # a lock without expiry: shown until the end of the feed

    @property
    def summary(self) -> str:
        text = f"{self.kind.capitalize()}: {self.reason}"
        return f"{text} ({self.by})" if self.by else text


def _uid(*parts: str) -> str:
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:32] + "@shiplane"


def closed_periods(inputs: GateInputs, now: datetime, days: int) -> list[Period]:
    """What closes this scope's gate in ``[now, now + days)``, by start."""
    end = now + timedelta(days=days)
    scope = f"{inputs.environment}/{inputs.service or '*'}"
    out: list[Period] = []
    seen: set[tuple] = set()
    for i in inputs.schedule.intervals(now, end):
        key = (i.kind, i.reason, i.start, i.end)
        if i.end <= now or i.start >= end or key in seen:
            continue  # two rules closing the same period: one event (the first rule's)
        seen.add(key)
        out.append(Period(i.kind, i.reason, i.start, i.end, _uid(scope, i.kind, i.rule, i.start.isoformat())))
    for lock in inputs.locks:
        if (lock.expires_at is not None and lock.expires_at <= now) or lock.start >= end:
            continue
        out.append(
            Period(
                "lock",
                lock.reason,
                lock.start,
                lock.expires_at or end,
                f"lock-{lock.id}@shiplane",
                by=lock.created_by,
                open_ended=lock.expires_at is None,
            )
        )
    out.sort(key=lambda p: (p.start, p.end, p.uid))
    return out


def _utc(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def _line(name: str, value: str) -> str:
    """One content line: the value escaped as TEXT and, past 75 octets, the line folded, by icalendar."""
    line = f"{name}:{vText(value).to_ical().decode()}"
    return Contentline(line).to_ical().decode() if len(line.encode()) > 75 else line


def _event(p: Period, stamp: str) -> str:
    lines = [
        "BEGIN:VEVENT",
        _line("UID", p.uid),
        f"DTSTAMP:{stamp}",
        f"DTSTART:{_utc(p.start)}",
        f"DTEND:{_utc(p.end)}",
        _line("SUMMARY", p.summary),
        _line("CATEGORIES", p.kind),
    ]
    if p.open_ended:
        lines.append(_line("DESCRIPTION", "No end set: closed until someone ends the lock."))
    lines += ["TRANSP:OPAQUE", "END:VEVENT"]
    return "\r\n".join(lines)


def to_ical(periods: list[Period], name: str, now: datetime) -> bytes:
    """The feed. ``icalendar`` writes the calendar and escapes and folds every text value; the
    events' lines are joined here (its generic ``Event`` costs about a millisecond an event, and a
    400-day feed of a busy schedule has thousands). The result parses back with ``icalendar``."""
    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("x-wr-calname", name)
    head, _, tail = cal.to_ical().decode().rpartition("END:VCALENDAR")
    stamp = _utc(now)
    events = "".join(_event(p, stamp) + "\r\n" for p in periods)
    return (head + events + "END:VCALENDAR" + tail).encode()
