"""When deploys may happen: windows, freezes and holidays."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import model_validator

from shiplane.settings.values import DAYS, HHMM, Day, Duration, Scoped, Section, TimeZoneName

# Blocker kinds a rollback may pass without an override: an ``unhealthy`` latest deploy, locks of
# kind ``auto`` (taken by the health judge), and a ``cooldown``. Manual locks, windows, freezes and
# holidays always need one.
RollbackPass = Literal["unhealthy", "auto", "cooldown"]


class GateConfig(Section):
    rollback_passes: list[RollbackPass] = ["unhealthy", "auto", "cooldown"]


class WindowConfig(Scoped):
    days: list[Day] = list(DAYS[:5])
    start: HHMM
    end: HHMM
    timezone: TimeZoneName = "UTC"

    @model_validator(mode="after")
    def _not_empty(self) -> WindowConfig:
        if self.start == self.end:
            raise ValueError(f"start and end are equal ({self.start!r}): the window would be empty")
        if not self.days:
            raise ValueError("days: at least one day is required")
        return self


class FreezeConfig(Scoped):
    start: datetime | None = None
    end: datetime | None = None
    cron: str = ""
    duration: Duration | None = None
    timezone: TimeZoneName = "UTC"
    reason: str = "Deploy freeze"

    @model_validator(mode="after")
    def _one_form(self) -> FreezeConfig:
        if self.cron:
            if self.start or self.end:
                raise ValueError("give either start/end or cron/duration, not both")
            if not self.duration:
                raise ValueError(f"cron {self.cron!r} needs a positive duration")
            from cronsim import CronSim, CronSimError

            try:
                CronSim(self.cron, datetime(2026, 1, 1))
            except CronSimError as exc:
                raise ValueError(f"bad cron expression {self.cron!r}: {exc}") from None
        else:
            if self.start is None or self.end is None:
                raise ValueError("a freeze needs start and end (or cron and duration)")
            if self.end <= self.start:
                raise ValueError(f"end {self.end.isoformat()!r} is not after start {self.start.isoformat()!r}")
        return self


class HolidayConfig(Scoped):
    country: str
    subdiv: str = ""
    eve: bool = False
    timezone: TimeZoneName = "UTC"

    @model_validator(mode="after")
    def _known(self) -> HolidayConfig:
        import holidays

        supported = holidays.list_supported_countries()
        if self.country not in supported:
            raise ValueError(f"unknown holiday country {self.country!r}")
        if self.subdiv and self.subdiv not in supported[self.country]:
            raise ValueError(f"unknown subdivision {self.subdiv!r} for country {self.country!r}")
        return self
