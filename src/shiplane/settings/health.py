"""How deploys are judged: metric sources, metrics, HTTP checks and the health section."""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from pydantic import Field, SecretStr, model_validator

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


class HealthConfig(Section):
    baseline: Duration = timedelta(minutes=60)
    window: Duration = timedelta(minutes=60)
    interval: Duration = timedelta(minutes=5)
    auto_lock: Literal["never", "ailing", "unhealthy"] = "unhealthy"
    history_days: int = Field(7, ge=0, le=28)  # also compare with the same window on each of these earlier days
    rollback_webhook: str = ""
    rollback_secret: SecretStr | None = None
