from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from shiplane.schemas import UTC, Body, Slug


class HealthIn(Body):
    state: Literal["healthy", "ailing", "unhealthy", "incident"]
    note: Annotated[str, Field(max_length=1000)] = ""


class IncidentIn(Body):
    environment: Slug
    service: Slug | None = None
    key: Annotated[str, Field(min_length=1, max_length=200)]
    state: Literal["triggered", "resolved"]
    at: UTC | None = None
    title: Annotated[str, Field(max_length=500)] | None = None
    url: Annotated[str, Field(max_length=2000)] | None = None


class SampleIn(Body):
    metric: Annotated[str, Field(min_length=1, max_length=200)]
    environment: Slug
    service: Slug | None = None
    value: float = Field(allow_inf_nan=False)
    at: UTC | None = None


class SamplesIn(Body):
    samples: Annotated[list[SampleIn], Field(min_length=1, max_length=50_000)]
