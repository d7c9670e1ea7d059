from sqlalchemy import Column, Float, Index, Integer, String, Table

from shiplane.db import UTCDateTime, metadata

# Samples pushed to POST /api/v1/metrics and Sleuth's register_impact.
metric_samples = Table(
    "metric_samples",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("metric", String(200), nullable=False),
    Column("environment", String(64), nullable=False),
    Column("service", String(64), nullable=True),  # NULL: applies to every service
    Column("value", Float, nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Index("ix_metric_samples_lookup", "metric", "environment", "at"),
)

# Incidents from outside (PagerDuty, Statuspage, a human): each attaches to the
# latest deploy before it began and marks it `incident` until resolved.
incidents = Table(
    "incidents",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("key", String(200), nullable=False, unique=True),
    Column("environment", String(64), nullable=False),
    Column("service", String(64), nullable=True),
    Column("title", String(500), nullable=True),
    Column("url", String(2000), nullable=True),
    Column("started_at", UTCDateTime, nullable=False),
    Column("resolved_at", UTCDateTime, nullable=True),
    Column("deploy_id", Integer, nullable=True),
    Column("previous_health", String(16), nullable=True),  # restored on resolution
    Index("ix_incidents_deploy", "deploy_id"),
)
