"""Which blockers a rollback passes without an override (pure).

A rollback fixes the bad deploy that closed the gate, so it must not need an override for the
blockers that deploy caused: an ``unhealthy`` latest deploy, the ``auto`` lock the health judge
took, and a ``cooldown``. ``[gate] rollback_passes`` lists these kinds (a lock blocker counts by
its ``lock_kind``); everything else (manual locks, windows, freezes, holidays) still needs one.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any


def pass_kind(blocker: Mapping[str, Any]) -> str:
    """The word ``rollback_passes`` uses for this blocker: its kind, or ``manual``/``auto`` for a lock."""
    if blocker["kind"] == "lock":
        return blocker.get("lock_kind") or "manual"
    return blocker["kind"]


def passes(blockers: Sequence[Mapping[str, Any]], rollback_passes: Collection[str]) -> bool:
    """True when a rollback may go through every one of ``blockers`` (there is at least one)."""
    return bool(blockers) and all(pass_kind(b) in rollback_passes for b in blockers)
