"""A reference computation: every DORA figure equals an independent plain-Python model, exactly.

A seeded history — two services in two environments, rollbacks (and rollbacks of rollbacks,
and roll-forwards), backdated deploys, deploys at local midnight and in the DST hour, commits
shipped several times and commits without a date, incidents (some on a failed deploy's
watch), health verdicts — is written through the service functions, as the API would. The
model below reads the rows back and applies the definitions of docs/dora.md and SPEC §8.9 in
the plainest way it can: no shiplane.dora code, no numpy, no roll-ups. Every figure of
`dora.report` (roll-ups built for the zone, or read from the deploys for another zone) must
equal it over many random ranges, scopes, buckets and zones, on both databases, before and
right after a burst of backdated writes.
"""

from __future__ import annotations

import math
import random
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, update

from shiplane.deploys import register as deploys_register
from shiplane.deploys import service as deploys_service
from shiplane.deploys.schemas import DeployIn
from shiplane.dora import metrics, refresh
from shiplane.dora import service as dora
from shiplane.dora.bands import band
from shiplane.errors import DomainError
from shiplane.health import service as health_service
from shiplane.tables.catalog import environments, services
from shiplane.tables.deploys import deploy_commits, deploys
from shiplane.tables.health import incidents
from tests.conftest import sha, wipe

START = datetime(2026, 3, 20, 0, 0, tzinfo=UTC)  # Europe/Berlin springs forward on 2026-03-29
DAYS = 21
FAILING = ("incident", "unhealthy")
ZONES = ("UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata")
SERVICES = ("web", "api")
ENVIRONMENTS = ("production", "staging")
NOW = START + timedelta(days=DAYS + 5)


# ---------------------------------------------------------------- the history


def _instant(rng: random.Random) -> datetime:
    day = START + timedelta(days=rng.randrange(DAYS))
    pick = rng.random()
    if pick < 0.1:  # local midnight in Berlin (23:00 or 22:00 UTC)
        return day.replace(hour=22 if day >= datetime(2026, 3, 29, tzinfo=UTC) else 23)
    if pick < 0.15:  # the DST hour
        return datetime(2026, 3, 29, 1, rng.randrange(60), tzinfo=UTC)
    return day + timedelta(minutes=rng.randrange(24 * 60))


def write_history(db, rng: random.Random, n: int, *, backdated_only: bool = False) -> None:
    """`n` registrations with commits, health, incidents and rollbacks, in a random order of time."""
    shas: dict[tuple[str, str], list[int]] = defaultdict(list)
    with db.read() as conn:
        for r in conn.execute(select(deploys.c.sha, services.c.slug, environments.c.slug.label("env"))
                              .join(services, services.c.id == deploys.c.service_id)
                              .join(environments, environments.c.id == deploys.c.environment_id)):
            shas[(r.slug, r.env)].append(int(r.sha[:8], 16))
    next_sha = 1 + max([s for v in shas.values() for s in v] + [0])
    with db.write() as conn:
        for _ in range(n):
            service, environment = rng.choice(SERVICES), rng.choice(ENVIRONMENTS)
            at = _instant(rng)
            if backdated_only:
                at = START + timedelta(minutes=rng.randrange(3 * 24 * 60))
            known = shas[(service, environment)]
            if known and rng.random() < 0.25:
                number = rng.choice(known)  # a re-deploy: rollback, roll-forward or repeat
            else:
                number, next_sha = next_sha, next_sha + 1
            known.append(number)
            commits = []
            for k in range(rng.randrange(4)):
                # Commits shared between deploys (a pool of 60): shipped again, or first by a backdated deploy.
                c = rng.randrange(60) if rng.random() < 0.5 else 1000 + number * 10 + k
                dated = rng.random() < 0.9
                commit_at = at - timedelta(minutes=rng.randrange(-30, 5 * 24 * 60))
                commits.append({"revision": sha(f"c{c}"), **({"date": commit_at.isoformat()} if dated else {})})
            status = rng.choice(("succeeded",) * 8 + ("failed", "started"))
            body = {"service": service, "environment": environment, "sha": f"{number:08x}" + "0" * 32, "status": status}
            body["started_at" if status == "started" else "finished_at"] = at
            if status != "started":
                body["commits"] = commits
            try:
                registration = deploys_register.register(conn, DeployIn(**body), actor="seed", now=NOW)
            except DomainError:
                continue
            deploy_id = registration.deploy["id"]
            if status == "started" and rng.random() < 0.7:
                try:
                    deploys_service.transition(conn, deploy_id, rng.choice(("succeeded", "failed", "cancelled")), actor="seed",
                                               now=NOW, finished_at=at + timedelta(minutes=rng.randrange(1, 60)))
                except DomainError:
                    pass
            health = rng.choice(("healthy",) * 5 + ("unhealthy", "unhealthy", "ailing", "no_data", "pending", "incident"))
            health_service.set_health(conn, deploy_id, health, reason="seed", actor="seed", now=NOW)
            if rng.random() < 0.08:
                key = f"INC-{deploy_id}"
                trigger = at + timedelta(minutes=rng.randrange(1, 300))
                health_service.report_incident(conn, key=key, state="triggered", environment=environment, service=service,
                                               at=trigger, title=None, url=None, actor="seed", now=NOW)
                if rng.random() < 0.7:
                    health_service.report_incident(conn, key=key, state="resolved", environment=environment, service=None,
                                                   at=trigger + timedelta(minutes=rng.randrange(5, 600)), title=None, url=None,
                                                   actor="seed", now=NOW)


# ---------------------------------------------------------------- the model


def load(conn):
    env = {r.id: r.slug for r in conn.execute(select(environments.c.id, environments.c.slug))}
    svc = {r.id: r.slug for r in conn.execute(select(services.c.id, services.c.slug))}
    ds = [
        {"id": r.id, "service": svc[r.service_id], "environment": env[r.environment_id], "at": r.deployed_at,
         "status": r.status, "health": r.health_state, "rollback": r.rollback_of is not None, "failure": r.dora_failure}
        for r in conn.execute(select(deploys))
    ]
    commits = [(r.deploy_id, r.position, r.sha, r.committed_at) for r in conn.execute(select(deploy_commits))]
    incs = [(r.deploy_id, r.resolved_at) for r in conn.execute(select(incidents)) if r.deploy_id is not None]
    return ds, commits, incs


def percentile(values, q):
    xs = sorted(values)
    if not xs:
        return None
    rank = (len(xs) - 1) * q / 100
    lo = math.floor(rank)
    hi = min(lo + 1, len(xs) - 1)
    return float(xs[lo] + (xs[hi] - xs[lo]) * (rank - lo))


def local_midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=zone).astimezone(UTC)


def buckets(since, until, bucket, zone):
    day = since.astimezone(zone).date()
    if bucket == "week":
        day -= timedelta(days=day.weekday())
    elif bucket == "month":
        day = day.replace(day=1)
    out = []
    while local_midnight(day, zone) < until:
        out.append(local_midnight(day, zone))
        if bucket == "day":
            day += timedelta(days=1)
        elif bucket == "week":
            day += timedelta(days=7)
        else:
            day = date(day.year + day.month // 12, day.month % 12 + 1, 1)
    return out


def model(history, *, environment, service, since, until, bucket, tz, rule="health"):
    ds, commits, incs = history
    zone = ZoneInfo(tz)
    counted = [d for d in ds if d["environment"] == environment and d["status"] in ("succeeded", "rolled_back")]
    if counted:  # the range starts no earlier than the local day of the first deploy
        first = min(d["at"] for d in counted).astimezone(zone).date()
        start = local_midnight(first, zone)
        if since < start < until:
            since = start
    had_incident = {i for i, _ in incs}
    resolved = defaultdict(list)
    for i, r in incs:
        if r is not None:
            resolved[i].append(r.timestamp())
    facts = []
    for s in SERVICES:
        if service and s != service:
            continue
        scope = sorted((d for d in counted if d["service"] == s), key=lambda d: (d["at"], d["id"]))
        health = {d["id"]: "incident" if d["id"] in had_incident else d["health"] for d in scope}
        if rule == "incident":  # an incident fails a deploy, and only its resolution recovers it
            failed = {d["id"]: d["id"] in had_incident for d in scope}  # not a person's "incident" verdict
            restores = dict.fromkeys(failed, False)
        else:
            failed = {d["id"]: d["failure"] is not None or health[d["id"]] in FAILING for d in scope}
            restores = {d["id"]: d["status"] == "succeeded" and d["failure"] is None and health[d["id"]] != "pending"
                        and health[d["id"]] not in FAILING for d in scope}
        recovered = {}
        for i, d in enumerate(scope):
            if failed[d["id"]]:
                after = [e["at"].timestamp() for e in scope[i + 1:] if restores[e["id"]]]
                ends = after[:1] + resolved[d["id"]]
                recovered[d["id"]] = min(ends) if ends else None
        # The first shipper of every commit in this scope.
        first_shipper, seen = {}, set()
        order = {d["id"]: k for k, d in enumerate(scope)}
        for deploy_id, _, commit_sha, commit_at in sorted(
            (c for c in commits if c[0] in order), key=lambda c: (order[c[0]], c[1])
        ):
            if commit_sha not in seen:
                seen.add(commit_sha)
                first_shipper.setdefault(deploy_id, []).append(commit_at)
        for i, d in enumerate(scope):
            if not since <= d["at"] < until:
                continue
            at = d["at"].timestamp()
            prev = scope[i - 1] if i else None
            fix_forward = prev is not None and failed[prev["id"]] and (recovered[prev["id"]] is None or recovered[prev["id"]] >= at)
            back = recovered.get(d["id"])
            mine = first_shipper.get(d["id"], [])
            facts.append({
                "at": d["at"], "failed": failed[d["id"]], "rework": d["rollback"] or fix_forward,
                "recovery": max(0.0, back - at) if failed[d["id"]] and back is not None else None,
                "open": failed[d["id"]] and back is None,
                "leads": [max(0.0, at - c.timestamp()) for c in mine if c is not None],
                "unknown": sum(1 for c in mine if c is None),
            })
    n = len(facts)
    leads = [x for f in facts for x in f["leads"]]
    recoveries = [f["recovery"] for f in facts if f["recovery"] is not None]
    failed_n = sum(f["failed"] for f in facts)
    per_day = n / ((until.timestamp() - since.timestamp()) / 86400)
    cfr = failed_n / n if n else None
    starts = buckets(since, until, bucket, zone)
    series = []
    for k, s in enumerate(starts):
        end = starts[k + 1] if k + 1 < len(starts) else until
        inside = [f for f in facts if s <= f["at"] < end]
        series.append({
            "start": s.strftime("%Y-%m-%dT%H:%M:%SZ"), "deploys": len(inside), "failed": sum(f["failed"] for f in inside),
            "median_lead_time_seconds": percentile([x for f in inside for x in f["leads"]], 50),
        })
    median_lead, median_recovery = percentile(leads, 50), percentile(recoveries, 50)
    return {
        "since": since.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "deploy_frequency": {"count": n, "per_day": per_day, "band": band("deploy_frequency", per_day)},
        "lead_time": {"median_seconds": median_lead, "p90_seconds": percentile(leads, 90), "band": band("lead_time", median_lead),
                      "unknown_commits": sum(f["unknown"] for f in facts)},
        "change_failure_rate": {"rate": cfr, "failed": failed_n, "total": n, "band": band("change_failure_rate", cfr)},
        "recovery_time": {"median_seconds": median_recovery, "band": band("recovery_time", median_recovery),
                          "open": sum(f["open"] for f in facts)},
        "rework_rate": {"rate": sum(f["rework"] for f in facts) / n if n else None, "count": sum(f["rework"] for f in facts), "total": n},
        "series": series,
    }


# ---------------------------------------------------------------- the comparison


def compare(db, rng: random.Random, tz: str, queries: int, rule: str = "health") -> int:
    assert rule in ("health", "incident")
    checked = 0
    with db.read() as conn:
        history = load(conn)
        for _ in range(queries):
            since = START - timedelta(days=2) + timedelta(minutes=30 * rng.randrange(0, (DAYS + 2) * 48))
            if rng.random() < 0.3:  # whole local days: read from the roll-ups
                since = local_midnight(since.astimezone(ZoneInfo(tz)).date(), ZoneInfo(tz))
            until = since + timedelta(hours=rng.choice((1, 7, 24, 24 * 3, 24 * 7, 24 * 30)) + rng.randrange(0, 48))
            kw = dict(environment=rng.choice(ENVIRONMENTS), service=rng.choice((None, *SERVICES)), since=since, until=until,
                      bucket=rng.choice(("day", "week", "month")), tz=tz)
            got = dora.report(conn, failure_states=metrics.failure_rule(rule, FAILING), **kw)
            expected = model(history, rule=rule, **kw)
            assert {k: got[k] for k in expected} == expected, kw
            checked += 1
    return checked


def compare_whole(db, tz: str, rule: str = "health") -> int:
    """Every scope over the whole history: no deploy is left out by the luck of the random ranges."""
    assert rule in ("health", "incident")
    checked = 0
    with db.read() as conn:
        history = load(conn)
        for environment in ENVIRONMENTS:
            for service in (None, *SERVICES):
                kw = dict(environment=environment, service=service, since=START - timedelta(days=2),
                          until=START + timedelta(days=DAYS + 2), bucket="week", tz=tz)
                got = dora.report(conn, failure_states=metrics.failure_rule(rule, FAILING), **kw)
                expected = model(history, rule=rule, **kw)
                assert {k: got[k] for k in expected} == expected, kw
                checked += 1
    return checked


@pytest.mark.parametrize("seed", [19, 23])
def test_every_figure_equals_the_reference_model(db, seed):
    rng = random.Random(seed)
    wipe(db)
    write_history(db, rng, 160)
    with db.read() as conn:
        assert conn.execute(select(deploys.c.id).where(deploys.c.rollback_of.is_not(None))).first(), "no rollback in the history"
    checked = 0
    for tz in ZONES:
        with db.write() as conn:
            refresh.rebuild(conn, tz=tz)  # roll-ups for this zone; the reports for others read the deploys
        checked += compare(db, rng, tz, 12) + compare_whole(db, tz)
        # ...and right after backdated writes (marks outstanding), then after a refresh folded them in.
        write_history(db, rng, 6, backdated_only=True)
        checked += compare(db, rng, tz, 8)
        with db.write() as conn:
            refresh.refresh(conn, tz=tz, failure_states=FAILING)
        checked += compare(db, rng, tz, 4)
    assert checked == 4 * (24 + 6)


def test_the_incident_rule_equals_the_reference_model(db):
    """`[dora] failure = "incident"`: the same history, rule and roll-ups, exactly as the model counts."""
    rng = random.Random(23)
    wipe(db)
    write_history(db, rng, 160)
    rule = metrics.failure_rule("incident", FAILING)
    with db.read() as conn:
        history = load(conn)
    had_incident = {i for i, _ in history[2]}
    unhealthy = {d["id"] for d in history[0] if d["health"] == "unhealthy" or d["failure"] is not None}
    verdicts = {d["id"] for d in history[0] if d["health"] == "incident"} - had_incident
    assert had_incident and unhealthy - had_incident and verdicts, "the history must tell the two rules apart"
    checked = 0
    for tz in ("UTC", "Europe/Berlin"):
        with db.write() as conn:
            refresh.rebuild(conn, tz=tz, failure_states=rule)
        checked += compare(db, rng, tz, 12, "incident") + compare_whole(db, tz, "incident")
        write_history(db, rng, 6, backdated_only=True)
        checked += compare(db, rng, tz, 8, "incident")
        with db.write() as conn:
            refresh.refresh(conn, tz=tz, failure_states=rule)
        checked += compare(db, rng, tz, 4, "incident")
    assert checked == 2 * (24 + 6)


def test_the_model_agrees_with_a_hand_count(db):
    """The model itself, on a history small enough to count by hand."""
    wipe(db)
    t = datetime(2026, 11, 2, 9, tzinfo=UTC)
    c = {"revision": sha("c"), "date": (t - timedelta(hours=2)).isoformat()}
    with db.write() as conn:
        for n, hours, commits in ((1, 0, [c]), (2, 1, [c, {"revision": sha("d")}]), (1, 2, [])):
            deploys_register.register(conn, DeployIn(service="web", environment="production", sha=sha(n),
                                                     finished_at=t + timedelta(hours=hours), commits=commits),
                                      actor="t", now=t + timedelta(days=1))
        conn.execute(update(deploys).values(health_state="healthy"))
    with db.read() as conn:
        got = model(load(conn), environment="production", service=None, since=t - timedelta(days=1), until=t + timedelta(days=1),
                    bucket="day", tz="UTC")
    assert got["since"] == "2026-11-02T00:00:00Z"  # clipped to the first deploy's day
    assert got["deploy_frequency"]["count"] == 3
    assert got["lead_time"]["median_seconds"] == 7200 and got["lead_time"]["unknown_commits"] == 1
    assert got["change_failure_rate"]["failed"] == 1  # deploy 2, rolled back by the third
    assert got["recovery_time"] == {"median_seconds": 3600.0, "band": "high", "open": 0}
    assert got["rework_rate"]["count"] == 1
