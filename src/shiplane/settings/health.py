"""How deploys are judged: metric sources, metrics, HTTP checks and the health section."""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from pydantic import Field, SecretStr, ValidationInfo, field_validator, model_validator

from shiplane.settings.values import Duration, Scoped, Section


class PrometheusConfig(Section):
    url: str


class SentryConfig(Section):
    url: str = "https://sentry.io"
    organization: str
    token: SecretStr | None = None


class DatadogConfig(Section):
    site: str = "datadoghq.com"
    api_key: SecretStr
    app_key: SecretStr


class SignalFxConfig(Section):
    realm: str = "us1"
    token: SecretStr


class SourcesConfig(Section):
    prometheus: PrometheusConfig | None = None
    sentry: SentryConfig | None = None
    datadog: DatadogConfig | None = None
    signalfx: SignalFxConfig | None = None


Regression = Literal["increase", "decrease", "any"]


class MetricConfig(Scoped):
    name: str = Field(min_length=1)
    source: Literal["prometheus", "sentry", "datadog", "signalfx", "http_check", "push"]
    query: str = ""
    regression: Regression = "increase"
    critical: bool = False
    ailing_ratio: float = Field(1.2, ge=1.0)
    unhealthy_ratio: float = Field(1.5, ge=1.0)
    unit: str = Field("", max_length=20)  # labels charts and reasons: "ms", "%", "req/s"

    @model_validator(mode="after")
    def _ratios(self) -> MetricConfig:
        if self.unhealthy_ratio < self.ailing_ratio:
            raise ValueError(
                f"unhealthy_ratio {self.unhealthy_ratio!r} is below ailing_ratio {self.ailing_ratio!r}"
            )
        return self


class CheckConfig(Scoped):
    name: str = Field(min_length=1)
    url: str
    interval: Duration = timedelta(seconds=30)
    timeout: Duration = timedelta(seconds=10)
    expect_status: int = Field(200, ge=100, le=599)

    @model_validator(mode="after")
    def _durations(self) -> CheckConfig:
        # 0s would make the worker probe in a busy loop; a zero timeout can never succeed.
        if self.interval < timedelta(seconds=1):
            raise ValueError(f"interval {self.interval.total_seconds():g}s is below 1s")
        if self.timeout <= timedelta(0):
            raise ValueError("timeout must be more than 0s")
        return self


MIN_STEP = timedelta(seconds=10)
MIN_POINTS = 8  # the judge's first look (shiplane.health.sequential.FIRST_LOOK): a window holds at least that many steps


class HealthConfig(Section):
    baseline: Duration = timedelta(minutes=60)
    window: Duration = timedelta(minutes=60)
    step: Duration = timedelta(minutes=1)  # spacing of the points fetched and judged
    interval: Duration = timedelta(minutes=1)  # how often to look; defaults to step
    auto_lock: Literal["never", "ailing", "unhealthy"] = "unhealthy"
    auto_lock_scope: Literal["environment", "service"] = "environment"  # what an automatic lock covers
    history_days: int = Field(7, ge=0, le=28)  # also compare with the same window on each of these earlier days
    rollback_webhook: str = ""
    rollback_secret: SecretStr | None = None

    @model_validator(mode="before")
    @classmethod
    def _interval_defaults_to_step(cls, data: object) -> object:
        if isinstance(data, dict) and "interval" not in data:
            return {**data, "interval": data.get("step", "1m")}
        return data

    @field_validator("step")
    @classmethod
    def _step(cls, step: timedelta, info: ValidationInfo) -> timedelta:
        if step < MIN_STEP:
            raise ValueError(f"step {step.total_seconds():g}s is below {MIN_STEP.total_seconds():g}s")
        window = info.data.get("window")
        if window is not None and step * MIN_POINTS > window:
            raise ValueError(
                f"step {step.total_seconds():g}s is above window / {MIN_POINTS} ({window.total_seconds() / MIN_POINTS:g}s): "
                f"the judge needs {MIN_POINTS} points after a deploy"
            )
        return step

    @field_validator("interval")
    @classmethod
    def _interval(cls, interval: timedelta) -> timedelta:
        # 0s would make the worker judge in a busy loop
        if interval < timedelta(seconds=1):
            raise ValueError(f"interval {interval.total_seconds():g}s is below 1s")
        return interval
