from __future__ import annotations

from pydantic import Field

from shiplane.schemas import UTC, Body, Reason, Slug


class LockIn(Body):
    environment: Slug
    service: Slug | None = Field(None, description="omit to lock every service in the environment")
    reason: Reason
    expires_at: UTC | None = Field(None, description="must be in the future")
