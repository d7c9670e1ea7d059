"""The gate: may service S deploy to environment E at time T? (pure)

Takes plain data (locks, the deploy in progress, the unhealthy latest deploy,
the scope's schedule) and instants; never reads the clock or the database.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import Any

from shiplane.clock import iso
from shiplane.locks.calendar import ScopedSchedule

# A latest deploy in one of these health states closes its scope's gate (an "unhealthy" blocker).
GATE_BLOCKING_HEALTH = ("unhealthy", "incident")
_HORIZON = timedelta(days=800)
_MAX_STEPS = 2000


@dataclass(frozen=True)
class LockInfo:
    id: int
    kind: str
    reason: str
    created_by: str
    created_at: datetime
    expires_at: datetime | None
    service: str | None
    starts_at: datetime | None = None  # None: since created_at

    def __post_init__(self) -> None:
        if self.starts_at is None:
            object.__setattr__(self, "starts_at", self.created_at)

    @property
    def start(self) -> datetime:
        return self.starts_at or self.created_at

    def active_at(self, t: datetime) -> bool:
        """A lock blocks in ``[start, expires_at)``."""
        return self.start <= t and (self.expires_at is None or self.expires_at > t)


_NEVER = datetime.max.replace(tzinfo=UTC)


class LockIndex:
    """The locks sorted by start and by end, so that "which are on at t" and "what changes next"
    cost a bisection each instead of a pass over every lock (a team may schedule 1,000 ahead).

    A lock is on at t when it has started (start <= t) and not ended (end > t); every ended lock
    has started, so exactly ``started(t) - ended(t)`` are on.
    """

    def __init__(self, locks: tuple[LockInfo, ...]) -> None:
        # (instant, position, lock) tuples sort in C; the position breaks ties and keeps the given order.
        self.starts = sorted(lock.starts_at for lock in locks)  # type: ignore[type-var]
        self.by_end = sorted((lock.expires_at or _NEVER, n, lock) for n, lock in enumerate(locks))
        self.ends = [entry[0] for entry in self.by_end]

    def on_at(self, t: datetime) -> list[LockInfo]:
        """The locks blocking at ``t``, in the order they were given."""
        started, ended = bisect.bisect_right(self.starts, t), bisect.bisect_right(self.ends, t)
        want = started - ended
        found: list[tuple[int, LockInfo]] = []
        i = ended
        # Among the locks not ended by t (by end), the ones that have started: usually the first few.
        while len(found) < want and i < len(self.by_end):
            _, n, lock = self.by_end[i]
            if lock.starts_at <= t:  # type: ignore[operator]
                found.append((n, lock))
            i += 1
        found.sort(key=lambda entry: entry[0])
        return [lock for _, lock in found]

    def any_on_at(self, t: datetime) -> bool:
        return bisect.bisect_right(self.starts, t) > bisect.bisect_right(self.ends, t)

    def next_edge(self, t: datetime) -> datetime | None:
        """The first start or end after ``t``."""
        i, j = bisect.bisect_right(self.starts, t), bisect.bisect_right(self.ends, t)
        edges = [self.starts[i]] if i < len(self.starts) else []
        if j < len(self.ends) and self.ends[j] != _NEVER:
            edges.append(self.ends[j])
        return min(edges, default=None)


@dataclass(frozen=True)
class DeployInfo:
    id: int
    sha: str
    since: datetime
    by: str | None
    reason: str = ""


@dataclass(frozen=True)
class Cooldown:
    """The environment's ``cooldown`` after the latest finished deploy of the service: ``[since, until)``."""

    deploy_id: int
    since: datetime
    until: datetime
    by: str | None = None

    def active_at(self, t: datetime) -> bool:
        return self.since <= t < self.until


@dataclass(frozen=True)
class Blocker:
    kind: str  # lock | window | freeze | holiday | in_progress | unhealthy | cooldown
    reason: str
    since: datetime | None = None
    until: datetime | None = None
    by: str | None = None
    lock_id: int | None = None
    deploy_id: int | None = None
    lock_kind: str | None = None  # manual | auto, for lock blockers

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "reason": self.reason,
            "since": iso(self.since),
            "until": iso(self.until),
            "by": self.by,
            "lock_id": self.lock_id,
            "deploy_id": self.deploy_id,
            "lock_kind": self.lock_kind,
        }


@dataclass(frozen=True)
class GateInputs:
    environment: str
    service: str | None
    schedule: ScopedSchedule
    locks: tuple[LockInfo, ...] = ()
    in_progress: DeployInfo | None = None
    unhealthy: DeployInfo | None = None
    cooldown: Cooldown | None = None

    @cached_property
    def lock_index(self) -> LockIndex:
        return LockIndex(self.locks)


@dataclass(frozen=True)
class Gate:
    environment: str
    service: str | None
    at: datetime
    allowed: bool
    blockers: tuple[Blocker, ...]
    next_change_at: datetime | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "environment": self.environment,
            "service": self.service,
            "at": iso(self.at),
            "allowed": self.allowed,
            "blockers": [b.to_dict() for b in self.blockers],
            "next_change_at": iso(self.next_change_at),
        }


def _lock_blocker(lock: LockInfo) -> Blocker:
    return Blocker("lock", lock.reason, lock.start, lock.expires_at, lock.created_by, lock_id=lock.id, lock_kind=lock.kind)


def _deploy_blockers(inputs: GateInputs) -> list[Blocker]:
    out = []
    if inputs.in_progress is not None:
        d = inputs.in_progress
        out.append(
            Blocker("in_progress", f"deploy #{d.id} ({d.sha[:12]}) is in progress", d.since, None, d.by, deploy_id=d.id)
        )
    if inputs.unhealthy is not None:
        d = inputs.unhealthy
        out.append(
            Blocker("unhealthy", d.reason or f"latest deploy #{d.id} is unhealthy", d.since, None, d.by, deploy_id=d.id)
        )
    return out


def blockers_at(inputs: GateInputs, now: datetime, at: datetime) -> list[Blocker]:
    """Deploys as of ``now``; locks (by their start and expiry) and schedules as of ``at`` (the what-if instant)."""
    out = [_lock_blocker(lock) for lock in inputs.lock_index.on_at(at)]
    out += _deploy_blockers(inputs)
    c = inputs.cooldown
    if c is not None and c.active_at(at):
        minutes = int((c.until - c.since).total_seconds() // 60)
        out.append(Blocker("cooldown", f"cooldown after deploy #{c.deploy_id} ({minutes} min)", c.since, c.until, c.by, deploy_id=c.deploy_id))
    out += [
        Blocker(i.kind, i.reason, i.start, i.end) for i in inputs.schedule.closed_by(at)
    ]
    return out


def _allowed_at(inputs: GateInputs, t: datetime) -> bool:
    if inputs.in_progress is not None or inputs.unhealthy is not None:
        return False
    if inputs.lock_index.any_on_at(t):
        return False
    if inputs.cooldown is not None and inputs.cooldown.active_at(t):
        return False
    return not inputs.schedule.closed_by(t)


def next_change(inputs: GateInputs, at: datetime, allowed: bool) -> datetime | None:
    """The earliest instant after ``at`` at which ``allowed`` flips by the passing of time alone.

    ``None`` when time alone cannot change the answer: a lock without expiry,
    a deploy in progress or an unhealthy deploy stay until someone acts.
    A scheduled lock's start is an edge like a schedule boundary.
    """
    if not allowed:
        if inputs.in_progress is not None or inputs.unhealthy is not None:
            return None
        if any(lock.expires_at is None for lock in inputs.lock_index.on_at(at)):
            return None
    t = at
    limit = at + _HORIZON
    for _ in range(_MAX_STEPS):
        lock_edge = inputs.lock_index.next_edge(t)
        candidates = [lock_edge] if lock_edge is not None else []
        if inputs.cooldown is not None and inputs.cooldown.until > t:
            candidates.append(inputs.cooldown.until)
        edge = inputs.schedule.next_boundary(t)
        if edge is not None:
            candidates.append(edge)
        if not candidates:
            return None
        t = min(candidates)
        if t > limit:
            return None
        if _allowed_at(inputs, t) != allowed:
            return t
    return None


def evaluate(inputs: GateInputs, now: datetime, at: datetime | None = None) -> Gate:
    at = at or now
    blockers = blockers_at(inputs, now, at)
    allowed = not blockers
    return Gate(
        environment=inputs.environment,
        service=inputs.service,
        at=at,
        allowed=allowed,
        blockers=tuple(blockers),
        next_change_at=next_change(inputs, at, allowed),
    )
