"""The health lifecycle replayed on real series: looks at every step, a 60-point window, with history.

The real lifecycle code judges the deploys: ``HealthJudge.tick`` (due deploys, fetch →
judge → record → auto-lock and rollback hook) against a SQLite database, on a virtual
clock passed to ``tick(now)``. The metric source is Prometheus, answered in-process by
an ``httpx.MockTransport`` from the NAB arrays (``../shared/data/series/nab``, 5-minute
points): ``health.step`` is therefore 5 minutes (the series' own resolution), the window
and the baseline are 60 points (300 minutes) and the worker looks every step
(``health.interval`` = the step), from the 8th point on. ``history_days`` is 7: the same
window on each earlier day that the series holds.

Cases (case set in benchmarks/README.md): an instant T is drawn (a series uniformly, then
a point of it) such that [T − 60 points, T + 60 points) lies inside the series and
outside every labelled anomaly window; each case is one deploy at T of a critical metric
(``ailing_ratio`` 1.2, ``unhealthy_ratio`` 1.5, ``auto_lock`` = unhealthy, a rollback
webhook). Unchanged deploys replay the series as it is; regressed deploys have the 60
points after T made +100 % worse (v + |v|), redrawn when those points are mostly zero or
negligible (scaling zeros changes nothing). Each deploy gets its own environment, so
auto-locks do not interfere.

Reported (targets): unchanged deploys ever flagged unhealthy (≤ 1 %) and ever ailing or
worse (≤ 3 %); regressions flagged unhealthy by point 10 (≥ 90 %) and by point 60
(≥ 97 %); the median points to a final healthy verdict on unchanged deploys (≤ 30).
**Today's procedure** side by side: the judge before the sequential verdicts
(``benchmarks/_judge_v1``) applied from scratch at every look on the same points (the
current so far, the history windows up to the same point), acting on the first bad
answer, final only at the end of the window; it is computed in-process, not through the
old lifecycle module. As a check, one stateless call of today's judge on each whole
window must end where the lifecycle's looks ended.

    .venv/bin/python benchmarks/judge_replay.py                      # 1,000 + 500 deploys, a few minutes
    .venv/bin/python benchmarks/judge_replay.py --unchanged 2000 --regressed 1000 --seed 7
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import anyio
import httpx
import numpy as np
from sqlalchemy import select

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
from _judge_v1.judge import MetricInput as OldInput  # noqa: E402
from _judge_v1.judge import judge_metric as old_judge_metric  # noqa: E402
from judge_accuracy import load  # noqa: E402

from shiplane.app import create_app, prepare_database  # noqa: E402
from shiplane.health.judge import MetricInput, judge_metric  # noqa: E402
from shiplane.health.lifecycle import ROLLBACK_JOB, HealthJudge  # noqa: E402
from shiplane.settings import Config, Settings  # noqa: E402
from shiplane.tables.catalog import environments  # noqa: E402
from shiplane.tables.deploys import deploys  # noqa: E402
from shiplane.tables.jobs import jobs  # noqa: E402
from shiplane.tables.locks import locks  # noqa: E402

WINDOW = 60  # points
FIRST_LOOK = 8
STEP = timedelta(minutes=5)  # the NAB series' own resolution
DAY_POINTS = 288
DAYS = 7
VIRTUAL_DEPLOY = datetime(2026, 1, 5, tzinfo=UTC)  # every deploy at the same virtual instant, each with its own data
TOKEN = "replay-admin-token"
TARGETS = {"unhealthy": 1.0, "ailing": 3.0, "by10": 90.0, "by60": 97.0, "median_final": 30}


class Case:
    def __init__(self, name: str, values: np.ndarray, at: int, regressed: bool) -> None:
        self.name, self.values, self.at, self.regressed = name, values, at, regressed

    def value(self, offset: int) -> float | None:
        """The series at ``offset`` points from the deploy (negative: before it); None outside the series."""
        i = self.at + offset
        if not 0 <= i < len(self.values):
            return None
        v = float(self.values[i])
        return v + abs(v) if self.regressed and 0 <= offset < WINDOW else v

    def arrays(self) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
        base = np.array([self.value(k) for k in range(-WINDOW, 0)], float)
        cur = np.array([self.value(k) for k in range(WINDOW)], float)
        hist = []
        for d in range(1, DAYS + 1):
            w = [self.value(k - d * DAY_POINTS) for k in range(WINDOW)]
            if any(x is not None for x in w):
                hist.append(np.array([np.nan if x is None else x for x in w], float))
        return base, cur, hist


def draw(series, seed: int, unchanged: int, regressed: int) -> tuple[list[Case], int]:
    rng = np.random.default_rng(seed)
    names = sorted(series)
    redrawn = 0

    def clean(bad, a, b):
        return not any(x < b and a < y for x, y in bad)

    def one(reg: bool) -> Case:
        nonlocal redrawn
        while True:
            name = names[rng.integers(len(names))]
            t, v, bad = series[name]
            i = int(rng.integers(len(t)))
            if i - WINDOW < 0 or i + WINDOW > len(t) or not clean(bad, t[i - WINDOW], t[i + WINDOW - 1] + 1):
                continue
            if reg and np.mean(np.abs(v[i:i + WINDOW]) > 1e-6 * np.max(np.abs(v))) < 0.5:
                redrawn += 1
                continue
            return Case(name, v, i, reg)

    return [one(False) for _ in range(unchanged)] + [one(True) for _ in range(regressed)], redrawn


def prometheus(cases: list[Case]) -> httpx.MockTransport:
    """query_range for ``case{env="env-<i>"}``: case i's points at the asked step, at virtual times."""
    step_s = STEP.total_seconds()
    origin = VIRTUAL_DEPLOY.timestamp()

    def handler(request: httpx.Request) -> httpx.Response:
        p = request.url.params
        case = cases[int(p["query"].split('"env-')[1].split('"')[0])]
        start, end, step = float(p["start"]), float(p["end"]), float(p["step"])
        values = []
        t = start
        while t <= end:
            offset = (t - origin) / step_s
            v = case.value(int(round(offset))) if abs(offset - round(offset)) < 1e-6 else None
            if v is not None:
                values.append([t, repr(v)])
            t += step
        result = [{"metric": {}, "values": values}] if values else []
        return httpx.Response(200, json={"status": "success", "data": {"resultType": "matrix", "result": result}})

    return httpx.MockTransport(handler)


def config() -> Config:
    minutes = int(STEP.total_seconds() // 60)
    return Config.model_validate({
        "sources": {"prometheus": {"url": "http://prometheus.replay"}},
        "metrics": [{"name": "metric", "source": "prometheus", "query": 'case{env="$environment"}', "critical": True}],
        "health": {"baseline": f"{WINDOW * minutes}m", "window": f"{WINDOW * minutes}m", "step": f"{minutes}m",
                   "history_days": DAYS, "auto_lock": "unhealthy", "rollback_webhook": "https://hooks.replay/rollback"},
    })


class Track:
    """When each deploy's verdict first was what (a point of its window; 0: never)."""

    def __init__(self, n: int) -> None:
        self.unhealthy_at = np.zeros(n, int)  # its critical metric unhealthy
        self.ailing_at = np.zeros(n, int)  # its metric ailing or worse
        self.deploy_unhealthy_at = np.zeros(n, int)  # the deploy unhealthy (an ailing metric alone scores 50)
        self.final_healthy_at = np.zeros(n, int)

    def see(self, i: int, point: int, metric: str | None, deploy: str | None, final_healthy: bool) -> None:
        for attr, hit in (("unhealthy_at", metric == "unhealthy"), ("ailing_at", metric in ("ailing", "unhealthy")),
                          ("deploy_unhealthy_at", deploy == "unhealthy"), ("final_healthy_at", final_healthy)):
            at = getattr(self, attr)
            if hit and not at[i]:
                at[i] = point


def replay_lifecycle(cases: list[Case], workdir: Path) -> tuple[Track, dict[str, int], float]:
    settings = Settings(config=config(), database_url=f"sqlite:///{workdir / 'replay.db'}", bootstrap_token=TOKEN)
    transport = prometheus(cases)
    app = create_app(settings, worker=False, source_transport=transport)
    ctx = app.state.ctx
    prepare_database(ctx.db, settings)
    from fastapi.testclient import TestClient

    with TestClient(app) as client:
        for i in range(len(cases)):
            r = client.post("/api/v1/deploys", headers={"Authorization": f"Bearer {TOKEN}"}, json={
                "service": "web", "environment": f"env-{i}", "sha": f"{i + 1:040x}", "finished_at": VIRTUAL_DEPLOY.isoformat()})
            assert r.status_code == 201, r.text
    with ctx.db.read() as conn:
        case_of = {row.id: int(row.slug.removeprefix("env-")) for row in conn.execute(
            select(deploys.c.id, environments.c.slug).join(environments, environments.c.id == deploys.c.environment_id))}
    track = Track(len(cases))
    judge = HealthJudge(ctx.settings.config, ctx.db, transport=transport)
    started = time.perf_counter()

    async def run() -> None:
        try:
            for point in range(FIRST_LOOK, WINDOW + 1):
                now = VIRTUAL_DEPLOY + point * STEP
                while await judge.tick(now):  # as the worker does: again at once while deploys were due
                    pass
                with ctx.db.read() as conn:
                    rows = conn.execute(select(deploys.c.id, deploys.c.health_state, deploys.c.health_final,
                                               deploys.c.health_detail)).all()
                for row in rows:
                    metric = ((row.health_detail or {}).get("metrics") or [{}])[0].get("health")
                    track.see(case_of[row.id], point, metric, row.health_state,
                              bool(row.health_final and row.health_state == "healthy" and point < WINDOW))
        finally:
            await judge.close()

    anyio.run(run)
    elapsed = time.perf_counter() - started
    with ctx.db.read() as conn:
        acts = {
            "auto-locks": len({r.deploy_id for r in conn.execute(select(locks.c.deploy_id).where(locks.c.kind == "auto"))}),
            "rollback hooks": sum(1 for _ in conn.execute(select(jobs.c.id).where(jobs.c.kind == ROLLBACK_JOB))),
        }
    return track, acts, elapsed


def replay_today(cases: list[Case]) -> Track:
    """Today's procedure: the old judge from scratch at every look; final only at the window's end."""
    track = Track(len(cases))
    for i, case in enumerate(cases):
        base, cur, hist = case.arrays()
        for n in range(FIRST_LOOK, WINDOW + 1):
            v = old_judge_metric(OldInput("metric", base, cur[:n], critical=True, history=[w[:n] for w in hist]))
            # one critical metric: unhealthy makes the deploy unhealthy, and so does ailing (a score of 50)
            track.see(i, n, v.health, "unhealthy" if v.health in ("ailing", "unhealthy") else v.health, False)
            if v.health == "unhealthy":
                break
    return track


def summary(label: str, cases: list[Case], track: Track) -> dict[str, float | str]:
    null = np.array([not c.regressed for c in cases])
    reg = ~null
    final = np.where(track.final_healthy_at[null] > 0, track.final_healthy_at[null], WINDOW)
    never = null & (track.ailing_at == 0)
    return {
        "label": label,
        "unhealthy": 100 * float(np.mean(track.unhealthy_at[null] > 0)),
        "ailing": 100 * float(np.mean(track.ailing_at[null] > 0)),
        "deploy_unhealthy": 100 * float(np.mean(track.deploy_unhealthy_at[null] > 0)),
        "by10": 100 * float(np.mean((track.unhealthy_at[reg] > 0) & (track.unhealthy_at[reg] <= 10))),
        "by60": 100 * float(np.mean(track.unhealthy_at[reg] > 0)),
        "deploy_by10": 100 * float(np.mean((track.deploy_unhealthy_at[reg] > 0) & (track.deploy_unhealthy_at[reg] <= 10))),
        "median_final": float(np.median(final)),
        "final_early": 100 * float(np.mean(track.final_healthy_at[never] > 0)) if never.any() else 0.0,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "series" / "nab")
    ap.add_argument("--seed", type=int, default=20240601)
    ap.add_argument("--unchanged", type=int, default=1000)
    ap.add_argument("--regressed", type=int, default=500)
    ap.add_argument("--no-targets", action="store_true", help="print the targets but do not fail on them (smoke runs)")
    args = ap.parse_args()
    print("command:", shlex.join([".venv/bin/python", "benchmarks/judge_replay.py", *sys.argv[1:]]))
    series = load(args.data)
    cases, redrawn = draw(series, args.seed, args.unchanged, args.regressed)
    print(f"series: {len(series)}; seed {args.seed}; deploys: {args.unchanged} unchanged + {args.regressed} with a +100% "
          f"critical regression; regression draws redrawn (current mostly zero): {redrawn}")
    print(f"step {STEP.total_seconds() / 60:g} min, window and baseline {WINDOW} points, history {DAYS} days, "
          f"looks at points {FIRST_LOOK}..{WINDOW}")

    with tempfile.TemporaryDirectory() as tmp:
        track, acts, elapsed = replay_lifecycle(cases, Path(tmp))
    t0 = time.perf_counter()
    stateless = [judge_metric(MetricInput("metric", *c.arrays()[:2], critical=True, history=c.arrays()[2])) for c in cases]
    agree = np.mean([(v.health != "healthy") == (a > 0) for v, a in zip(stateless, track.ailing_at, strict=True)])
    stateless_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    today = replay_today(cases)
    today_s = time.perf_counter() - t0

    new, old = summary("sequential (new)", cases, track), summary("today's procedure", cases, today)
    print()
    head = (f"{'procedure':22s} {'ever unhealthy':>15s} {'ever ailing+':>13s} {'unh. by pt 10':>14s} "
            f"{'unh. by pt 60':>14s} {'median pts to final healthy':>28s}")
    print(head)
    print("-" * len(head))
    for row in (new, old):
        print(f"{row['label']:22s} {row['unhealthy']:14.2f}% {row['ailing']:12.2f}% {row['by10']:13.1f}% "
              f"{row['by60']:13.1f}% {row['median_final']:28.0f}")
    print("(unchanged deploys: ever unhealthy, ever ailing or worse; +100% regressions: unhealthy by point 10, 60;"
          " the critical metric's verdict)")
    print(f"\ndeploy level (one critical metric: an ailing one alone scores 50, unhealthy): unchanged deploys ever "
          f"unhealthy {new['deploy_unhealthy']:.2f}% (today {old['deploy_unhealthy']:.2f}%), regressions unhealthy by "
          f"point 10 {new['deploy_by10']:.1f}% (today {old['deploy_by10']:.1f}%)")
    print(f"auto-locked deploys: {acts['auto-locks']}, rollback hooks queued: {acts['rollback hooks']}; unchanged deploys "
          f"never flagged whose healthy verdict became final before the window's end: {new['final_early']:.1f}%")
    print(f"a stateless call on each whole window agrees with the lifecycle's looks (flagged or not) on {100 * agree:.1f}%")
    print(f"time: lifecycle {elapsed:.0f} s, stateless calls {stateless_s:.0f} s, today's procedure {today_s:.0f} s")
    deploy_flagged = int(np.sum(track.deploy_unhealthy_at > 0))

    checks = [
        (f"ever flagged unhealthy {new['unhealthy']:.2f}% ≤ {TARGETS['unhealthy']:g}%", new["unhealthy"] <= TARGETS["unhealthy"]),
        (f"ever ailing or worse {new['ailing']:.2f}% ≤ {TARGETS['ailing']:g}%", new["ailing"] <= TARGETS["ailing"]),
        (f"+100% unhealthy by point 10 {new['by10']:.1f}% ≥ {TARGETS['by10']:g}%", new["by10"] >= TARGETS["by10"]),
        (f"+100% unhealthy by point 60 {new['by60']:.1f}% ≥ {TARGETS['by60']:g}%", new["by60"] >= TARGETS["by60"]),
        (f"median points to final healthy {new['median_final']:.0f} ≤ {TARGETS['median_final']}",
         new["median_final"] <= TARGETS["median_final"]),
        (f"auto-locks and rollback hooks exactly on the unhealthy deploys ({acts['auto-locks']}, {acts['rollback hooks']}, "
         f"{deploy_flagged})", acts["auto-locks"] == acts["rollback hooks"] == deploy_flagged),
    ]
    print()
    for text, ok in checks:
        print(f"{'PASS' if ok else 'FAIL'}  {text}")
    print(json.dumps({"new": new, "today": old}))
    hard = checks[-1:]  # the lifecycle acting only on its verdicts is a check of the answers, not a target
    return 0 if all(ok for _, ok in (hard if args.no_targets else checks)) else 1


if __name__ == "__main__":
    sys.exit(main())
