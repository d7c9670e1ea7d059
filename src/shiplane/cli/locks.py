"""``lock`` and ``unlock``: stop deploys to a scope with a reason, and end that."""

from __future__ import annotations

import re
from typing import Annotated, Any

import typer

from shiplane import clock
from shiplane.cli.client import call, connect, error_line, from_iso
from shiplane.cli.common import TokenOpt, UrlOpt, err, fail, out


def _when(option: str, value: str | None) -> str | None:
    """What the server takes for a lock time: an ISO instant (naive = UTC), ``HH:MM`` (the next such
    time in the environment's ``timezone``, resolved by the server) or a duration (``30m``, ``2h``).

    A duration is sent as it is: the server counts ``--until`` from the lock's start, ``--from`` from now.
    """
    if not value:
        return None
    from shiplane.settings import parse_duration

    if re.fullmatch(r"\d{1,2}:\d{2}", value):
        return value
    try:
        return clock.iso(clock.as_utc(from_iso(value)))
    except ValueError:
        pass
    try:
        parse_duration(value)
    except ValueError:
        fail(f"{option}: not an ISO date-time, HH:MM or a duration like '30m': {value!r}", 2)
    return value


def _scope(lk: dict[str, Any]) -> str:
    return lk["environment"] + (f"/{lk['service']}" if lk["service"] else "")


def _describe(lk: dict[str, Any]) -> str:
    when = f" from {lk['starts_at']}" if lk.get("state") == "scheduled" else ""
    until = f" until {lk['expires_at']}" if lk["expires_at"] else ""
    return f"(lock {lk['id']}){when}{until}: {lk['reason']}"


lock_app = typer.Typer(help="Lock an environment (or one service in it), now or ahead; `lock edit` changes a lock.")


@lock_app.callback(invoke_without_command=True)
def lock(
    ctx: typer.Context,
    environment: Annotated[str | None, typer.Option(help="Environment slug (required).")] = None,
    reason: Annotated[str | None, typer.Option(help="Why deploys must stop (required).")] = None,
    service: Annotated[str | None, typer.Option(help="Lock only this service.")] = None,
    from_: Annotated[
        str | None,
        typer.Option("--from", help="When the lock starts: ISO instant, HH:MM in the environment's timezone, or a duration from now. Default: now."),
    ] = None,
    until: Annotated[
        str | None,
        typer.Option("--until", help="When it ends: ISO instant, HH:MM in the environment's timezone, or a duration from the start ('2h')."),
    ] = None,
    expires: Annotated[str | None, typer.Option(help="Same as --until.")] = None,
    url: UrlOpt = "http://127.0.0.1:8700",
    token: TokenOpt = "",
) -> None:
    """Lock an environment (or one service in it) with a reason, now or from --from."""
    if ctx.invoked_subcommand is not None:
        return
    if not environment or not reason:
        fail("give --environment and --reason", 2)
    body: dict[str, Any] = {"environment": environment, "reason": reason}
    if service:
        body["service"] = service
    if from_:
        body["starts_at"] = _when("--from", from_)
    if until or expires:
        body["expires_at"] = _when("--until" if until else "--expires", until or expires)
    with connect(url, token) as client:
        response = call(client, "POST", "/api/v1/locks", json=body)
    if response.status_code != 201:
        fail(error_line(response))
    lk = response.json()
    verb = "scheduled a lock of" if lk.get("state") == "scheduled" else "locked"
    out.print(f"{verb} {_scope(lk)} {_describe(lk)}", markup=False)


@lock_app.command("edit")
def lock_edit(
    lock_id: Annotated[int, typer.Argument(help="The lock's id.")],
    reason: Annotated[str | None, typer.Option(help="A new reason.")] = None,
    from_: Annotated[str | None, typer.Option("--from", help="A new start (only while the lock is scheduled).")] = None,
    until: Annotated[str | None, typer.Option("--until", help="A new end (extend or shorten), or 'none' for no end.")] = None,
    url: UrlOpt = "http://127.0.0.1:8700",
    token: TokenOpt = "",
) -> None:
    """Change a scheduled or active lock: reason, start (while scheduled), end."""
    body: dict[str, Any] = {}
    if reason is not None:
        body["reason"] = reason
    if from_ is not None:
        body["starts_at"] = _when("--from", from_)
    if until is not None:
        body["expires_at"] = None if until.lower() == "none" else _when("--until", until)
    if not body:
        fail("nothing to change: give --reason, --from or --until", 2)
    with connect(url, token) as client:
        response = call(client, "PATCH", f"/api/v1/locks/{lock_id}", json=body)
    if response.status_code != 200:
        fail(error_line(response))
    lk = response.json()
    out.print(f"edited {_scope(lk)} {_describe(lk)}", markup=False)


def unlock(
    environment: Annotated[str | None, typer.Option(help="Environment slug.")] = None,
    service: Annotated[str | None, typer.Option(help="Service slug (for a service lock).")] = None,
    lock_id: Annotated[int | None, typer.Option("--id", help="End this lock id instead of the scope's.")] = None,
    note: Annotated[str | None, typer.Option(help="A note recorded with the unlock.")] = None,
    url: UrlOpt = "http://127.0.0.1:8700",
    token: TokenOpt = "",
) -> None:
    """End a lock: by --id, or the active manual lock on exactly this scope."""
    with connect(url, token) as client:
        if lock_id is None:
            if not environment:
                fail("give --environment (and --service) or --id", 2)
            response = call(client, "GET", "/api/v1/locks", params={"state": "active", "environment": environment})
            if response.status_code != 200:
                fail(error_line(response))
            matches = [
                lk
                for lk in response.json()["items"]
                if lk["kind"] == "manual" and lk["service"] == (service or None)
            ]
            if not matches:
                scope = environment + (f"/{service}" if service else "")
                fail(f"no active manual lock on {scope}")
            lock_id = matches[0]["id"]
        response = call(client, "DELETE", f"/api/v1/locks/{lock_id}", params={"note": note} if note else None)
    if response.status_code != 200:
        fail(error_line(response))
    lk = response.json()
    out.print(f"unlocked {_scope(lk)} (lock {lk['id']})", markup=False)


# ---------------------------------------------------------------- schedule preview

schedule_app = typer.Typer(help="The schedule of closed periods, offline.")


class _AnyVariable(dict):
    """The environment for reading a config in CI: a ``${VAR}`` that is not set reads as a placeholder.

    A schedule never depends on secrets, and the job that previews a config change has none.
    """

    def __contains__(self, name: object) -> bool:
        return True

    def __missing__(self, name: str) -> str:
        return f"preview-placeholder-{name.lower()}"


def _load(path: str | None):
    import os

    from shiplane.settings import Config, ConfigError, load_config_file

    if not path:
        return Config()
    try:
        return load_config_file(path, env=_AnyVariable(os.environ))
    except ConfigError as exc:
        for line in exc.lines():
            err.print(line, markup=False, soft_wrap=True)
        raise typer.Exit(2) from None


@schedule_app.command("preview")
def schedule_preview(
    config: Annotated[str, typer.Option("--config", help="The new config file (TOML).")],
    against: Annotated[
        str | None,
        typer.Option("--against", help="The config to compare with. Default: SHIPLANE_CONFIG, else an empty configuration."),
    ] = None,
    days: Annotated[int, typer.Option(min=1, max=400, help="How many days ahead, from now.")] = 90,
    environment: Annotated[str | None, typer.Option(help="Only this environment.")] = None,
) -> None:
    """List the closed periods NEW adds or removes compared with OLD: exit 0 when none, 1 when some, 2 on a bad config."""
    import os

    from shiplane.locks.preview import diff

    old_path = against if against is not None else os.environ.get("SHIPLANE_CONFIG") or None
    new, old = _load(config), _load(old_path)
    changes = diff(old, new, clock.now(), days, environment)
    if not changes:
        out.print(f"no change in closed periods over the next {days} days", markup=False)
        return
    header = ("environment", "change", "kind", "reason", "start (UTC)", "end (UTC)")
    rows = [(c.scope, c.change, c.kind, c.reason, clock.iso(c.start) or "", clock.iso(c.end) or "") for c in changes]
    widths = [max(len(r[i]) for r in (header, *rows)) for i in range(len(header) - 1)]
    for row in (header, *rows):
        out.print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=False)) + "  " + row[-1], markup=False, soft_wrap=True)
    raise typer.Exit(1)
