"""Configuration: one TOML file plus ``SHIPLANE_*`` environment variables.

The models below are the single source of truth for what can be configured;
``docs/configuration.md`` is checked against them by a test. Every section of
SPEC §3 is parsed here even when the feature that uses it lands later, so the
schema stays whole and a typo is caught at start rather than ignored.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

DEFAULT_DATABASE_URL = "sqlite:///./shiplane.db"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8700

_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)\s*$")
_DURATION_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_HHMM_RE = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$|^24:00$")
_SLUG_RE = r"^[a-z0-9][a-z0-9._-]{0,63}$"
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class ConfigError(Exception):
    """Raised with every problem found, each as ``(key, reason)``."""

    def __init__(self, path: str, problems: list[tuple[str, str]]) -> None:
        self.path = path
        self.problems = problems
        super().__init__("\n".join(self.lines()))

    def lines(self) -> list[str]:
        return [f"{self.path}: {key}: {reason}" for key, reason in self.problems]


# ---------------------------------------------------------------- value types


def parse_duration(value: Any) -> timedelta:
    """``"30s"``, ``"5m"``, ``"63h"``, ``"2d"`` or a number of seconds."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value)
    elif isinstance(value, str) and (m := _DURATION_RE.match(value)):
        seconds = float(m.group(1)) * _DURATION_UNITS[m.group(2)]
    elif isinstance(value, str) and value.upper().startswith("P"):
        from pydantic import TypeAdapter

        try:  # ISO 8601 ("PT1H"), which is also how these values serialise
            seconds = TypeAdapter(timedelta).validate_python(value).total_seconds()
        except ValidationError:
            raise ValueError(f"not a duration like '30s', '5m', '2h' or '1d': {value!r}") from None
    else:
        raise ValueError(f"not a duration like '30s', '5m', '2h' or '1d': {value!r}")
    if seconds < 0:
        raise ValueError(f"duration must not be negative: {value!r}")
    return timedelta(seconds=seconds)


def _check_timezone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown IANA time zone {value!r}") from None
    return value


def _check_hhmm(value: str) -> str:
    if not isinstance(value, str) or not _HHMM_RE.match(value):
        raise ValueError(f"not a time of day HH:MM: {value!r}")
    return value


def _check_day(value: str) -> str:
    day = value.lower()[:3] if isinstance(value, str) else value
    if day not in DAYS:
        raise ValueError(f"not a day of the week (mon..sun): {value!r}")
    return day


Duration = Annotated[timedelta, BeforeValidator(parse_duration)]
TimeZoneName = Annotated[str, AfterValidator(_check_timezone)]
HHMM = Annotated[str, AfterValidator(_check_hhmm)]
Day = Annotated[str, BeforeValidator(_check_day)]
Slug = Annotated[str, Field(pattern=_SLUG_RE)]


class Section(BaseModel):
    # Unknown keys are errors: a misspelt key silently ignored is a lock that never happens.
    model_config = ConfigDict(extra="forbid", frozen=True)


# ---------------------------------------------------------------- sections


class ServerConfig(Section):
    public_url: str = ""
    auto_create: bool = True
    public_dashboard: bool = False


class DatabaseConfig(Section):
    url: str = ""


class EnvironmentConfig(Section):
    slug: Slug
    name: str = ""
    production: bool | None = None
    position: int | None = None  # lane order on the dashboard; default staging-like first, production last


class ServiceConfig(Section):
    slug: Slug
    name: str = ""
    repo: str = ""
    branch: str = "main"
    paths: list[str] = []
    merge_gate: str = ""
    status_context: str = "shiplane"
    git_remote: str = ""  # remote of the local bare mirror used for change tracking

    @field_validator("repo")
    @classmethod
    def _repo(cls, value: str) -> str:
        if value and not re.match(r"^(github|bitbucket|gitlab):[\w.-]+(/[\w.-]+)+$", value):
            raise ValueError(
                f"expected 'github:owner/name', 'bitbucket:workspace/slug' or 'gitlab:group/project': {value!r}"
            )
        return value


class _Scoped(Section):
    environments: list[str] = []
    services: list[str] = []


class WindowConfig(_Scoped):
    days: list[Day] = list(DAYS[:5])
    start: HHMM
    end: HHMM
    timezone: TimeZoneName = "UTC"

    @model_validator(mode="after")
    def _not_empty(self) -> WindowConfig:
        if self.start == self.end:
            raise ValueError(f"start and end are equal ({self.start!r}): the window would be empty")
        if not self.days:
            raise ValueError("days: at least one day is required")
        return self


class FreezeConfig(_Scoped):
    start: datetime | None = None
    end: datetime | None = None
    cron: str = ""
    duration: Duration | None = None
    timezone: TimeZoneName = "UTC"
    reason: str = "Deploy freeze"

    @model_validator(mode="after")
    def _one_form(self) -> FreezeConfig:
        if self.cron:
            if self.start or self.end:
                raise ValueError("give either start/end or cron/duration, not both")
            if not self.duration:
                raise ValueError(f"cron {self.cron!r} needs a positive duration")
            from cronsim import CronSim, CronSimError

            try:
                CronSim(self.cron, datetime(2026, 1, 1))
            except CronSimError as exc:
                raise ValueError(f"bad cron expression {self.cron!r}: {exc}") from None
        else:
            if self.start is None or self.end is None:
                raise ValueError("a freeze needs start and end (or cron and duration)")
            if self.end <= self.start:
                raise ValueError(f"end {self.end.isoformat()!r} is not after start {self.start.isoformat()!r}")
        return self


class HolidayConfig(_Scoped):
    country: str
    subdiv: str = ""
    eve: bool = False
    timezone: TimeZoneName = "UTC"

    @model_validator(mode="after")
    def _known(self) -> HolidayConfig:
        import holidays

        supported = holidays.list_supported_countries()
        if self.country not in supported:
            raise ValueError(f"unknown holiday country {self.country!r}")
        if self.subdiv and self.subdiv not in supported[self.country]:
            raise ValueError(f"unknown subdivision {self.subdiv!r} for country {self.country!r}")
        return self


BlockedState = Literal["pending", "failure"]


class GitHubConfig(Section):
    api_url: str = "https://api.github.com"
    token: SecretStr | None = None
    webhook_secret: SecretStr | None = None
    blocked_state: BlockedState = "pending"
    writes_per_minute: int = Field(80, ge=0)
    writes_per_hour: int = Field(500, ge=0)
    app_id: int | None = None
    private_key: SecretStr | None = None
    installation_id: int | None = None


class BitbucketConfig(Section):
    api_url: str = "https://api.bitbucket.org"
    email: str = ""
    api_token: SecretStr | None = None
    token: SecretStr | None = None
    username: str = ""  # alias of email (app passwords were retired in 2026)
    app_password: SecretStr | None = None  # alias of api_token
    webhook_secret: SecretStr | None = None
    blocked_state: BlockedState = "pending"
    writes_per_minute: int = Field(0, ge=0)
    writes_per_hour: int = Field(0, ge=0)


class GitLabConfig(Section):
    api_url: str = "https://gitlab.com/api/v4"
    token: SecretStr | None = None
    webhook_token: SecretStr | None = None
    blocked_state: BlockedState = "pending"
    writes_per_minute: int = Field(0, ge=0)
    writes_per_hour: int = Field(0, ge=0)


class ForgesConfig(Section):
    github: GitHubConfig | None = None
    bitbucket: BitbucketConfig | None = None
    gitlab: GitLabConfig | None = None


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


class MetricConfig(_Scoped):
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


class CheckConfig(_Scoped):
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


class NotifyConfig(_Scoped):
    kind: Literal["slack", "webhook"]
    url: SecretStr
    events: list[Literal["lock", "window", "override", "health", "incident", "deploy"]] = [
        "lock",
        "window",
        "override",
        "health",
        "incident",
    ]
    secret: SecretStr | None = None  # HMAC key for generic webhooks (X-Shiplane-Signature)


class SlackConfig(Section):
    signing_secret: SecretStr | None = None
    allowed_users: list[str] = []


class ChangesConfig(Section):
    issue_pattern: str = r"[A-Z][A-Z0-9]+-\d+"
    mirror_dir: str = "./shiplane-mirrors"  # where bare mirrors of services' git_remote live
    issue_url: str = ""  # e.g. "https://acme.atlassian.net/browse/{key}": issue keys become links

    @field_validator("issue_url")
    @classmethod
    def _issue_url(cls, value: str) -> str:
        if value and ("{key}" not in value or not value.startswith(("https://", "http://"))):
            raise ValueError(f"must be an http(s) URL containing {{key}}: {value!r}")
        return value

    @field_validator("issue_pattern")
    @classmethod
    def _pattern(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"not a regular expression: {value!r} ({exc})") from None
        return value


class DoraConfig(Section):
    timezone: TimeZoneName = "UTC"
    failure_states: list[Literal["ailing", "unhealthy", "incident"]] = ["unhealthy", "incident"]


class Config(Section):
    """The whole configuration file."""

    server: ServerConfig = ServerConfig()
    database: DatabaseConfig = DatabaseConfig()
    environments: list[EnvironmentConfig] = []
    services: list[ServiceConfig] = []
    windows: list[WindowConfig] = []
    freezes: list[FreezeConfig] = []
    holidays: list[HolidayConfig] = []
    forges: ForgesConfig = ForgesConfig()
    sources: SourcesConfig = SourcesConfig()
    metrics: list[MetricConfig] = []
    checks: list[CheckConfig] = []
    health: HealthConfig = HealthConfig()

    @field_validator("checks")
    @classmethod
    def _unique_checks(cls, checks: list[CheckConfig]) -> list[CheckConfig]:
        # A check's name keys its metrics: two checks of one name would mix their samples.
        seen: set[str] = set()
        for c in checks:
            if c.name in seen:
                raise ValueError(f"two checks are named {c.name!r}; check names must be unique")
            seen.add(c.name)
        return checks

    notify: list[NotifyConfig] = []
    slack: SlackConfig = SlackConfig()
    changes: ChangesConfig = ChangesConfig()
    dora: DoraConfig = DoraConfig()


class Settings(BaseModel):
    """Config file plus environment: what the running process uses."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    config: Config = Config()
    config_path: str | None = None
    database_url: str = DEFAULT_DATABASE_URL
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    bootstrap_token: SecretStr | None = None

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


# ---------------------------------------------------------------- loading

_VAR_RE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def _key(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "(file)"


def _interpolate(node: Any, env: Mapping[str, str], loc: tuple[Any, ...], problems: list) -> Any:
    if isinstance(node, dict):
        return {k: _interpolate(v, env, loc + (k,), problems) for k, v in node.items()}
    if isinstance(node, list):
        return [_interpolate(v, env, loc + (i,), problems) for i, v in enumerate(node)]
    if isinstance(node, str):

        def sub(m: re.Match[str]) -> str:
            name = m.group(1)
            if name not in env:
                problems.append((_key(loc), f"environment variable {name!r} is not set (in {node!r})"))
                return ""
            return env[name]

        return _VAR_RE.sub(sub, node)
    return node


def _problems_from(exc: ValidationError) -> list[tuple[str, str]]:
    problems = []
    for err in exc.errors():
        loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            problems.append((_key(loc), "unknown key"))
            continue
        if "input" in err and err["type"] not in ("missing",) and not isinstance(err["input"], (dict, list)):
            shown = err["input"]
            if repr(shown) not in msg:
                msg = f"{msg} (got {shown!r})"
        problems.append((_key(loc), msg))
    return problems


def parse_config(raw: dict[str, Any], env: Mapping[str, str], path: str) -> Config:
    problems: list[tuple[str, str]] = []
    data = _interpolate(raw, env, (), problems)
    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        problems.extend(_problems_from(exc))
        raise ConfigError(path, problems) from None
    if problems:
        raise ConfigError(path, problems)
    return config


def load_config_file(path: str | os.PathLike[str], env: Mapping[str, str] | None = None) -> Config:
    env = os.environ if env is None else env
    path = str(path)
    try:
        with open(path, "rb") as fh:
            raw = tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(path, [("(file)", "file not found")]) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(path, [("(toml)", str(exc))]) from None
    return parse_config(raw, env, path)


def load_settings(
    config_path: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
    **overrides: Any,
) -> Settings:
    """Build the process settings. Precedence: explicit overrides > environment > file > defaults."""
    env = os.environ if env is None else env
    path = config_path or env.get("SHIPLANE_CONFIG") or None
    config = load_config_file(path, env) if path else Config()
    values: dict[str, Any] = {
        "config": config,
        "config_path": str(path) if path else None,
        "database_url": env.get("SHIPLANE_DATABASE_URL") or config.database.url or DEFAULT_DATABASE_URL,
        "host": env.get("SHIPLANE_HOST") or DEFAULT_HOST,
        "bootstrap_token": env.get("SHIPLANE_BOOTSTRAP_TOKEN") or None,
    }
    port = env.get("SHIPLANE_PORT")
    if port:
        if not port.isdigit() or not 0 < int(port) < 65536:
            raise ConfigError("SHIPLANE_PORT", [("SHIPLANE_PORT", f"not a TCP port: {port!r}")])
        values["port"] = int(port)
    values.update({k: v for k, v in overrides.items() if v is not None})
    return Settings(**values)
