"""Which source answers a metric: ``[sources.*]`` settings → a MetricSource.

``push`` and ``http_check`` samples live in Shiplane's own database
(``metric_samples``) and are read there by the lifecycle, not through here.
"""

from __future__ import annotations

import httpx

from shiplane.health.sources.base import MetricSource, SourceError, expand
from shiplane.health.sources.cloudwatch import CloudWatch
from shiplane.health.sources.datadog import Datadog
from shiplane.health.sources.jsonhttp import JsonSource
from shiplane.health.sources.newrelic import NewRelic
from shiplane.health.sources.prometheus import Prometheus
from shiplane.health.sources.sentry import DEFAULT_QUERY as SENTRY_DEFAULT_QUERY
from shiplane.health.sources.sentry import Sentry
from shiplane.health.sources.signalfx import SignalFx
from shiplane.settings import Config, MetricConfig

REMOTE = ("prometheus", "sentry", "datadog", "signalfx", "cloudwatch", "newrelic", "json")


def query_for(metric: MetricConfig, service: str, environment: str) -> str:
    """The metric's query for one deploy: ``$service`` and ``$environment`` filled in (default: its name;
    Sentry's: error events)."""
    default = SENTRY_DEFAULT_QUERY if metric.source == "sentry" else metric.name
    return expand(metric.query or default, service, environment)


def source_for(
    config: Config,
    name: str,
    client: httpx.AsyncClient,
    *,
    environment: str | None = None,
    service: str | None = None,
    metric: MetricConfig | None = None,
) -> MetricSource:
    """The source called ``name``; ``environment`` (the deploy's) scopes sources that filter by it (Sentry);
    ``metric`` and ``service`` are for sources whose request is the metric's own (json)."""
    sources = config.sources
    if name == "json":
        if metric is None:
            raise SourceError("the json source needs its metric's url and jmespath")
        shared = sources.json_.headers if sources.json_ else {}
        headers = {k: v.get_secret_value() for k, v in {**shared, **metric.headers}.items()}
        return JsonSource(metric.url, metric.jmespath, headers, client, service=service or "", environment=environment or "")
    if name == "prometheus" and sources.prometheus:
        return Prometheus(sources.prometheus.url, client)
    if name == "sentry" and sources.sentry:
        token = sources.sentry.token.get_secret_value() if sources.sentry.token else None
        return Sentry(sources.sentry.url, sources.sentry.organization, token, client, environment=environment)
    if name == "datadog" and sources.datadog:
        d = sources.datadog
        return Datadog(d.site, d.api_key.get_secret_value(), d.app_key.get_secret_value(), client)
    if name == "signalfx" and sources.signalfx:
        return SignalFx(sources.signalfx.realm, sources.signalfx.token.get_secret_value(), client)
    if name == "cloudwatch" and sources.cloudwatch:
        return CloudWatch(sources.cloudwatch.region, sources.cloudwatch.endpoint_url, client)
    if name == "newrelic" and sources.newrelic:
        n = sources.newrelic
        return NewRelic(n.url, n.account_id, n.api_key.get_secret_value(), client)
    if name in REMOTE:
        raise SourceError(f"the {name} source is not configured (add [sources.{name}])", setting=f"sources.{name}")
    raise SourceError(f"the {name} source is not a remote source")
