"""``dora``: the DORA metrics of a scope, from the API."""

from __future__ import annotations

from typing import Annotated

import typer

from shiplane.cli.client import call, connect, error_line
from shiplane.cli.common import TokenOpt, UrlOpt, fail, out


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f}{unit}"
    return f"{seconds:.0f}s"


def dora(
    environment: Annotated[str | None, typer.Option(help="Environment slug (default: production).")] = None,
    service: Annotated[str | None, typer.Option(help="Service slug (default: all).")] = None,
    since: Annotated[str | None, typer.Option(help="Start, inclusive (YYYY-MM-DD or ISO; default: 30 days ago).")] = None,
    until: Annotated[str | None, typer.Option(help="End, exclusive (default: now).")] = None,
    bucket: Annotated[str, typer.Option(help="day, week or month.")] = "day",
    explain: Annotated[
        str | None,
        typer.Option(help="List the deploys behind one figure and why they count: deploys, failed, lead_time, recovery or rework."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the API's JSON.")] = False,
    url: UrlOpt = "http://127.0.0.1:8700",
    token: TokenOpt = "",
) -> None:
    """DORA metrics: deploy frequency, lead time, change failure rate, recovery time, rework rate."""
    import json

    params = {k: v for k, v in {"environment": environment, "service": service, "since": since, "until": until, "bucket": bucket}.items() if v}
    if explain is not None:
        _explain(explain, {k: v for k, v in params.items() if k != "bucket"}, as_json, url, token)
        return
    with connect(url, token) as client:
        response = call(client, "GET", "/api/v1/dora", params=params)
    if response.status_code != 200:
        fail(error_line(response))
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
        ("lead time", f"median {_duration(lt['median_seconds'])}, p90 {_duration(lt['p90_seconds'])}"
         + (f", {lt['unknown_commits']} undated" if lt.get("unknown_commits") else ""), lt["band"]),
        ("change failure rate", f"{rate(cfr['rate'])} ({cfr['failed']}/{cfr['total']})", cfr["band"]),
        ("recovery time", f"median {_duration(rt['median_seconds'])}, {rt.get('open', 0)} not recovered", rt["band"]),
        ("rework rate", f"{rate(rw['rate'])} ({rw['count']}/{rw['total']})", None),
    ]
    for name, value, band in rows:
        out.print(f"  {name:20s} {value:40s} {band or ''}", markup=False)


def _why(metric: str, c: dict) -> str:
    if metric == "failed":
        return "; ".join(c["failed_because"])
    if metric == "lead_time":
        parts = [f"{x['sha'][:7]} {_duration(x['seconds'])}" for x in c["lead_times"]]
        if c["unknown_commits"]:
            parts.append(f"{c['unknown_commits']} undated")
        return ", ".join(parts)
    if metric == "recovery":
        how = "not recovered yet" if c["open"] else f"recovered after {_duration(c['recovery_seconds'])} by {c['recovered_by']}"
        return "; ".join(c["failed_because"]) + f" — {how}"
    if metric == "rework":
        return c["rework_because"] or ""
    return "counted"


def _explain(metric: str, params: dict, as_json: bool, url: str, token: str) -> None:
    """Every page of GET /api/v1/dora/deploys for one metric, newest first."""
    import json

    items: list[dict] = []
    body: dict = {}
    with connect(url, token) as client:
        cursor = None
        while True:
            response = call(client, "GET", "/api/v1/dora/deploys", params=params | {"metric": metric, "limit": 200}
                            | ({"cursor": cursor} if cursor else {}))
            if response.status_code != 200:
                fail(error_line(response))
            body = response.json()
            items += body["items"]
            cursor = body["next_cursor"]
            if not cursor:
                break
    if as_json:
        print(json.dumps(items, indent=2))
        return
    out.print(f"{metric} for {body['environment']}, {body['since']} – {body['until']}: {len(items)} deploys", markup=False)
    for d in items:
        out.print(f"  #{d['id']:<7} {d['deployed_at'][:16]} {d['service']:<16} {d['sha'][:7]}  {_why(metric, d['contribution'])}",
                  markup=False)
