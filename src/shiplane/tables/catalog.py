from sqlalchemy import Boolean, Column, Integer, String, Table

from shiplane.db import JSONType, UTCDateTime, metadata

services = Table(
    "services",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("slug", String(64), nullable=False, unique=True),
    Column("name", String(200), nullable=False, default=""),
    Column("repo", String(300), nullable=False, default=""),
    Column("branch", String(200), nullable=False, default="main"),
    Column("paths", JSONType, nullable=False, default=list),
    Column("created_at", UTCDateTime, nullable=False),
)

environments = Table(
    "environments",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("slug", String(64), nullable=False, unique=True),
    Column("name", String(200), nullable=False, default=""),
    Column("production", Boolean, nullable=False, default=False),
    Column("position", Integer, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
)
