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
    until: Annotated[str | None, typer.Option(help="End, exclusive (default: end of today, UTC).")] = None,
    bucket: Annotated[str, typer.Option(help="day, week or month.")] = "day",
    as_json: Annotated[bool, typer.Option("--json", help="Print the API's JSON.")] = False,
    url: UrlOpt = "http://127.0.0.1:8700",
    token: TokenOpt = "",
) -> None:
    """DORA metrics: deploy frequency, lead time, change failure rate, recovery time, rework rate."""
    import json

    params = {k: v for k, v in {"environment": environment, "service": service, "since": since, "until": until, "bucket": bucket}.items() if v}
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
        ("lead time", f"median {_duration(lt['median_seconds'])}, p90 {_duration(lt['p90_seconds'])}", lt["band"]),
        ("change failure rate", f"{rate(cfr['rate'])} ({cfr['failed']}/{cfr['total']})", cfr["band"]),
        ("recovery time", f"median {_duration(rt['median_seconds'])}", rt["band"]),
        ("rework rate", f"{rate(rw['rate'])} ({rw['count']}/{rw['total']})", None),
    ]
    for name, value, band in rows:
        out.print(f"  {name:20s} {value:40s} {band or ''}", markup=False)
