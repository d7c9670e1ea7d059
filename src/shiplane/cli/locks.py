"""``lock`` and ``unlock``: stop deploys to a scope with a reason, and end that."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from shiplane import clock
from shiplane.cli.client import call, connect, error_line, from_iso
from shiplane.cli.common import TokenOpt, UrlOpt, fail, out


def _expires(value: str | None) -> str | None:
    """'30m', '2h', '1d' from now, or an ISO instant."""
    if not value:
        return None
    from shiplane.settings import parse_duration

    try:
        return clock.iso(clock.now() + parse_duration(value))
    except ValueError:
        pass
    try:
        return clock.iso(clock.as_utc(from_iso(value)))
    except ValueError:
        fail(f"--expires: not a duration like '30m' or an ISO date-time: {value!r}", 2)


def lock(
    environment: Annotated[str, typer.Option(help="Environment slug.")],
    reason: Annotated[str, typer.Option(help="Why deploys must stop (required).")],
    service: Annotated[str | None, typer.Option(help="Lock only this service.")] = None,
    expires: Annotated[str | None, typer.Option(help="Duration ('2h') or ISO instant when the lock ends.")] = None,
    url: UrlOpt = "http://127.0.0.1:8700",
    token: TokenOpt = "",
) -> None:
    """Lock an environment (or one service in it) with a reason."""
    body: dict[str, Any] = {"environment": environment, "reason": reason}
    if service:
        body["service"] = service
    if expires:
        body["expires_at"] = _expires(expires)
    with connect(url, token) as client:
        response = call(client, "POST", "/api/v1/locks", json=body)
    if response.status_code != 201:
        fail(error_line(response))
    lk = response.json()
    scope = lk["environment"] + (f"/{lk['service']}" if lk["service"] else "")
    until = f" until {lk['expires_at']}" if lk["expires_at"] else ""
    out.print(f"locked {scope} (lock {lk['id']}){until}: {lk['reason']}", markup=False)


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
            response = call(client, "GET", "/api/v1/locks", params={"active": "true", "environment": environment})
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
    scope = lk["environment"] + (f"/{lk['service']}" if lk["service"] else "")
    out.print(f"unlocked {scope} (lock {lk['id']})", markup=False)
