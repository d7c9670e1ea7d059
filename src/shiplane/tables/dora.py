from sqlalchemy import Column, Date, Integer, LargeBinary, String, Table

from shiplane.db import UTCDateTime, metadata

# One row per environment, service and local day (in the zone of dora_state)
# that had counted deploys: their counts and every duration, so that days add
# up to exact medians (see shiplane.dora.rollups). service_id 0 is the whole
# environment, kept so that "all services over a year" reads 365 rows, not 73,000.
dora_days = Table(
    "dora_days",
    metadata,
    Column("environment_id", Integer, primary_key=True, autoincrement=False),
    Column("service_id", Integer, primary_key=True, autoincrement=False),
    Column("day", Date, primary_key=True),
    Column("deploys", Integer, nullable=False),
    Column("failed", Integer, nullable=False),
    Column("rework", Integer, nullable=False),
    # Commits first shipped that day without a date (lead_time.unknown_commits).
    Column("unknown_commits", Integer, nullable=False, server_default="0"),
    # Sorted little-endian float64 arrays of seconds: lead time of every change
    # shipped that day, recovery time of every recovered failure deployed that day.
    Column("leads", LargeBinary, nullable=False),
    Column("recoveries", LargeBinary, nullable=False),
)

# "Something DORA reads changed here": written by database triggers on deploys,
# deploy_commits and incidents (migration 0008), in the writer's transaction.
# `at` is the deploy time of the deploy concerned, before and after the change.
# Refreshes fold marks into dora_days and delete exactly the marks they read.
dora_marks = Table(
    "dora_marks",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("environment_id", Integer, nullable=False),
    Column("service_id", Integer, nullable=False),
    Column("at", UTCDateTime, nullable=False),
)

# A single row (id 1): which settings dora_days was built for (NULL timezone:
# not built), and a generation that every refresh bumps with a conditional
# update, so that of two concurrent refreshes only one writes.
dora_state = Table(
    "dora_state",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("generation", Integer, nullable=False),
    Column("timezone", String(64), nullable=True),
    Column("failure_states", String(200), nullable=True),
    Column("built_at", UTCDateTime, nullable=True),
)
