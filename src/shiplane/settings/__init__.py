"""Configuration: one TOML file plus ``SHIPLANE_*`` environment variables, one module per concern.

The models are the single source of truth for what can be configured;
``docs/configuration.md`` is checked against them by a test. A misspelt key is
an error at start, never silently ignored.
"""

from shiplane.settings.changes import ChangesConfig, DoraConfig
from shiplane.settings.config import Config, Settings
from shiplane.settings.forges import BitbucketConfig, ForgesConfig, GitHubConfig, GitLabConfig
from shiplane.settings.health import (
    CheckConfig,
    DatadogConfig,
    HealthConfig,
    MetricConfig,
    PrometheusConfig,
    SentryConfig,
    SignalFxConfig,
    SourcesConfig,
)
from shiplane.settings.loading import load_config_file, load_settings, parse_config
from shiplane.settings.notify import NotifyConfig, SlackConfig
from shiplane.settings.places import DatabaseConfig, EnvironmentConfig, ServerConfig, ServiceConfig
from shiplane.settings.schedule import FreezeConfig, GateConfig, HolidayConfig, WindowConfig
from shiplane.settings.values import DAYS, ConfigError, parse_duration

__all__ = [
    "DAYS",
    "BitbucketConfig",
    "ChangesConfig",
    "CheckConfig",
    "Config",
    "ConfigError",
    "DatabaseConfig",
    "DatadogConfig",
    "DoraConfig",
    "EnvironmentConfig",
    "ForgesConfig",
    "FreezeConfig",
    "GateConfig",
    "GitHubConfig",
    "GitLabConfig",
    "HealthConfig",
    "HolidayConfig",
    "MetricConfig",
    "NotifyConfig",
    "PrometheusConfig",
    "SentryConfig",
    "ServerConfig",
    "ServiceConfig",
    "Settings",
    "SignalFxConfig",
    "SlackConfig",
    "SourcesConfig",
    "WindowConfig",
    "load_config_file",
    "load_settings",
    "parse_config",
    "parse_duration",
]
