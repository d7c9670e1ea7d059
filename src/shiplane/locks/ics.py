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
from datetime import datetime, timedelta

from icalendar import Calendar, Event

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
    out = [
        Period(i.kind, i.reason, i.start, i.end, _uid(scope, i.kind, i.rule, i.start.isoformat()))
        for i in inputs.schedule.intervals(now, end)
        if i.end > now and i.start < end
    ]
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


def to_ical(periods: list[Period], name: str, now: datetime) -> bytes:
    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("x-wr-calname", name)
    for p in periods:
        event = Event()
        event.add("uid", p.uid)
        event.add("dtstamp", now)
        event.add("dtstart", p.start)
        event.add("dtend", p.end)
        event.add("summary", p.summary)
        event.add("categories", [p.kind])
        if p.open_ended:
            event.add("description", "No end set: closed until someone ends the lock.")
        event.add("transp", "OPAQUE")
        cal.add_component(event)
    return cal.to_ical()
