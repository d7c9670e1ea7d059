"""What each dashboard page shows, read from the database in as few statements as possible.

Plain functions of a connection and ``now``; the routes render what they return.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Connection

from shiplane.clock import parse_iso
from shiplane.deploys import service as deploys_service
from shiplane.locks import service as locks_service
from shiplane.tables.catalog import services
from shiplane.tables.events import events
from shiplane.web.charts import impact_chart, trend_chart
from shiplane.web.overview import ordered_environments


def deploy_page(conn: Connection, deploy_id: int) -> dict[str, Any]:
    """The deploy with changes and health detail (as the API gives it), plus its timeline."""
    out = deploys_service.get(conn, deploy_id)
    row = deploys_service.get_row(conn, deploy_id)
    out["health_detail"] = row.health_detail or {}
    out["commit_count"] = row.commit_count
    out["timeline"] = [
        {"at": e.at, "kind": e.kind, "actor": e.actor, "data": e.data or {}}
        for e in conn.execute(
            select(events).where(events.c.deploy_id == deploy_id).order_by(events.c.at, events.c.id).limit(200)
        )
    ]
    return out


def locks_page(conn: Connection, now: datetime, *, limit: int = 100) -> dict[str, Any]:
    return {
        "active": locks_service.list_locks(conn, now=now, active=True, limit=1000),
        "past": locks_service.list_locks(conn, now=now, active=False, limit=limit),
    } | catalog(conn)


def catalog(conn: Connection) -> dict[str, Any]:
    envs = ordered_environments(conn)
    svcs = conn.execute(select(services.c.slug, services.c.name).order_by(services.c.slug)).all()
    return {
        "environments": [e.slug for e in envs],
        "services": [s.slug for s in svcs],
        # What people call them (the overview's names), for forms and headings.
        "environment_names": {e.slug: e.name or e.slug for e in envs},
        "service_names": {s.slug: s.name or s.slug for s in svcs},
        "production": next((e.slug for e in envs if e.production), None),
    }


def _points(raw: list[Any]) -> list[tuple[datetime, float]]:
    out = []
    for item in raw or []:
        try:
            at, value = item
            out.append((parse_iso(str(at)), float(value)))
        except (TypeError, ValueError):
            continue
    return out


def impact_charts(deploy: dict[str, Any], metric_configs: dict[str, Any]) -> dict[str, str]:
    """One SVG per judged metric from the series stored with the verdict (none stored: no chart)."""
    deployed_at = parse_iso(deploy["deployed_at"])
    out = {}
    for m in deploy["health"].get("metrics", []):
        series = m.get("series") or {}
        baseline, current = _points(series.get("baseline")), _points(series.get("current"))
        band = None
        center = m.get("baseline_center")
        cfg = metric_configs.get(m["name"])
        if isinstance(center, (int, float)) and cfg is not None:
            # The healthy range: from the baseline's centre to where "ailing" begins.
            hi = center * cfg.ailing_ratio if center >= 0 else center / cfg.ailing_ratio
            lo = center / cfg.ailing_ratio if center >= 0 else center * cfg.ailing_ratio
            band = {"increase": (min(lo, center), hi), "decrease": (lo, max(hi, center))}.get(cfg.regression, (lo, hi))
        out[m["name"]] = impact_chart(
            baseline=baseline, current=current, deploy_at=deployed_at, band=band, title=m["name"],
            unit=getattr(cfg, "unit", "") or "", verdict=m.get("health"),
        )
    return out


def trend_charts(report: dict[str, Any]) -> dict[str, str]:
    series = report.get("series", [])
    starts = [date.fromisoformat(s["start"][:10]) for s in series]
    lead = [s["median_lead_time_seconds"] for s in series]
    return {
        "deploys": trend_chart(points=list(zip(starts, [float(s["deploys"]) for s in series])), title="Deploys per bucket"),
        "failed": trend_chart(
            points=list(zip(starts, [s["failed"] / s["deploys"] if s["deploys"] else None for s in series])),
            title="Failure rate per bucket",
        ),
        "lead": trend_chart(
            points=list(zip(starts, [v / 3600 if v is not None else None for v in lead])), title="Median lead time", unit="h"
        ),
    }
