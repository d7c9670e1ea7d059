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


MAX_METRICS = 1000
MAX_POINTS = 250_000


MAX_HISTORY = 28  # windows per metric: health.history_days allows up to 28 days

# null is a missing point (dropped, like NaN from a source); NaN and infinities are refused
Points = Annotated[list[Annotated[float, Field(allow_inf_nan=False)] | None], Field(max_length=MAX_POINTS)]


class JudgeMetricIn(Body):
    name: Annotated[str, Field(min_length=1, max_length=200)]
    regression: Literal["increase", "decrease", "any"] = "increase"
    baseline: Points
    current: Points  # in time order: the judge reads it point by point
    # the same window on earlier days, each aligned with the current's start; lengths may differ
    history: Annotated[list[Points], Field(max_length=MAX_HISTORY)] = []
    step: Annotated[float, Field(gt=0, le=86400, allow_inf_nan=False)] | None = None  # seconds between points
    critical: bool = False
    ailing_ratio: float = Field(1.2, ge=1.0, le=1e6)
    unhealthy_ratio: float = Field(1.5, ge=1.0, le=1e6)


class JudgeIn(Body):
    metrics: Annotated[list[JudgeMetricIn], Field(min_length=1, max_length=MAX_METRICS)]
