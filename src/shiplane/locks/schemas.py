from __future__ import annotations

from pydantic import Field

from shiplane.schemas import UTC, Body, Reason, Slug


class LockIn(Body):
    environment: Slug
    service: Slug | None = Field(None, description="omit to lock every service in the environment")
    reason: Reason
    starts_at: UTC | None = Field(None, description="a future instant: the lock is scheduled until then (omit: now)")
    expires_at: UTC | None = Field(None, description="must be in the future and after starts_at")


class LockPatch(Body):
    """Only the fields sent change; ``expires_at: null`` removes the expiry."""

    reason: Reason | None = None
    starts_at: UTC | None = Field(None, description="only while the lock is scheduled")
    expires_at: UTC | None = Field(None, description="set, extend or shorten; null for no expiry")
