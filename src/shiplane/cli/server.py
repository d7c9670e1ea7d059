"""Server-side commands: ``serve``, ``worker``, ``db upgrade`` and ``config check``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from shiplane.cli.common import ConfigOpt, err, fail, out, settings_or_exit


def serve(
    config: ConfigOpt = None,
    host: Annotated[str | None, typer.Option(help="Listen address (SHIPLANE_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Listen port (SHIPLANE_PORT).")] = None,
    migrate: Annotated[bool, typer.Option("--migrate", help="Apply migrations on PostgreSQL at start.")] = False,
    access_log: Annotated[bool, typer.Option("--access-log", help="Log every request.")] = False,
    no_worker: Annotated[bool, typer.Option("--no-worker", help="Do not run the background worker here.")] = False,
) -> None:
    """Serve the API, dashboard and background worker in one process."""
    import uvicorn

    from shiplane.app import OutdatedSchema, create_app, prepare_database
    from shiplane.db import Database
    from shiplane.protocol import with_header_timeout

    settings = settings_or_exit(config, host=host, port=port)
    db = Database(settings.database_url)
    try:
        prepare_database(db, settings, migrate=migrate)
    except OutdatedSchema as exc:
        fail(str(exc), 3)
    application = create_app(settings, db=db, worker=not no_worker, prepared=True)
    server = settings.config.server
    uvicorn.run(
        application,
        host=settings.host,
        port=settings.port,
        access_log=access_log,
        log_level="info",
        timeout_graceful_shutdown=5,
        http=with_header_timeout(server.header_timeout.total_seconds()),
        # X-Forwarded-For only from [server] trusted_proxies; uvicorn would otherwise believe any local peer.
        proxy_headers=bool(server.trusted_proxies),
        forwarded_allow_ips=list(server.trusted_proxies) or None,
    )


def worker(config: ConfigOpt = None) -> None:
    """Run the background worker only (scheduler and outbound deliveries)."""
    import signal

    # SIGTERM stops the worker like Ctrl-C, from the very start: as PID 1 in a container a
    # signal without a handler is ignored, and `podman stop` or Kubernetes would wait, then kill.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        _run_worker(config)
    except KeyboardInterrupt:
        err.print("shiplane worker stopped")


def _run_worker(config: str | None) -> None:
    import signal

    import anyio

    from shiplane.app import OutdatedSchema, make_worker, new_context, prepare_database
    from shiplane.db import Database
    from shiplane.enforcement.runtime import Enforcement

    settings = settings_or_exit(config)
    db = Database(settings.database_url, pool_size=4)
    try:
        prepare_database(db, settings)
    except OutdatedSchema as exc:
        fail(str(exc), 3)
    ctx = new_context(settings, db)
    ctx.enforcement = Enforcement(settings, db, ctx.schedule)

    async def main() -> None:
        try:
            # Once running, SIGTERM cancels the worker between awaits: the receiver is in place
            # before the worker starts, so no signal lands in the middle of a tick's own code.
            with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
                err.print(f"shiplane worker running on {db.engine.url.render_as_string(hide_password=True)}")
                async with anyio.create_task_group() as tg:
                    tg.start_soon(make_worker(ctx).run_forever)
                    async for _ in signals:
                        tg.cancel_scope.cancel()
                        break
        finally:
            await ctx.enforcement.close()

    anyio.run(main)


def db_upgrade(config: ConfigOpt = None) -> None:
    """Apply Alembic migrations up to the newest schema."""
    from shiplane import migrate
    from shiplane.db import Database

    settings = settings_or_exit(config)
    db = Database(settings.database_url, pool_size=1)
    migrate.upgrade(db.engine)
    out.print(f"database at revision {migrate.current(db.engine)}")


def db_backup(
    path: Annotated[Path, typer.Argument(help="The file to write: a new one.", show_default=False)],
    config: ConfigOpt = None,
) -> None:
    """Copy the SQLite database to PATH while it serves (SQLite's online backup). PostgreSQL: use pg_dump."""
    from shiplane import migrate
    from shiplane.db import Database

    settings = settings_or_exit(config)
    db = Database(settings.database_url, pool_size=1)
    if not db.is_sqlite:
        fail("this database is PostgreSQL: back it up with pg_dump -Fc (see docs/operations.md, Backups)", 2)
    source = db.engine.url.database
    if not source or source == ":memory:" or not Path(source).is_file():
        fail(f"no SQLite database at {source!r}", 2)
    if path.exists():
        fail(f"{path} exists: name a new file", 2)
    if not path.parent.is_dir():
        fail(f"no such directory: {path.parent}", 2)
    size = db.backup_sqlite(path)
    out.print(f"{source} copied to {path} ({size:,} bytes, revision {migrate.current(db.engine)})", markup=False)


def config_check(
    config: ConfigOpt = None,
    online: Annotated[
        bool,
        typer.Option(
            "--online",
            help="Also ask each forge, with reads only, whether merge blocking works as configured, report "
            "branch freezes that failed for good (from the database), fetch each remote metric once "
            "(CloudWatch, New Relic, JSON and the others), and fetch the [auth.oidc] provider's discovery "
            "document. Problems exit 1.",
        ),
    ] = False,
) -> None:
    """Validate the config file: exit 0, or print FILE: key: reason lines and exit 2."""
    settings = settings_or_exit(config)
    where = settings.config_path or "(no config file: defaults)"
    if online:
        import anyio

        from shiplane.auth import oidc
        from shiplane.enforcement import online as checks
        from shiplane.health import online as source_checks

        found = (
            anyio.run(oidc.online_problems, settings)
            + anyio.run(checks.problems, settings)
            + anyio.run(source_checks.problems, settings)
        )
        for problem in found:
            err.print(f"{where}: {problem}", markup=False, soft_wrap=True)
        if found:
            raise typer.Exit(1)
    out.print(f"{where}: ok", markup=False)
