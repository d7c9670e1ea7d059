"""Services and environments: lookup by slug, auto-creation, config sync."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.engine import Connection

from shiplane.db import after_commit, conflict_insert
from shiplane.errors import UnknownEnvironment, UnknownService
from shiplane.settings import Config
from shiplane.tables.catalog import environments, services

PRODUCTION_SLUGS = ("production", "prod")


@dataclass(frozen=True)
class Ref:
    id: int
    slug: str


class Cache:
    """slug → Ref. Rows are never deleted and ids never change, so entries never go stale."""

    def __init__(self) -> None:
        self.services: dict[str, Ref] = {}
        self.environments: dict[str, Ref] = {}
        self.watched: set[tuple[int, int | None]] = set()


def _insert_ignore(conn: Connection, table: Any, values: dict[str, Any]) -> None:
    # Two concurrent first deploys may both try to create the service: the
    # loser's insert does nothing and it reads the winner's row.
    ins = conflict_insert(conn.dialect.name, table)
    conn.execute(ins.values(**values).on_conflict_do_nothing(index_elements=["slug"]))


def _resolve(
    conn: Connection, table: Any, slug: str, auto_create: bool, now: datetime, cache: dict[str, Ref] | None
) -> Ref | None:
    if cache is not None and slug in cache:
        return cache[slug]
    row = conn.execute(select(table.c.id).where(table.c.slug == slug)).first()
    if row is None:
        if not auto_create:
            return None
        values: dict[str, Any] = {"slug": slug, "name": slug, "created_at": now}
        if table is environments:
            values["production"] = slug in PRODUCTION_SLUGS
        _insert_ignore(conn, table, values)
        row = conn.execute(select(table.c.id).where(table.c.slug == slug)).first()
    ref = Ref(row.id, slug)
    if cache is not None:
        after_commit(conn, lambda: cache.__setitem__(slug, ref))
    return ref


def service(conn: Connection, slug: str, *, auto_create: bool, now: datetime, cache: Cache | None = None) -> Ref:
    ref = _resolve(conn, services, slug, auto_create, now, cache.services if cache else None)
    if ref is None:
        raise UnknownService(f"unknown service {slug!r}", service=slug)
    return ref


def environment(conn: Connection, slug: str, *, auto_create: bool, now: datetime, cache: Cache | None = None) -> Ref:
    ref = _resolve(conn, environments, slug, auto_create, now, cache.environments if cache else None)
    if ref is None:
        raise UnknownEnvironment(f"unknown environment {slug!r}", environment=slug)
    return ref


def id_of(table: Any, slug: str) -> Any:
    """The select of a service's or environment's id by slug (a subquery in bigger statements)."""
    return select(table.c.id).where(table.c.slug == slug)


def find(conn: Connection, table: Any, slug: str) -> int | None:
    return conn.execute(id_of(table, slug)).scalar()


def sync_config(conn: Connection, config: Config, now: datetime) -> None:
    """Create or update the services and environments named in the config file."""
    for index, env in enumerate(config.environments):
        _insert_ignore(conn, environments, {"slug": env.slug, "name": env.name or env.slug, "created_at": now})
        production = env.production if env.production is not None else env.slug in PRODUCTION_SLUGS
        conn.execute(
            update(environments)
            .where(environments.c.slug == env.slug)
            .values(name=env.name or env.slug, production=production,
                    position=env.position if env.position is not None else index)
        )
    for svc in config.services:
        _insert_ignore(conn, services, {"slug": svc.slug, "name": svc.name or svc.slug, "created_at": now})
        conn.execute(
            update(services)
            .where(services.c.slug == svc.slug)
            .values(name=svc.name or svc.slug, repo=svc.repo, branch=svc.branch, paths=list(svc.paths))
        )
