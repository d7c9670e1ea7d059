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
