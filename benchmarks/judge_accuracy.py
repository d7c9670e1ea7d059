"""How well the deploy-health judge tells a regression from a normal hour, on real series.

Data: the NAB series in ``../shared/data/series/nab`` (``timestamp,value``, 5-minute
steps: AWS CloudWatch CPU, network, ELB requests, RDS CPU, disk writes, and
artificial series with daily cycles, noise, square waves and spikes).

Cases, all drawn with one fixed seed:
  * an instant T is drawn (series uniformly, then a point of it) such that
    [T − 1 h, T + 1 h) lies inside the series and outside every labelled anomaly
    window (``labels_windows.json``). Baseline = the hour before (12 points),
    current = the hour after (12 points), history = the same hour as the current on
    each of the previous 1–7 days that exist and do not overlap a labelled window
    (like an incident known to the system).
  * null cases: no change. Anything not healthy is a false positive; no_data is
    counted apart (it is not a pass either).
  * regression cases: the current hour is made worse by +20 %, +50 %, +100 %,
    multiplicatively in the regression direction ("increase"): v + s·|v|. Instants
    whose current hour is mostly (≥ half) zero or negligible (|v| ≤ 1e-6 of the
    series' largest value) are redrawn for these cases: scaling zeros changes
    nothing, so there would be no regression to find. How many were redrawn is printed.

Judges compared, all with the same 8-point minimum:
  shiplane            shiplane.health.judge.judge_metric, with the history
  shiplane (no hist.) the same without the history
  naive ratio         mean ratio ≥ 1.2 → ailing, ≥ 1.5 → unhealthy
  plain Mann-Whitney  one-sided p < 0.05 → unhealthy
  Kayenta-style       98 % confidence interval on the Hodges–Lehmann shift (normal
                      approximation of the Mann–Whitney order statistics); "high"
                      when its lower end is above +25 % of the baseline mean, then
                      graded by the mean ratio: ≥ 1.5 unhealthy, ≥ 1.2 ailing,
                      otherwise healthy

Run from the repository root (about 30 s):
    .venv/bin/python benchmarks/judge_accuracy.py
    .venv/bin/python benchmarks/judge_accuracy.py --seed 7 --null 4000 --per-size 2000 --by-series
"""

from __future__ import annotations

import argparse
import csv
import json
import shlex
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from scipy import stats

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
from shiplane.health.judge import MIN_POINTS, MetricInput, judge_metric  # noqa: E402

HOUR, DAY = 3600.0, 86400.0
TARGETS = {"fp": 3.0, 0.5: 85.0, 1.0: 93.0}


def parse_ts(s: str) -> float:
    return datetime.fromisoformat(s.split(".")[0]).replace(tzinfo=UTC).timestamp()


def load(data: Path) -> dict[str, tuple[np.ndarray, np.ndarray, list[tuple[float, float]]]]:
    labels = json.loads((data / "labels_windows.json").read_text())
    series = {}
    for f in sorted(data.glob("*/*.csv")):
        name = f"{f.parent.name}/{f.name}"
        with f.open() as fh:
            rows = list(csv.reader(fh))[1:]
        t = np.array([parse_ts(a) for a, _ in rows])
        v = np.array([float(b) for _, b in rows])
        series[name] = (t, v, [(parse_ts(a), parse_ts(b)) for a, b in labels.get(name, [])])
    return series


def draw_cases(series, seed: int, n_null: int, n_per: int, sizes: list[float]):
    rng = np.random.default_rng(seed)
    names = sorted(series)
    redrawn = 0

    def overlaps(windows, a, b):
        return any(x < b and a < y for x, y in windows)

    def draw(regression: bool):
        nonlocal redrawn
        while True:
            name = names[rng.integers(len(names))]
            t, v, bad = series[name]
            at = t[rng.integers(len(t))]
            if at - HOUR < t[0] or at + HOUR > t[-1] + 300 or overlaps(bad, at - HOUR, at + HOUR):
                continue
            current = v[(t >= at) & (t < at + HOUR)]
            if regression and np.mean(np.abs(current) > 1e-6 * np.max(np.abs(v))) < 0.5:
                redrawn += 1
                continue
            history = []
            for k in range(1, 8):
                a = at - k * DAY
                if a < t[0]:
                    break
                if not overlaps(bad, a, a + HOUR):
                    window = v[(t >= a) & (t < a + HOUR)]
                    if len(window):
                        history.append(window)
            return name, v[(t >= at - HOUR) & (t < at)], current, history

    cases = [(0.0, *draw(False)) for _ in range(n_null)]
    for size in sizes:
        for _ in range(n_per):
            name, b, c, h = draw(True)
            cases.append((size, name, b, c + size * np.abs(c), h))
    return cases, redrawn


# ------------------------------------------------------------------ reference judges


def naive(b, c, h):
    mb, mc = b.mean(), c.mean()
    r = (np.inf if mc > 0 else 1.0) if mb == 0 else mc / mb
    return "unhealthy" if r >= 1.5 else "ailing" if r >= 1.2 else "healthy"


def plain_mw(b, c, h):
    if np.all(b == b[0]) and np.all(c == b[0]):
        return "healthy"
    return "unhealthy" if stats.mannwhitneyu(c, b, alternative="greater").pvalue < 0.05 else "healthy"


def kayenta(b, c, h, confidence=0.98, tolerance=0.25):
    m, n = len(b), len(c)
    diffs = np.sort((c[:, None] - b[None, :]).ravel())
    z = stats.norm.ppf(1 - (1 - confidence) / 2)
    k = max(int(np.floor(m * n / 2 - z * np.sqrt(m * n * (m + n + 1) / 12))), 0)
    lower = diffs[k]
    if lower <= abs(b.mean()) * tolerance:
        return "healthy"
    return naive(b, c, h)


def shiplane(b, c, h):
    return judge_metric(MetricInput("m", b, c, history=h)).health


def shiplane_no_history(b, c, h):
    return judge_metric(MetricInput("m", b, c)).health


JUDGES = {
    "shiplane": shiplane,
    "shiplane (no history)": shiplane_no_history,
    "naive ratio ≥ 1.2": naive,
    "plain Mann-Whitney p<.05": plain_mw,
    "Kayenta-style": kayenta,
}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "series" / "nab")
    ap.add_argument("--seed", type=int, default=20240601)
    ap.add_argument("--null", type=int, default=2000)
    ap.add_argument("--per-size", type=int, default=1000)
    ap.add_argument("--sizes", default="0.2,0.5,1.0")
    ap.add_argument("--by-series", action="store_true", help="also print shiplane's rates per series")
    ap.add_argument(
        "--no-targets", action="store_true",
        help="show the accuracy checks but do not fail on them (smoke runs: a few cases say nothing about accuracy)",
    )
    args = ap.parse_args()
    sizes = [float(s) for s in args.sizes.split(",")]

    print("command:", shlex.join([".venv/bin/python", "benchmarks/judge_accuracy.py", *sys.argv[1:]]))
    started = time.perf_counter()
    series = load(args.data)
    cases, redrawn = draw_cases(series, args.seed, args.null, args.per_size, sizes)
    with_history = sum(1 for *_, h in cases if any(len(w) >= MIN_POINTS for w in h))
    print(
        f"series: {len(series)}; seed {args.seed}; cases: {args.null} null + {args.per_size} per size "
        f"({', '.join(f'+{s:.0%}' for s in sizes)}) = {len(cases)}; with history: {with_history}; "
        f"regression draws redrawn (current hour mostly zero): {redrawn}"
    )

    results: dict[str, dict[float, list[str]]] = {}
    per_series: dict[tuple[str, float], list[str]] = {}
    timings = {}
    for label, fn in JUDGES.items():
        t0 = time.perf_counter()
        out: dict[float, list[str]] = {}
        for size, name, b, c, h in cases:
            b, c = b[np.isfinite(b)], c[np.isfinite(c)]
            if len(b) < MIN_POINTS or len(c) < MIN_POINTS:
                verdict = "no_data"
            else:
                verdict = fn(b, c, h)
            out.setdefault(size, []).append(verdict)
            if label == "shiplane":
                per_series.setdefault((name, size), []).append(verdict)
        results[label] = out
        timings[label] = time.perf_counter() - t0

    head = f"{'judge':28s} {'false pos.':>10s} {'no_data':>8s}" + "".join(f" {'det. +' + format(s, '.0%'):>11s}" for s in sizes)
    print()
    print(head + f" {'ms/case':>8s}")
    print("-" * len(head + " ms/case "))
    for label, out in results.items():
        null = out[0.0]
        fp = 100 * np.mean([v not in ("healthy", "no_data") for v in null])
        nd = 100 * np.mean([v == "no_data" for v in null])
        det = [100 * np.mean([v not in ("healthy", "no_data") for v in out[s]]) for s in sizes]
        ms = 1000 * timings[label] / len(cases)
        print(f"{label:28s} {fp:9.2f}% {nd:7.2f}%" + "".join(f" {d:10.1f}%" for d in det) + f" {ms:8.2f}")

    if args.by_series:
        print("\nshiplane per series (false positives / detection; cases):")
        for name in sorted(series):
            cells = []
            for s in [0.0, *sizes]:
                vs = per_series.get((name, s), [])
                rate = 100 * np.mean([v not in ("healthy", "no_data") for v in vs]) if vs else float("nan")
                cells.append(f"{rate:5.1f}% ({len(vs):3d})")
            print(f"  {name:55s} " + "  ".join(cells))

    mine, ref = results["shiplane"], results["Kayenta-style"]

    def rate(out, s):
        return 100 * np.mean([v not in ("healthy", "no_data") for v in out[s]])

    checks = [
        (f"false positives ≤ {TARGETS['fp']:g}%", rate(mine, 0.0) <= TARGETS["fp"]),
        *[(f"detection at +{s:.0%} ≥ {TARGETS[s]:g}%", rate(mine, s) >= TARGETS[s]) for s in (0.5, 1.0) if s in sizes],
        (
            "beats Kayenta-style on false positives and on detection at every size",
            rate(mine, 0.0) < rate(ref, 0.0) and all(rate(mine, s) > rate(ref, s) for s in sizes),
        ),
    ]
    print()
    for text, ok in checks:
        print(f"{'PASS' if ok else 'FAIL'}  {text}")
    print(f"\n{time.perf_counter() - started:.0f} s")
    return 0 if args.no_targets or all(ok for _, ok in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
