"""The ``shiplane`` command.

Server-side commands (serve, worker, db, config, token, user) work on the
database directly; client commands (deploy, gate, lock, unlock, dora) are a
thin client of the HTTP API at ``--url``/``SHIPLANE_URL``.
"""

from __future__ import annotations

import sys
import time
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console

from shiplane import clock
from shiplane.settings import ConfigError, Settings, load_settings

app = typer.Typer(
    help="Shiplane: deployment mission control.", no_args_is_help=True, add_completion=False, rich_markup_mode=None
)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
config_app = typer.Typer(help="Configuration file.", no_args_is_help=True)
token_app = typer.Typer(help="API tokens.", no_args_is_help=True)
user_app = typer.Typer(help="Dashboard users.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(config_app, name="config")
app.add_typer(token_app, name="token")
app.add_typer(user_app, name="user")

err = Console(stderr=True, highlight=False, soft_wrap=True)
out = Console(highlight=False, soft_wrap=True)

ConfigOpt = Annotated[str | None, typer.Option("--config", "-c", help="TOML config file (or SHIPLANE_CONFIG).")]
UrlOpt = Annotated[str, typer.Option("--url", envvar="SHIPLANE_URL", help="Shiplane server URL.")]
TokenOpt = Annotated[str, typer.Option("--token", envvar="SHIPLANE_TOKEN", help="API token.", show_default=False)]


def fail(message: str, code: int = 1) -> NoReturn:
    err.print(f"error: {message}", markup=False, soft_wrap=True)
    raise typer.Exit(code)


def _settings(config: str | None, **overrides: Any) -> Settings:
    try:
        return load_settings(config, **overrides)
    except ConfigError as exc:
        for line in exc.lines():
            err.print(line, markup=False, soft_wrap=True)
        raise typer.Exit(2) from None


def _database(settings: Settings):
    """For commands that write to the database directly (token, user): schema only, no side effects."""
    from shiplane.app import OutdatedSchema, ensure_schema
    from shiplane.db import Database

    db = Database(settings.database_url, pool_size=2)
    try:
        ensure_schema(db)
    except OutdatedSchema as exc:
        fail(str(exc), 3)
    return db


# ---------------------------------------------------------------- server side


@app.command()
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

    settings = _settings(config, host=host, port=port)
    db = Database(settings.database_url)
    try:
        prepare_database(db, settings, migrate=migrate)
    except OutdatedSchema as exc:
        fail(str(exc), 3)
    application = create_app(settings, db=db, worker=not no_worker, prepared=True)
    uvicorn.run(
        application,
        host=settings.host,
        port=settings.port,
        access_log=access_log,
        log_level="info",
        timeout_graceful_shutdown=5,
    )


@app.command()
def worker(config: ConfigOpt = None) -> None:
    """Run the background worker only (scheduler and outbound deliveries)."""
    import anyio

    from shiplane.app import OutdatedSchema, make_worker, new_context, prepare_database
    from shiplane.db import Database
    from shiplane.enforcement.runtime import Enforcement

    settings = _settings(config)
    db = Database(settings.database_url, pool_size=4)
    try:
        prepare_database(db, settings)
    except OutdatedSchema as exc:
        fail(str(exc), 3)
    ctx = new_context(settings, db)
    ctx.enforcement = Enforcement(settings, db, ctx.schedule)
    err.print(f"shiplane worker running on {db.engine.url.render_as_string(hide_password=True)}")

    async def main() -> None:
        try:
            await make_worker(ctx).run_forever()
        finally:
            await ctx.enforcement.close()

    try:
        anyio.run(main)
    except KeyboardInterrupt:
        pass


@db_app.command("upgrade")
def db_upgrade(config: ConfigOpt = None) -> None:
    """Apply Alembic migrations up to the newest schema."""
    from shiplane import migrate
    from shiplane.db import Database

    settings = _settings(config)
    db = Database(settings.database_url, pool_size=1)
    migrate.upgrade(db.engine)
    out.print(f"database at revision {migrate.current(db.engine)}")


@config_app.command("check")
def config_check(config: ConfigOpt = None) -> None:
    """Validate the config file: exit 0, or print FILE: key: reason lines and exit 2."""
    settings = _settings(config)
    where = settings.config_path or "(no config file: defaults)"
    out.print(f"{where}: ok", markup=False)


@token_app.command("create")
def token_create(
    name: Annotated[str, typer.Option(help="A name to recognise the token by.")],
    role: Annotated[str, typer.Option(help="viewer, deployer or admin.")],
    config: ConfigOpt = None,
) -> None:
    """Print a new API token (shown once) as the last line of stdout."""
    from shiplane.auth import service
    from shiplane.errors import DomainError

    db = _database(_settings(config))
    try:
        with db.write() as conn:
            token = service.create_token(conn, name, role, clock.now())
    except DomainError as exc:
        fail(exc.detail, 2)
    print(f"created {role} token {name!r}; it is shown only once:", file=sys.stderr)
    print(token)


@user_app.command("create")
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
    db = _database(_settings(config))
    try:
        with db.write() as conn:
            service.create_user(conn, username, role, password, clock.now())
    except DomainError as exc:
        fail(exc.detail, 2)
    out.print(f"created {role} user {username!r}", markup=False)


# ---------------------------------------------------------------- HTTP client side


def _client(url: str, token: str):
    import httpx

    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.Client(base_url=url.rstrip("/"), headers=headers, timeout=30.0)


def _call(client: Any, method: str, path: str, **kwargs: Any) -> Any:
    import httpx

    try:
        return client.request(method, path, **kwargs)
    except httpx.HTTPError as exc:
        fail(f"cannot reach {client.base_url}: {exc}")


def _error_line(response: Any) -> str:
    try:
        body = response.json()
    except ValueError:
        return f"HTTP {response.status_code}: {response.text.strip()[:300]}"
    if isinstance(body, dict):
        return f"{body.get('error', response.status_code)}: {body.get('detail', '')}"
    return f"HTTP {response.status_code}"


def _blocker_line(b: dict[str, Any]) -> str:
    parts = [b.get("kind", "?"), b.get("reason") or ""]
    if b.get("by"):
        parts.append(f"by {b['by']}")
    if b.get("until"):
        parts.append(f"until {b['until']}")
    return " — ".join(p for p in parts if p)


def _print_gate(gate: dict[str, Any]) -> None:
    scope = gate["environment"] + (f"/{gate['service']}" if gate.get("service") else "")
    if gate["allowed"]:
        out.print(f"{scope}: open", markup=False)
    else:
        out.print(f"{scope}: blocked", markup=False)
        for b in gate.get("blockers", []):
            out.print(f"  {_blocker_line(b)}", markup=False)
    if gate.get("next_change_at"):
        out.print(f"  next change at {gate['next_change_at']}", markup=False)


def _wait_for_gate(client: Any, params: dict[str, Any], seconds: float) -> dict[str, Any]:
    """Poll the gate until it opens or time runs out, sleeping until its next change when known."""
    deadline = time.monotonic() + seconds
    delay = 2.0
    while True:
        response = _call(client, "GET", "/api/v1/gate", params=params)
        if response.status_code != 200:
            fail(_error_line(response))
        gate = response.json()
        remaining = deadline - time.monotonic()
        if gate["allowed"] or remaining <= 0:
            return gate
        pause = min(delay, remaining)
        if gate.get("next_change_at"):
            until = (clock.as_utc(_parse_iso(gate["next_change_at"])) - clock.now()).total_seconds()
            pause = min(max(until, 1.0), remaining, 60.0)
        time.sleep(max(pause, 0.2))
        delay = min(delay * 1.5, 30.0)


def _parse_iso(value: str):
    from datetime import datetime

    return datetime.fromisoformat(value.replace("Z", "+00:00"))


@app.command()
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
    with _client(url, token) as client:
        if wait_for_gate > 0 and not override_reason:
            gate = _wait_for_gate(client, {"environment": environment, "service": service}, wait_for_gate)
            if not gate["allowed"]:
                _print_gate(gate)
                fail(f"gate still closed after {wait_for_gate:g}s")
        response = _call(client, "POST", "/api/v1/deploys", json=body)
    if response.status_code not in (200, 201):
        data = response.json() if "json" in response.headers.get("content-type", "") else {}
        for b in data.get("blockers", []) if isinstance(data, dict) else []:
            err.print(f"  {_blocker_line(b)}", markup=False)
        fail(_error_line(response))
    d = response.json()
    # 200: a repeat of the latest deploy, or the end of the started deploy of this sha
    verb = "registered" if response.status_code == 201 else "recorded on existing"
    extra = " (override)" if d.get("override") else (" (during lock)" if d.get("during_lock") else "")
    out.print(f"{verb} deploy {d['id']}: {d['service']} {d['sha'][:12]} → {d['environment']} {d['status']}{extra}")


@app.command()
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
    with _client(url, token) as client:
        if at:
            response = _call(client, "GET", "/api/v1/gate", params=params | {"at": at})
            if response.status_code != 200:
                fail(_error_line(response))
            result = response.json()
        else:
            result = _wait_for_gate(client, params, wait)
    _print_gate(result)
    raise typer.Exit(0 if result["allowed"] else 1)


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
        return clock.iso(clock.as_utc(_parse_iso(value)))
    except ValueError:
        fail(f"--expires: not a duration like '30m' or an ISO date-time: {value!r}", 2)


@app.command()
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
    with _client(url, token) as client:
        response = _call(client, "POST", "/api/v1/locks", json=body)
    if response.status_code != 201:
        fail(_error_line(response))
    lk = response.json()
    scope = lk["environment"] + (f"/{lk['service']}" if lk["service"] else "")
    until = f" until {lk['expires_at']}" if lk["expires_at"] else ""
    out.print(f"locked {scope} (lock {lk['id']}){until}: {lk['reason']}", markup=False)


@app.command()
def unlock(
    environment: Annotated[str | None, typer.Option(help="Environment slug.")] = None,
    service: Annotated[str | None, typer.Option(help="Service slug (for a service lock).")] = None,
    lock_id: Annotated[int | None, typer.Option("--id", help="End this lock id instead of the scope's.")] = None,
    note: Annotated[str | None, typer.Option(help="A note recorded with the unlock.")] = None,
    url: UrlOpt = "http://127.0.0.1:8700",
    token: TokenOpt = "",
) -> None:
    """End a lock: by --id, or the active manual lock on exactly this scope."""
    with _client(url, token) as client:
        if lock_id is None:
            if not environment:
                fail("give --environment (and --service) or --id", 2)
            response = _call(client, "GET", "/api/v1/locks", params={"active": "true", "environment": environment})
            if response.status_code != 200:
                fail(_error_line(response))
            matches = [
                lk
                for lk in response.json()["items"]
                if lk["kind"] == "manual" and lk["service"] == (service or None)
            ]
            if not matches:
                scope = environment + (f"/{service}" if service else "")
                fail(f"no active manual lock on {scope}")
            lock_id = matches[0]["id"]
        response = _call(client, "DELETE", f"/api/v1/locks/{lock_id}", params={"note": note} if note else None)
    if response.status_code != 200:
        fail(_error_line(response))
    lk = response.json()
    scope = lk["environment"] + (f"/{lk['service']}" if lk["service"] else "")
    out.print(f"unlocked {scope} (lock {lk['id']})", markup=False)


def _read_series(path: str) -> list[float]:
    """One number per line, or CSV with a header and a `value` column (NAB style). Blank lines skipped."""
    import csv

    try:
        with open(path, newline="") as fh:
            text = fh.read()
    except OSError as exc:
        fail(f"{path}: {exc.strerror}", 2)
    lines = [line for line in text.splitlines() if line.strip()]
    if lines and "," in lines[0]:
        reader = csv.DictReader(lines)
        if not reader.fieldnames or "value" not in reader.fieldnames:
            fail(f"{path}: a CSV needs a 'value' column", 2)
        rows = [row["value"] for row in reader]
    else:
        rows = lines
    try:
        return [float(v) for v in rows]
    except ValueError as exc:
        fail(f"{path}: not a number: {exc}", 2)


@app.command()
def judge(
    baseline: Annotated[str, typer.Option(help="File: the baseline series.")],
    current: Annotated[str, typer.Option(help="File: the current series.")],
    regression: Annotated[str, typer.Option(help="increase, decrease or any: which direction is bad.")] = "increase",
    name: Annotated[str, typer.Option(help="Metric name for the report.")] = "metric",
    as_json: Annotated[bool, typer.Option("--json", help="Print the verdict as JSON.")] = False,
) -> None:
    """Judge two series offline; exit 0 when healthy, 1 otherwise."""
    import json

    from shiplane.health.judge import MetricInput
    from shiplane.health.judge import judge as run_judge

    if regression not in ("increase", "decrease", "any"):
        fail(f"--regression must be increase, decrease or any (got {regression!r})", 2)
    verdict = run_judge([MetricInput(name=name, baseline=_read_series(baseline), current=_read_series(current), regression=regression)])
    if as_json:
        print(json.dumps(verdict.to_dict(), indent=2))
    else:
        for m in verdict.metrics:
            out.print(f"{m.name}: {m.health} — {m.reason}", markup=False)
    raise typer.Exit(0 if verdict.health == "healthy" else 1)


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f}{unit}"
    return f"{seconds:.0f}s"


@app.command()
def dora(
    environment: Annotated[str | None, typer.Option(help="Environment slug (default: production).")] = None,
    service: Annotated[str | None, typer.Option(help="Service slug (default: all).")] = None,
    since: Annotated[str | None, typer.Option(help="Start, inclusive (YYYY-MM-DD or ISO; default: 30 days ago).")] = None,
    until: Annotated[str | None, typer.Option(help="End, exclusive (default: end of today, UTC).")] = None,
    bucket: Annotated[str, typer.Option(help="day, week or month.")] = "day",
    as_json: Annotated[bool, typer.Option("--json", help="Print the API's JSON.")] = False,
    url: UrlOpt = "http://127.0.0.1:8700",
    token: TokenOpt = "",
) -> None:
    """DORA metrics: deploy frequency, lead time, change failure rate, recovery time, rework rate."""
    import json

    params = {k: v for k, v in {"environment": environment, "service": service, "since": since, "until": until, "bucket": bucket}.items() if v}
    with _client(url, token) as client:
        response = _call(client, "GET", "/api/v1/dora", params=params)
    if response.status_code != 200:
        fail(_error_line(response))
    d = response.json()
    if as_json:
        print(json.dumps(d, indent=2))
        return
    df, lt, cfr, rt, rw = (d[k] for k in ("deploy_frequency", "lead_time", "change_failure_rate", "recovery_time", "rework_rate"))
    scope = d["environment"] + (f"/{d['service']}" if d.get("service") else "")
    out.print(f"DORA for {scope}, {d['since']} – {d['until']}", markup=False)
    rate = lambda r: "—" if r is None else f"{r * 100:.1f}%"  # noqa: E731
    rows = [
        ("deploy frequency", f"{df['count']} deploys, {df['per_day']:.2f}/day", df["band"]),
        ("lead time", f"median {_duration(lt['median_seconds'])}, p90 {_duration(lt['p90_seconds'])}", lt["band"]),
        ("change failure rate", f"{rate(cfr['rate'])} ({cfr['failed']}/{cfr['total']})", cfr["band"]),
        ("recovery time", f"median {_duration(rt['median_seconds'])}", rt["band"]),
        ("rework rate", f"{rate(rw['rate'])} ({rw['count']}/{rw['total']})", None),
    ]
    for name, value, band in rows:
        out.print(f"  {name:20s} {value:40s} {band or ''}", markup=False)


def main() -> None:  # pragma: no cover
    app()


if __name__ == "__main__":  # pragma: no cover
    main()

