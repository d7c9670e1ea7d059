"""The ``shiplane`` command.

Server-side commands (serve, worker, db, config, token, user, jobs) work on the
database directly; client commands (deploy, gate, lock, unlock, dora) are a
thin client of the HTTP API at ``--url``/``SHIPLANE_URL``.

This module builds the app and lists every command, in the order ``shiplane
--help`` shows them; each group lives in its own module. Commands import what
they need inside their bodies, so that ``shiplane --help`` starts fast.
"""

from __future__ import annotations

import typer

from shiplane.cli import accounts, deploys, dora, health, jobs, locks, server

app = typer.Typer(
    help="Shiplane: deployment mission control.", no_args_is_help=True, add_completion=False, rich_markup_mode=None
)
db_app = typer.Typer(help="Database schema and backups.", no_args_is_help=True)
config_app = typer.Typer(help="Configuration file.", no_args_is_help=True)
token_app = typer.Typer(help="API tokens.", no_args_is_help=True)
user_app = typer.Typer(help="Dashboard users.", no_args_is_help=True)
jobs_app = typer.Typer(help="Outbound deliveries that gave up.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(config_app, name="config")
app.add_typer(token_app, name="token")
app.add_typer(user_app, name="user")
app.add_typer(jobs_app, name="jobs")

app.command()(server.serve)
app.command()(server.worker)
app.command()(deploys.deploy)
app.command()(deploys.gate)
app.add_typer(locks.lock_app, name="lock")
app.add_typer(locks.schedule_app, name="schedule")
app.command()(locks.unlock)
app.command()(health.judge)
app.command()(dora.dora)
db_app.command("upgrade")(server.db_upgrade)
db_app.command("backup")(server.db_backup)
config_app.command("check")(server.config_check)
token_app.command("create")(accounts.token_create)
user_app.command("create")(accounts.user_create)
jobs_app.command("dead")(jobs.jobs_dead)
jobs_app.command("retry")(jobs.jobs_retry)


def main() -> None:  # pragma: no cover
    app()
