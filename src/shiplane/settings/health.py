"""How deploys are judged: metric sources, metrics, HTTP checks and the health section."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Literal

import jmespath
from jmespath.exceptions import JMESPathError
from pydantic import ConfigDict, Field, SecretStr, ValidationInfo, field_validator, model_validator

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


class CloudWatchConfig(Section):
    region: str = Field(pattern=r"^[a-z]{2,}(-[a-z]+)+-\d+$")  # us-east-1, eusc-de-east-1
    endpoint_url: str = ""  # an AWS-compatible endpoint (tests, LocalStack); empty: the region's own


NEWRELIC_US = "https://api.newrelic.com/graphql"


class NewRelicConfig(Section):
    account_id: int = Field(gt=0)
    api_key: SecretStr
    url: str = NEWRELIC_US


class JsonSourceConfig(Section):
    headers: dict[str, SecretStr] = {}  # sent with every json metric's request (a metric's own win)


class SourcesConfig(Section):
    # "json" is the key in the file (and in dumps, so that a dump reads back); BaseModel has a json() of its own
    model_config = ConfigDict(extra="forbid", frozen=True, serialize_by_alias=True)

    prometheus: PrometheusConfig | None = None
    sentry: SentryConfig | None = None
    datadog: DatadogConfig | None = None
    signalfx: SignalFxConfig | None = None
    cloudwatch: CloudWatchConfig | None = None
    newrelic: NewRelicConfig | None = None
    json_: JsonSourceConfig | None = Field(None, alias="json")


Regression = Literal["increase", "decrease", "any"]


URL_FIELDS = ("service", "environment", "start", "end", "step")
_FIELD_RE = re.compile(r"\{([^{}]*)\}")
_NRQL_ADDED = re.compile(r"\b(SINCE|UNTIL|TIMESERIES)\b", re.IGNORECASE)


class MetricConfig(Scoped):
    name: str = Field(min_length=1)
    source: Literal["prometheus", "sentry", "datadog", "signalfx", "cloudwatch", "newrelic", "json", "http_check", "push"]
    query: str = ""
    url: str = ""  # source = "json": the URL template
    jmespath: str = ""  # source = "json": where [[t, v], ...] is in the answer
    headers: dict[str, SecretStr] = {}  # source = "json": sent with the request
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

    @field_validator("url")
    @classmethod
    def _url_fields(cls, url: str) -> str:
        unknown = sorted({f for f in _FIELD_RE.findall(url) if f not in URL_FIELDS})
        if unknown:
            allowed = ", ".join("{" + f + "}" for f in URL_FIELDS)
            raise ValueError(f"unknown template fields {unknown}; a url may use {allowed}")
        return url

    @field_validator("jmespath")
    @classmethod
    def _jmespath_parses(cls, expression: str) -> str:
        if expression:
            try:
                jmespath.compile(expression)
            except JMESPathError as exc:
                raise ValueError(f"not a JMESPath expression: {exc}") from None
        return expression

    @field_validator("query")
    @classmethod
    def _nrql_without_range(cls, query: str, info: ValidationInfo) -> str:
        if info.data.get("source") == "newrelic" and (m := _NRQL_ADDED.search(query)):
            raise ValueError(f"an NRQL query here has no {m.group(1).upper()}: Shiplane adds SINCE, UNTIL and TIMESERIES")
        return query

    @model_validator(mode="after")
    def _source_keys(self) -> MetricConfig:
        if self.source != "json":
            given = [k for k in ("url", "jmespath", "headers") if getattr(self, k)]
            if given:
                raise ValueError(f"{', '.join(given)} only apply to source = \"json\" (this metric's source is {self.source!r})")
        elif not self.url or not self.jmespath:
            raise ValueError('source = "json" needs url (a URL template) and jmespath (where [[t, v], ...] is in the answer)')
        elif self.query:
            raise ValueError('query is not used by source = "json": the request is the url template')
        if self.source in ("cloudwatch", "newrelic") and not self.query.strip():
            raise ValueError(f"source = {self.source!r} needs a query")
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
