"""What every ``shiplane`` command shares: the consoles, the common options,
``fail`` and loading the settings (a bad config file exits 2 with one line per
problem)."""

from __future__ import annotations

from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console

from shiplane.settings import ConfigError, Settings, load_settings

err = Console(stderr=True, highlight=False, soft_wrap=True)
out = Console(highlight=False, soft_wrap=True)

ConfigOpt = Annotated[str | None, typer.Option("--config", "-c", help="TOML config file (or SHIPLANE_CONFIG).")]
UrlOpt = Annotated[str, typer.Option("--url", envvar="SHIPLANE_URL", help="Shiplane server URL.")]
TokenOpt = Annotated[str, typer.Option("--token", envvar="SHIPLANE_TOKEN", help="API token.", show_default=False)]


def fail(message: str, code: int = 1) -> NoReturn:
    err.print(f"error: {message}", markup=False, soft_wrap=True)
    raise typer.Exit(code)


def settings_or_exit(config: str | None, **overrides: Any) -> Settings:
    try:
        return load_settings(config, **overrides)
    except ConfigError as exc:
        for line in exc.lines():
            err.print(line, markup=False, soft_wrap=True)
        raise typer.Exit(2) from None


def direct_database(settings: Settings) -> Any:
    """For commands that work on the database directly (token, user, jobs): schema only, no side effects."""
    from shiplane.app import OutdatedSchema, ensure_schema
    from shiplane.db import Database

    db = Database(settings.database_url, pool_size=2)
    try:
        ensure_schema(db)
    except OutdatedSchema as exc:
        fail(str(exc), 3)
    return db
