"""``token create`` and ``user create``: they write to the database directly."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from shiplane import clock
from shiplane.cli.common import ConfigOpt, direct_database, fail, out, settings_or_exit


def token_create(
    name: Annotated[str, typer.Option(help="A name to recognise the token by.")],
    role: Annotated[str, typer.Option(help="viewer, deployer or admin.")],
    config: ConfigOpt = None,
) -> None:
    """Print a new API token (shown once) as the last line of stdout."""
    from shiplane.auth import service
    from shiplane.errors import DomainError

    db = direct_database(settings_or_exit(config))
    try:
        with db.write() as conn:
            token = service.create_token(conn, name, role, clock.now())
    except DomainError as exc:
        fail(exc.detail, 2)
    print(f"created {role} token {name!r}; it is shown only once:", file=sys.stderr)
    print(token)


def user_create(
    username: Annotated[str, typer.Option(help="Login name.")],
    role: Annotated[str, typer.Option(help="viewer, deployer or admin.")],
    password_stdin: Annotated[bool, typer.Option("--password-stdin", help="Read the password from stdin.")] = False,
    config: ConfigOpt = None,
) -> None:
    """Create a dashboard user; the password is read from stdin."""
    from shiplane.auth import service
    from shiplane.errors import DomainError

    if not password_stdin:
        fail("pass --password-stdin and the password on standard input", 2)
    password = sys.stdin.readline().rstrip("\r\n")
    db = direct_database(settings_or_exit(config))
    try:
        with db.write() as conn:
            service.create_user(conn, username, role, password, clock.now())
    except DomainError as exc:
        fail(exc.detail, 2)
    out.print(f"created {role} user {username!r}", markup=False)
