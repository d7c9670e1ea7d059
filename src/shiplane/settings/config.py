"""The whole configuration file, and the settings a running process uses."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, SecretStr, field_validator

from shiplane.settings.auth import AuthConfig
from shiplane.settings.changes import ChangesConfig, DoraConfig
from shiplane.settings.forges import ForgesConfig
from shiplane.settings.health import CheckConfig, HealthConfig, MetricConfig, SourcesConfig
from shiplane.settings.incidents import IncidentsConfig
from shiplane.settings.notify import NotifyConfig, SlackConfig
from shiplane.settings.places import DatabaseConfig, EnvironmentConfig, ServerConfig, ServiceConfig
from shiplane.settings.schedule import FreezeConfig, GateConfig, HolidayConfig, WindowConfig
from shiplane.settings.values import DEFAULT_DATABASE_URL, DEFAULT_HOST, DEFAULT_PORT, Section


class Config(Section):
    """The whole configuration file."""

    server: ServerConfig = ServerConfig()
    database: DatabaseConfig = DatabaseConfig()
    auth: AuthConfig = AuthConfig()
    environments: list[EnvironmentConfig] = []
    services: list[ServiceConfig] = []
    windows: list[WindowConfig] = []
    freezes: list[FreezeConfig] = []
    holidays: list[HolidayConfig] = []
    gate: GateConfig = GateConfig()
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

    incidents: IncidentsConfig = IncidentsConfig()
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
