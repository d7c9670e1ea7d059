"""Pure answers derived from the configuration, for every package that needs them.

They live here, beside ``Config``, so that intake, enforcement, health and
change tracking can share them without importing each other.
"""

from __future__ import annotations

from shiplane.settings.config import Config
from shiplane.settings.health import MetricConfig


def merge_gate_environment(config: Config, merge_gate: str) -> str:
    """The environment whose gate a service's pull requests mirror: its ``merge_gate``, else the production one."""
    if merge_gate:
        return merge_gate
    production = [e.slug for e in config.environments if e.production]
    return production[0] if production else "production"


def tracked(config: Config) -> frozenset[str]:
    """Services whose changes the worker can work out (a forge repo or a git mirror)."""
    return frozenset(s.slug for s in config.services if s.repo or s.git_remote)


def availability_metric(check: str) -> str:
    return f"{check} availability"


def latency_metric(check: str) -> str:
    return f"{check} latency"


def check_metrics(config: Config) -> list[MetricConfig]:
    """The two metrics every ``[[checks]]`` entry becomes, unless ``[[metrics]]`` names them itself.

    ``<check> availability`` (bad when it drops, critical: the page being down is
    the deploy being unhealthy) and ``<check> latency`` (bad when it rises).
    """
    explicit = {m.name for m in config.metrics}
    out = []
    for c in config.checks:
        scope = {"environments": c.environments, "services": c.services}
        for name, regression, critical in (
            (availability_metric(c.name), "decrease", True),
            (latency_metric(c.name), "increase", False),
        ):
            if name not in explicit:
                # model_construct: these values are valid by construction, and intake calls this per deploy
                out.append(MetricConfig.model_construct(name=name, source="http_check", query=name,
                                                        regression=regression, critical=critical, **scope))
    return out


def metrics_for(config: Config, environment: str, service: str) -> list[MetricConfig]:
    """The metrics that judge a deploy of ``service`` to ``environment``."""
    return [
        m
        for m in [*config.metrics, *check_metrics(config)]
        if (not m.environments or environment in m.environments) and (not m.services or service in m.services)
    ]
