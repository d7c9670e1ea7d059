"""Deploy status lifecycle as an explicit table (pure).

    started ──► succeeded ──► rolled_back
       │
       ├──────► failed
       └──────► cancelled

A deploy may also be registered directly as ``succeeded`` or ``failed``.
"""

from __future__ import annotations

from shiplane.errors import InvalidTransition

TRANSITIONS: dict[str, frozenset[str]] = {
    "started": frozenset({"succeeded", "failed", "cancelled"}),
    "succeeded": frozenset({"rolled_back"}),
    "failed": frozenset(),
    "cancelled": frozenset(),
    "rolled_back": frozenset(),
}


def can_transition(current: str, new: str) -> bool:
    return new in TRANSITIONS.get(current, frozenset())


def check_transition(current: str, new: str) -> None:
    """Raise ``InvalidTransition`` unless ``current → new`` is in the table.

    Asking for the status a deploy already has is not a transition; callers
    treat it as a no-op before asking.
    """
    if not can_transition(current, new):
        allowed = sorted(TRANSITIONS.get(current, ()))
        raise InvalidTransition(
            f"a {current} deploy cannot become {new}"
            + (f" (allowed: {', '.join(allowed)})" if allowed else " (it is final)"),
            current=current,
            requested=new,
        )
