"""Engine, metadata and the two ways code touches the database.

Why the split between ``write``/``read`` and ``run_write``/``run_read``:
service functions are plain synchronous functions of ``(conn, ..., now)`` that
the CLI, the worker and the tests call directly. Async routes call them
through ``run_*``. On SQLite they run inline on the event loop: a local
statement costs tens of microseconds, a thread hop costs more than that, and
the event loop becomes the single writer of the process for free. On
PostgreSQL they run in worker threads so that concurrent commits overlap
(group commit) instead of queueing behind one another's fsync.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import os
import sqlite3
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

from sqlalchemy import JSON, DateTime, MetaData, String, TypeDecorator, create_engine, event
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DataError, DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from shiplane.errors import Invalid, Unavailable

P = ParamSpec("P")
T = TypeVar("T")

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

JSONType = JSON().with_variant(JSONB(), "postgresql")


class UTCDateTime(TypeDecorator):
    """Aware UTC in and out, on both databases.

    SQLite has no time zone type: values are stored as naive UTC text in the
    same fixed-width format SQLAlchemy uses ("2026-11-26 06:51:22.597587"),
    which sorts correctly as a string. We format and parse it ourselves
    (``datetime.fromisoformat`` is C) because SQLAlchemy's regex-based SQLite
    datetime parsing dominated the cost of listing deploys.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Any) -> Any:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String(32))
        return dialect.type_descriptor(DateTime(timezone=True))

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | str | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return f"{value:%Y-%m-%d %H:%M:%S}.{value.microsecond:06d}"
        return value

    def process_result_value(self, value: datetime | str | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, str):
            return datetime.fromisoformat(value).replace(tzinfo=UTC)
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


# SQLSTATEs that mean "the database cannot take this now", not "this request is wrong":
# class 08 connection exceptions, 25006 read-only transaction, class 53 insufficient
# resources (disk full, out of memory), 57P01-57P03 shutdown and cannot-connect-now.
_UNAVAILABLE_SQLSTATES = ("08", "25006", "53", "57P01", "57P02", "57P03")
# SQLite says it in words (sqlite3.OperationalError).
_UNAVAILABLE_SQLITE = ("database or disk is full", "readonly database", "database is locked", "unable to open database", "disk i/o error")


def unavailable(exc: BaseException) -> Unavailable | None:
    """The 503 to answer when ``exc`` is an outage of the database (None when it is not one)."""
    if isinstance(exc, PoolTimeoutError):
        return Unavailable("the database is busy: no connection was free in time")
    if not isinstance(exc, DBAPIError):
        return None
    orig = exc.orig
    sqlstate = getattr(orig, "sqlstate", None) or ""
    message = str(orig).strip().splitlines()[0] if str(orig).strip() else type(orig).__name__
    if (sqlstate and sqlstate.startswith(_UNAVAILABLE_SQLSTATES)) or exc.connection_invalidated:
        return Unavailable(f"the database is unavailable: {message[:200]}")
    if isinstance(exc, (OperationalError, InterfaceError)) and (
        not sqlstate or any(words in message.lower() for words in _UNAVAILABLE_SQLITE)
    ):
        return Unavailable(f"the database is unavailable: {message[:200]}")
    return None


def conflict_insert(dialect: str, table: Any) -> Any:
    """The dialect's own INSERT, which takes ``on_conflict_do_nothing``/``_do_update`` on both engines."""
    return pg_insert(table) if dialect == "postgresql" else sqlite_insert(table)


def normalize_url(url: str) -> str:
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def make_engine(url: str, *, pool_size: int = 20) -> Engine:
    url = normalize_url(url)
    if url.startswith("sqlite"):
        # isolation_level=None stops pysqlite from issuing its own BEGINs; we
        # issue BEGIN / BEGIN IMMEDIATE ourselves (see _sqlite_begin).
        engine = create_engine(url, connect_args={"isolation_level": None, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            # NORMAL in WAL mode: a committed transaction survives a crash of
            # the process (kill -9); only an OS crash or power loss can lose
            # the last commits. See docs/operations.md.
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=10000")
            cur.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Connection) -> None:
            # A write transaction takes the write lock up front, so two
            # processes never deadlock upgrading a read lock to a write lock.
            immediate = conn.get_execution_options().get("shiplane_write", False)
            conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

        return engine
    # A pool as large as the concurrency we expect: connections opened beyond
    # it are closed on return, and PostgreSQL pays a process and a login for
    # each. No pre-ping (a round trip per checkout); recycle hourly instead.
    return create_engine(url, pool_size=pool_size, max_overflow=pool_size, pool_recycle=3600)


def after_commit(conn: Connection, callback: Callable[[], None]) -> None:
    """Run ``callback`` after the surrounding ``Database.write`` transaction commits."""
    pending = conn.info.get("after_commit")
    if pending is None:
        callback()  # not inside Database.write: the caller owns the transaction
    else:
        pending.append(callback)


class Database:
    def __init__(self, url: str, *, pool_size: int = 20) -> None:
        self.url = normalize_url(url)
        self.engine = make_engine(self.url, pool_size=pool_size)
        self.is_sqlite = self.engine.dialect.name == "sqlite"
        self.pool_size = pool_size
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None
        self.bus: Any = None  # shiplane.web.live.Bus once a dashboard listens

    @contextlib.contextmanager
    def write(self) -> Iterator[Connection]:
        """One transaction that commits on success and rolls back on any error.

        Callbacks registered with ``after_commit`` run only once the commit
        succeeded: in-process caches must never remember a rolled-back row.
        """
        callbacks: list[Callable[[], None]] = []
        with self.engine.connect() as conn:
            conn = conn.execution_options(shiplane_write=True)
            conn.info["after_commit"] = callbacks
            if self.bus is not None:
                conn.info["bus"] = self.bus  # events recorded here are announced after commit
            try:
                with conn.begin():
                    yield conn
            finally:
                conn.info.pop("after_commit", None)
                conn.info.pop("bus", None)
        for callback in callbacks:
            callback()

    def backup_sqlite(self, path: str | os.PathLike[str]) -> int:
        """Copy the SQLite database to ``path`` (a new file) while others read and write it.

        SQLite's online backup API in one step: the copy is one read snapshot, so it is
        consistent, and in WAL mode writers go on meanwhile. Written beside ``path`` and
        renamed into place, as a single file (rollback journal, no ``-wal``). Returns its size.
        """
        target = Path(path)
        partial = target.with_name(f".{target.name}.partial")
        partial.unlink(missing_ok=True)
        with self.engine.connect() as conn:
            source = conn.connection.driver_connection
            copy = sqlite3.connect(partial)
            try:
                source.backup(copy)
                copy.execute("PRAGMA journal_mode=DELETE")
                (ok,) = copy.execute("PRAGMA quick_check").fetchone()
                if ok != "ok":
                    raise RuntimeError(f"the copy failed its check: {ok}")
            finally:
                copy.close()
        with open(partial, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(partial, target)
        return target.stat().st_size

    @contextlib.contextmanager
    def read(self) -> Iterator[Connection]:
        with self.engine.connect() as conn:
            if not self.is_sqlite:
                # READ COMMITTED gives every statement its own snapshot inside a
                # transaction too, so BEGIN and COMMIT around a read bought
                # nothing but two round trips (a page of deploys: 1.36 -> 1.0 ms).
                # SQLite keeps its transaction: there it is one snapshot.
                conn = conn.execution_options(isolation_level="AUTOCOMMIT")
            with conn.begin():
                yield conn

    def _call(self, write: bool, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        try:
            with self.write() if write else self.read() as conn:
                return fn(conn, *args, **kwargs)
        except DataError as exc:
            # The last line of defence: a value the edge should have refused (a NUL, a string
            # longer than its column, a number out of range) is the client's error, not ours.
            raise Invalid("body", "a value is too long, out of range, or holds a character that cannot be stored") from exc
        except DBAPIError as exc:
            outage = unavailable(exc)
            if outage is None:
                raise
            raise outage from exc

    async def _in_thread(self, write: bool, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        # A plain executor sized like the pool: cheaper per call than anyio's
        # to_thread, and never more threads than connections to give them.
        if self._executor is None:
            self._executor = concurrent.futures.ThreadPoolExecutor(self.pool_size, thread_name_prefix="shiplane-db")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, functools.partial(self._call, write, fn, *args, **kwargs))

    async def run_long_read(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """A read that may take long (reports): in a thread on every engine, so
        it never holds the event loop (WAL lets it read beside the writer)."""
        return await self._in_thread(False, fn, *args, **kwargs)

    async def run_write(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        if self.is_sqlite:
            return self._call(True, fn, *args, **kwargs)
        return await self._in_thread(True, fn, *args, **kwargs)

    async def run_read(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        if self.is_sqlite:
            return self._call(False, fn, *args, **kwargs)
        return await self._in_thread(False, fn, *args, **kwargs)

    def dispose(self) -> None:
        # Usable again afterwards, like the engine: the next call in a thread makes a new executor.
        executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=False)
        self.engine.dispose()
