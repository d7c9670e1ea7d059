"""Every script in benchmarks/ runs end to end on a tiny size, so that none can rot unnoticed.

Tiny runs on a shared machine say nothing about speed, so the scripts that have
targets get ``--no-targets``: their time and accuracy targets are printed but do
not fail the run, while their checks of the answers (non-2xx, a lock the gate
did not show, reports that differ between paths) still do.

SQLite only: the PostgreSQL paths create databases with fixed names
(``shiplane_bench_*``), which a benchmark being run by hand against the same
server would lose in the middle of its run.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, SHARED

BENCHMARKS = ROOT / "benchmarks"
SERVED = ["--db", "sqlite", "--duration", "1", "--warmup", "0", "--concurrency", "2", "--threads", "1"]

# script → (arguments for a run of a few seconds, a line that shows it got to the end)
RUNS: dict[str, tuple[list[str], str]] = {
    # Not the startup part: two more server launches (10 s on a busy machine) for a few lines of code.
    "api.py": (
        [*SERVED, "--parts", "write,list", "--services", "3", "--history", "100", "--rows", "300",
         "--loadgen", "wrk", "--no-bare", "--no-targets"],
        "checks: all passed",
    ),
    "gate.py": ([*SERVED, "--scopes", "5", "--past-locks", "100", "--scheduled-locks", "20", "--no-targets"], "result: all checks hold"),
    "calendar_ics.py": (["--rules", "20", "--days", "30", "--repeat", "2", "--no-targets"], "result: "),
    "dora.py": (
        ["--db", "sqlite", "--deploys", "5000", "--commits", "15000", "--services", "5", "--runs", "3",
         "--year-runs", "1", "--git-commits", "60", "--range", "20", "--git-runs", "1", "--no-targets"],
        "checks: all passed",
    ),
    "dashboard.py": (["--db", "sqlite", "--deploys", "300", "--services", "5", "--runs", "2"], "GET / p95"),
    "services_matrix.py": (["--db", "sqlite", "--services", "6", "--runs", "2"], "GET /services p95"),
    "gate_eval.py": (["--rules", "20", "--number", "10", "--scheduled-locks", "50"], "cold evaluation"),
    "hardening.py": (["--requests", "100", "--paths", "150"], "targets met"),
    "judge_accuracy.py": (
        ["--data", str(SHARED / "data" / "series" / "nab"), "--null", "100", "--per-size", "50", "--frontier",
         "--no-targets"],
        "W = 36, seed 7: detection at +100%",
    ),
    "judge_speed.py": (["--rows", "200", "--runs", "1", "--no-targets"], "judge_many agrees with judge_metric on 200 rows: True"),
    "judge_replay.py": (
        ["--data", str(SHARED / "data" / "series" / "nab"), "--unchanged", "20", "--regressed", "10", "--no-targets"],
        "auto-locks and rollback hooks exactly on the unhealthy deploys",
    ),
    "sources.py": (["--metrics", "5", "--latency", "0.01", "--no-targets"], "all metrics fetched with 60 points each, no errors"),
    # 40 pull requests stay under the 80-a-minute budget: past it, the run lasts until the minute is over.
    "merge_blocking.py": (
        ["--pulls", "20", "--latency", "0.01", "--paced-seconds", "2", "--paced-pulls", "40"],
        "paced   writes_per_minute=80",
    ),
    # PostgreSQL, on a database named after the script's pid (created and dropped by it).
    "replicas.py": (
        ["--duration", "1", "--warmup", "0", "--concurrency", "2", "--threads", "1", "--services", "2", "--no-targets"],
        "checks: all passed",
    ),
    # Builds the image (cached), then starts 3 containers and 2 servers outside.
    "container.py": (["--runs", "1", "--no-targets"], "checks: every stop on SIGTERM was clean"),
}
# On a fresh machine the first image build debootstraps the base (~4 min here) and installs the
# wheels (~3 min); the container test or this run pays it once, later builds hit the cache.
TIMEOUTS = {"container.py": 1500}
# Not run on their own: what runs them.
RUN_BY_OTHERS = {"_bare.py": "gate.py (api.py too, without --no-bare) serves it as the baseline"}


def test_it_has_a_smoke_run_for_every_script():
    assert sorted(p.name for p in BENCHMARKS.glob("*.py")) == sorted([*RUNS, *RUN_BY_OTHERS])


@pytest.mark.slow
@pytest.mark.parametrize("script", sorted(RUNS))
def test_it_runs_the_benchmark_end_to_end(script: str, tmp_path: Path):
    args, last_words = RUNS[script]
    # Some scripts leave their SQLite files in mkdtemp(): keep them in pytest's tmp_path.
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    proc = subprocess.run(
        [sys.executable, str(BENCHMARKS / script), *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=TIMEOUTS.get(script, 180),
    )
    output = f"{proc.stdout[-4000:]}\n--- stderr ---\n{proc.stderr[-4000:]}"
    assert proc.returncode == 0, output
    assert last_words in proc.stdout, output
