"""What each dashboard page shows, read from the database in as few statements as possible.

Plain functions of a connection and ``now``; the routes render what they return.
"""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, or_, select
from sqlalchemy.engine import Connection

from shiplane.clock import parse_iso
from shiplane.deploys import service as deploys_service
from shiplane.health import service as health_service
from shiplane.health import words
from shiplane.locks import service as locks_service
from shiplane.tables.catalog import environments, services
from shiplane.tables.deploys import deploys
from shiplane.tables.events import events
from shiplane.tables.health import incidents
from shiplane.tables.locks import locks
from shiplane.web.charts import impact_chart, trend_chart
from shiplane.web.overview import ordered_environments


def deploy_page(conn: Connection, deploy_id: int, now: datetime) -> dict[str, Any]:
    """The deploy with changes and health detail (as the API gives it), its timeline, and what surrounds it."""
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
    # Neighbours in the same scope, by deploy time (ties by id), for previous/next links.
    scope = (deploys.c.service_id == row.service_id, deploys.c.environment_id == row.environment_id)
    older = or_(deploys.c.deployed_at < row.deployed_at, and_(deploys.c.deployed_at == row.deployed_at, deploys.c.id < row.id))
    newer = or_(deploys.c.deployed_at > row.deployed_at, and_(deploys.c.deployed_at == row.deployed_at, deploys.c.id > row.id))
    pick = select(deploys.c.id, deploys.c.sha, deploys.c.deployed_at, deploys.c.status).where(*scope)
    out["previous"] = conn.execute(pick.where(older).order_by(deploys.c.deployed_at.desc(), deploys.c.id.desc()).limit(1)).first()
    out["next"] = conn.execute(pick.where(newer).order_by(deploys.c.deployed_at, deploys.c.id).limit(1)).first()
    out["rollback_target"] = (
        conn.execute(select(deploys.c.id, deploys.c.sha, deploys.c.deployed_at, deploys.c.version).where(deploys.c.id == row.rollback_of)).first()
        if row.rollback_of else None
    )
    # A rollback that went through health blockers (SPEC §8.1) says which.
    out["rollback_allowed"] = next((e["data"] for e in out["timeline"] if e["kind"] == "rollback_allowed"), None)
    out["locks_caused"] = [
        locks_service.to_dict(r, now) for r in conn.execute(locks_service.joined().where(locks.c.deploy_id == deploy_id).order_by(locks.c.created_at))
    ]
    # Incidents stay on the page after they are resolved.
    out["incidents"] = [
        health_service.incident_to_dict(r)
        for r in conn.execute(select(incidents).where(incidents.c.deploy_id == deploy_id).order_by(incidents.c.started_at))
    ]
    out["names"] = {
        "service": conn.execute(select(services.c.name).where(services.c.id == row.service_id)).scalar() or row.service_slug,
        "environment": conn.execute(select(environments.c.name).where(environments.c.id == row.environment_id)).scalar()
        or row.environment_slug,
    }
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


def impact_charts(deploy: dict[str, Any], metric_configs: dict[str, Any], tz: tzinfo = UTC) -> dict[str, dict[str, str]]:
    """Per judged metric: the chart twice (wide; narrow, so its text stays readable on a phone) and one plain sentence."""
    deployed_at = parse_iso(deploy["deployed_at"])
    out = {}
    for m in deploy["health"].get("metrics", []):
        series = m.get("series") or {}
        baseline, current = _points(series.get("baseline")), _points(series.get("current"))
        band = None
        center = m.get("baseline_center")
        cfg = metric_configs.get(m["name"])
        unit = getattr(cfg, "unit", "") or ""
        if isinstance(center, (int, float)) and cfg is not None:
            # The healthy range: from the baseline's centre to where "ailing" begins.
            hi = center * cfg.ailing_ratio if center >= 0 else center / cfg.ailing_ratio
            lo = center / cfg.ailing_ratio if center >= 0 else center * cfg.ailing_ratio
            band = {"increase": (min(lo, center), hi), "decrease": (lo, max(hi, center))}.get(cfg.regression, (lo, hi))
        common = {"baseline": baseline, "current": current, "deploy_at": deployed_at, "band": band, "title": m["name"],
                  "unit": unit, "verdict": m.get("health"), "tz": tz}
        out[m["name"]] = {
            "wide": impact_chart(**common),
            "narrow": impact_chart(**common, width=360, height=220),
            "sentence": words.metric_sentence(m, unit),
        }
    return out


def bucket_day(start: str, tz: str) -> str:
    """The local date (zone `tz`) a bucket of the DORA series starts on: "2026-11-02"."""
    return parse_iso(start).astimezone(ZoneInfo(tz)).date().isoformat()


# The lead-time chart's unit follows the headline's (render.duration): the median's own scale.
_LEAD_UNITS = ((86400.0, "d"), (3600.0, "h"), (60.0, "min"), (1.0, "s"))


def trend_charts(report: dict[str, Any], *, bucket: str = "week", tz: str = "UTC") -> dict[str, str]:
    """The /dora trend charts, in the headline's unit for each metric.

    Points sit at each bucket's start as a local date of the DORA zone `tz` (the
    series gives UTC instants: 2026-11-01T23:00:00Z is November 2 in Berlin).
    Deploys are per day, like the headline: a bucket's count over the days of it
    inside the range, so the partial last bucket and a first one cut by `since`
    are not drawn low. The failure rate is in percent; the lead time in the unit
    the headline median is shown in (d, h, min or s).
    """
    series = report.get("series", [])
    zone = ZoneInfo(tz)
    since, until = parse_iso(report["since"]), parse_iso(report["until"])
    instants = [parse_iso(s["start"]) for s in series]
    starts = [t.astimezone(zone).date() for t in instants]  # as bucket_day
    ends = [*instants[1:], until]
    per_day = []
    for s, begin, end in zip(series, instants, ends, strict=True):
        days = (min(end, until) - max(begin, since)).total_seconds() / 86400
        per_day.append(s["deploys"] / days if days > 0 else None)
    median = report.get("lead_time", {}).get("median_seconds")
    size, lead_unit = next(((f, u) for f, u in _LEAD_UNITS if median is not None and median >= f), (3600.0, "h"))
    lead = [s["median_lead_time_seconds"] for s in series]
    failed = [100 * s["failed"] / s["deploys"] if s["deploys"] else None for s in series]
    return {
        "deploys": trend_chart(points=list(zip(starts, per_day, strict=True)), title="Deploys a day per bucket",
                               unit="a day", bucket=bucket),
        # In percent, like the headline ("3.2%", not "0.032"): one unit per metric.
        "failed": trend_chart(points=list(zip(starts, failed, strict=True)), title="Failure rate per bucket", unit="%",
                              bucket=bucket),
        "lead": trend_chart(
            points=list(zip(starts, [v / size if v is not None else None for v in lead], strict=True)),
            title="Median lead time per bucket",
            unit=lead_unit,
            bucket=bucket,
        ),
    }
