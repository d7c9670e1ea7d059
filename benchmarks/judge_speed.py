"""Speed of the vectorised judge: ``judge_many`` on 10,000 baseline/current pairs of 60 points.

The pairs are log-normal "latencies" (seeded); one row in ten is made 1.5× slower so
that the grading work (the Hodges–Lehmann shift) is done where it would be in
practice. Prints the median of several runs, the same for
``scipy.stats.mannwhitneyu(axis=1)`` (the test alone) and for a Python loop of
``judge_metric`` over a slice (extrapolated), and checks that ``judge_many`` and
``judge_metric`` agree on the first rows. Target: ≤ 0.5 s.

Run from the repository root:
    .venv/bin/python benchmarks/judge_speed.py
    .venv/bin/python benchmarks/judge_speed.py --rows 10000 --points 60 --runs 7 --history 7
"""

from __future__ import annotations

import argparse
import shlex
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from scipy import stats

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))
from shiplane.health.judge import HEALTHS, MetricInput, judge_many, judge_metric  # noqa: E402

TARGET_S = 0.5


def timed(fn, runs: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(runs):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=10_000)
    ap.add_argument("--points", type=int, default=60)
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--history", type=int, default=0, help="history windows per row (0: none)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument(
        "--no-targets", action="store_true",
        help="show the time target but do not fail on it; disagreement still fails (smoke runs)",
    )
    args = ap.parse_args()
    print("command:", shlex.join([".venv/bin/python", "benchmarks/judge_speed.py", *sys.argv[1:]]))

    rng = np.random.default_rng(args.seed)
    shape = (args.rows, args.points)
    baselines = rng.lognormal(np.log(200), 0.3, shape)
    currents = rng.lognormal(np.log(200), 0.3, shape)
    currents[::10] *= 1.5
    history = None
    if args.history:
        history = rng.lognormal(np.log(200), 0.3, (args.rows, args.history, args.points))

    judge_many(baselines[:10], currents[:10], history=None if history is None else history[:10])  # warm caches
    seconds, out = timed(lambda: judge_many(baselines, currents, history=history), args.runs)
    scipy_s, _ = timed(lambda: stats.mannwhitneyu(currents, baselines, alternative="greater", axis=1), args.runs)
    n_loop = min(args.rows, 300)
    t0 = time.perf_counter()
    loop = [
        judge_metric(MetricInput("m", baselines[i], currents[i], history=() if history is None else history[i]))
        for i in range(n_loop)
    ]
    loop_s = (time.perf_counter() - t0) * args.rows / n_loop
    agree = all(HEALTHS[int(out.health[i])] == loop[i].health for i in range(n_loop)) and np.allclose(
        out.p_value[:n_loop], [v.p_value for v in loop]
    )
    counts = {h: int(np.sum(out.health == i)) for i, h in enumerate(HEALTHS)}

    print(f"pairs: {args.rows:,} × {args.points} points" + (f", {args.history} history windows each" if args.history else ""))
    print(f"judge_many:                 {seconds * 1000:8.1f} ms  (median of {args.runs} runs; target ≤ {TARGET_S * 1000:.0f} ms)")
    print(f"scipy mannwhitneyu(axis=1): {scipy_s * 1000:8.1f} ms  (the test alone, for scale)")
    print(f"loop of judge_metric:       {loop_s * 1000:8.0f} ms  (extrapolated from {n_loop} rows)")
    print(f"verdicts: {counts}; judge_many agrees with judge_metric on {n_loop} rows: {agree}")
    ok = (seconds <= TARGET_S or args.no_targets) and agree
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
