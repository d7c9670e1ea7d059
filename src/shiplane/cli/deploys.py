"""``deploy`` and ``gate``: register a deploy, or ask whether one may go now
(optionally waiting for the gate to open)."""

from __future__ import annotations

import time
from typing import Annotated, Any

import typer

from shiplane import clock
from shiplane.cli.client import blocker_line, call, connect, error_line, from_iso
from shiplane.cli.common import TokenOpt, UrlOpt, err, fail, out


def _print_gate(gate: dict[str, Any]) -> None:
    scope = gate["environment"] + (f"/{gate['service']}" if gate.get("service") else "")
    if gate["allowed"]:
        out.print(f"{scope}: open", markup=False)
    else:
        out.print(f"{scope}: blocked", markup=False)
        for b in gate.get("blockers", []):
            out.print(f"  {blocker_line(b)}", markup=False)
    if gate.get("next_change_at"):
        out.print(f"  next change at {gate['next_change_at']}", markup=False)


def _wait_for_gate(client: Any, params: dict[str, Any], seconds: float) -> dict[str, Any]:
    """Poll the gate until it opens or time runs out, sleeping until its next change when known."""
    deadline = time.monotonic() + seconds
    delay = 2.0
    while True:
        response = call(client, "GET", "/api/v1/gate", params=params)
        if response.status_code != 200:
            fail(error_line(response))
        gate = response.json()
        remaining = deadline - time.monotonic()
        if gate["allowed"] or remaining <= 0:
            return gate
        pause = min(delay, remaining)
        if gate.get("next_change_at"):
            until = (clock.as_utc(from_iso(gate["next_change_at"])) - clock.now()).total_seconds()
            pause = min(max(until, 1.0), remaining, 60.0)
        time.sleep(max(pause, 0.2))
        delay = min(delay * 1.5, 30.0)


def deploy(
    service: Annotated[str, typer.Option(help="Service slug.")],
    environment: Annotated[str, typer.Option(help="Environment slug.")],
    sha: Annotated[str, typer.Option(help="Commit sha (7-64 hex characters).")],
    url: UrlOpt = "http://127.0.0.1:8700",
    token: TokenOpt = "",
    status: Annotated[str, typer.Option(help="started, succeeded or failed.")] = "succeeded",
    override_reason: Annotated[str | None, typer.Option(help="Deploy through a closed gate; audited.")] = None,
    wait_for_gate: Annotated[float, typer.Option(help="Wait up to SECONDS for a closed gate to open.")] = 0,
    version: Annotated[str | None, typer.Option(help="Version label.")] = None,
    tag: Annotated[list[str] | None, typer.Option("--tag", help="Tag (repeatable).")] = None,
) -> None:
    """Register a deploy."""
    body: dict[str, Any] = {"service": service, "environment": environment, "sha": sha, "status": status}
    if override_reason:
        body["override_reason"] = override_reason
    if version:
        body["version"] = version
    if tag:
        body["tags"] = tag
    with connect(url, token) as client:
        if wait_for_gate > 0 and not override_reason:
            gate = _wait_for_gate(client, {"environment": environment, "service": service}, wait_for_gate)
            if not gate["allowed"]:
                _print_gate(gate)
                fail(f"gate still closed after {wait_for_gate:g}s")
        response = call(client, "POST", "/api/v1/deploys", json=body)
    if response.status_code not in (200, 201):
        data = response.json() if "json" in response.headers.get("content-type", "") else {}
        for b in data.get("blockers", []) if isinstance(data, dict) else []:
            err.print(f"  {blocker_line(b)}", markup=False)
        fail(error_line(response))
    d = response.json()
    # 200: a repeat of the latest deploy, or the end of the started deploy of this sha
    verb = "registered" if response.status_code == 201 else "recorded on existing"
    extra = " (override)" if d.get("override") else (" (during lock)" if d.get("during_lock") else "")
    out.print(f"{verb} deploy {d['id']}: {d['service']} {d['sha'][:12]} → {d['environment']} {d['status']}{extra}")


def gate(
    environment: Annotated[str, typer.Option(help="Environment slug.")],
    service: Annotated[str | None, typer.Option(help="Service slug.")] = None,
    wait: Annotated[float, typer.Option(help="Wait up to SECONDS for the gate to open.")] = 0,
    at: Annotated[str | None, typer.Option(help="Evaluate schedules at this ISO instant (what-if).")] = None,
    url: UrlOpt = "http://127.0.0.1:8700",
    token: TokenOpt = "",
) -> None:
    """Print the gate; exit 0 if open, 1 if blocked (for CI pipelines)."""
    params: dict[str, Any] = {"environment": environment}
    if service:
        params["service"] = service
    with connect(url, token) as client:
        if at:
            response = call(client, "GET", "/api/v1/gate", params=params | {"at": at})
            if response.status_code != 200:
                fail(error_line(response))
            result = response.json()
        else:
            result = _wait_for_gate(client, params, wait)
    _print_gate(result)
    raise typer.Exit(0 if result["allowed"] else 1)
