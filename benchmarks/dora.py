"""Benchmark Shiplane's DORA computation and change tracking from a git mirror.

Three parts:

dora     in-process: ``shiplane.dora.service.report()`` inside
         ``Database(url).read()``, on 1,000,000 production deploys of 200
         services over the two years before 2026-11-01 with 5,000,000 commits,
         bulk-seeded straight into SQLite and PostgreSQL (same data on both,
         incidents attached to the deploys of health "incident"). The data is
         seeded as an installation from before the roll-ups (schema 0007), then
         upgraded, and the roll-ups built the way the first refresh builds them
         (timed and reported).
         (a) one service over 90 days, 50 runs across 50 services: p50 / p95,
             target p95 <= 50 ms; then the same 50 reports computed from the
             deploys alone (``dora/rows.py``, what indexes give without the
             roll-ups), checked identical;
         (b) all services over a year, 3 runs, each printed: target <= 1 s
             (``--year-from-deploys``: once more without the roll-ups, ~20 s);
         (c) a day of writes not yet folded in (marks for every deploy of the
             last day): the one-year report with them outstanding, the refresh
             that folds them in, and the report again.
         Then a breakdown of one report (rows read, decoding, maths) and the
         plan of the day-row query.
http     the same two scenarios through GET /api/v1/dora on ``shiplane serve
         --no-worker`` (uvicorn, one process; ``--worker`` to run the embedded
         worker too), timed by a sequential keep-alive client, while another
         client polls /healthz during the first one-year request.
changes  a real git repository of 1,000 commits (git fast-import); the clone
         of a bare mirror (``Mirror.update()`` the first time), ``Mirror.log()``
         of a 500-commit range, and the whole ``ChangeTracker.tick()`` that
         works out and stores what a deploy shipped (mirror already cloned).
         Target: <= 1 s for the 500-commit computation; the clone is reported
         apart.

Run from the repository root:
    .venv/bin/python benchmarks/dora.py                      # everything, about 8 minutes
    .venv/bin/python benchmarks/dora.py --db sqlite --parts dora
    .venv/bin/python benchmarks/dora.py --keep               # keep the seeded databases
    .venv/bin/python benchmarks/dora.py --skip-seed          # ... and reuse them
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import http.client
import io
import json
import os
import platform
import pstats
import shlex
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Self

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import api
from api import (
    HOST,
    ROOT,
    TOKEN,
    Postgres,
    git_revision,
    migrate,
    source_fingerprint,
    spawn_shiplane,
)

# The data set: production deploys over the two years before END.
END = datetime(2026, 11, 1, tzinfo=UTC)
SPAN = timedelta(days=730)
START = END - SPAN
ENVIRONMENTS = (("production", True), ("staging", False), ("development", False))
SEED = 20261101
PENDING_NEWEST = 200  # the newest counted deploys still have health "pending"

SERVICE_WINDOW = timedelta(days=90)
YEAR_WINDOW = timedelta(days=365)
SERVICE_TARGET_P95_MS = 50.0
YEAR_TARGET_MS = 1000.0
DRILL_TARGET_MS = 100.0  # the first page of GET /api/v1/dora/deploys, one metric over a year
CHANGES_TARGET_MS = 1000.0

NOISY_OTHER_CPU = 0.25  # cores used by unrelated processes above which the summary warns
PG_DB = "shiplane_bench_dora"
KEPT_SQLITE = Path(tempfile.gettempdir()) / "shiplane-bench" / "dora.db"

SUCCEEDED, FAILED, ROLLED_BACK = 0, 1, 2
STATUS = ("succeeded", "failed", "rolled_back")
HEALTHY, UNHEALTHY, INCIDENT, PENDING, NO_DATA = 0, 1, 2, 3, 4
HEALTH = ("healthy", "unhealthy", "incident", "pending", "no_data")
HEALTH_SCORE = ("0.97", "0.42", "0.08", None, None)

_SHA_MULT = 0x9E3779B97F4A7C15F39CC0605CEDC8341082276B  # odd: i -> i * M mod 2^160 is a bijection


def commit_sha(i: int) -> str:
    """A unique, spread-out 40-hex sha for commit number i."""
    return f"{((i + 1) * _SHA_MULT) % (1 << 160):040x}"


# ---------------------------------------------------------------- the data set


@dataclass
class Dataset:
    """Every deploy and commit as numpy columns; deploy i has id i + 1, ids in deployed_at order."""

    services: int
    svc: np.ndarray  # service index (0-based) per deploy
    deployed_us: np.ndarray  # epoch microseconds
    duration_us: np.ndarray  # started_at = deployed_at - duration
    status: np.ndarray
    health: np.ndarray
    rollback_of: np.ndarray  # deploy id, 0 = none
    sha_commit: np.ndarray  # the commit whose sha the deploy ran (a rollback re-runs an old one)
    seq: np.ndarray  # position of the deploy among its service's deploys (for the version)
    counts: np.ndarray  # commits per deploy
    commit_deploy: np.ndarray  # deploy index per commit
    commit_pos: np.ndarray
    committed_us: np.ndarray
    commit_msg: np.ndarray  # index into the message pool
    commit_author: np.ndarray
    commit_files: np.ndarray
    incident_deploy: np.ndarray  # deploy index per incident (deploys whose health is "incident")
    incident_start_us: np.ndarray
    incident_resolved_us: np.ndarray  # -1: not resolved yet
    messages: list[tuple[str, str, str]] = field(default_factory=list)  # (message, pull_requests, issue_keys)
    authors: list[tuple[str, str]] = field(default_factory=list)
    files: list[str] = field(default_factory=list)

    @property
    def deploys(self) -> int:
        return len(self.svc)

    @property
    def commits(self) -> int:
        return len(self.commit_deploy)

    def stored_health(self, with_incidents: bool) -> np.ndarray:
        """Health as the database holds it: resolving an incident restores the deploy's
        previous health (the report still counts the deploy as failed through the incident row)."""
        if not with_incidents:
            return self.health
        health = self.health.copy()
        health[self.incident_deploy[self.incident_resolved_us >= 0]] = HEALTHY
        return health

    def mix(self) -> str:
        n = self.deploys
        st = np.bincount(self.status, minlength=3) / n
        counted = self.status != FAILED
        he = np.bincount(self.health[counted], minlength=5) / counted.sum()
        return (
            f"status succeeded {st[0]:.1%} / failed {st[1]:.1%} / rolled_back {st[2]:.1%};"
            f" health of counted deploys healthy {he[0]:.1%} / unhealthy {he[1]:.1%} / incident {he[2]:.1%}"
            f" / pending {int(he[3] * counted.sum())} newest;"
            f" rollback_of set {np.count_nonzero(self.rollback_of) / n:.1%};"
            f" commits per deploy {self.commits / n:.1f} (max {self.counts.max()});"
            f" {len(self.incident_deploy):,} incidents ({np.count_nonzero(self.incident_resolved_us < 0)} unresolved)"
        )


def generate(deploys: int, commits: int, services: int, seed: int = SEED) -> Dataset:
    """Production deploys over the two years before END: working hours and weekdays busier,
    services of uneven activity, ~3% failed, ~1% rollbacks that roll back the 1-3 deploys
    before them (~2% rolled_back), ~5% unhealthy and ~1% incident, the newest still pending,
    and ~5 commits per deploy authored minutes to days before it."""
    if commits < deploys:
        raise SystemExit("--commits must be at least --deploys (every non-rollback deploy ships a commit)")
    rng = np.random.default_rng(seed)
    us_day = 86_400_000_000
    start_us = int(START.timestamp() * 1_000_000)
    span_us = int(SPAN.total_seconds() * 1_000_000)

    # Deploy times: uniform, thinned by weekday and hour of day (UTC).
    hour_weight = np.where((np.arange(24) >= 7) & (np.arange(24) < 19), 1.0, 0.3)
    times: list[np.ndarray] = []
    have = 0
    while have < deploys:
        t = start_us + rng.integers(0, span_us, size=int(deploys * 2.2) + 1000, dtype=np.int64)
        days = t // us_day
        weekday = (days + 3) % 7  # 1970-01-01 was a Thursday; Monday = 0
        keep = rng.random(len(t)) < hour_weight[(t // 3_600_000_000) % 24] * np.where(weekday < 5, 1.0, 0.25)
        times.append(t[keep])
        have += int(keep.sum())
    deployed_us = np.sort(np.concatenate(times)[:deploys])

    # Services of uneven activity (log-normal weights: the busiest ~10x the quietest).
    weights = rng.lognormal(0.0, 0.5, services)
    svc = rng.choice(services, size=deploys, p=weights / weights.sum()).astype(np.int32)

    # Per service, in time order.
    order = np.lexsort((np.arange(deploys), svc))
    svc_sorted = svc[order]
    first = np.r_[True, svc_sorted[1:] != svc_sorted[:-1]]
    group_start = np.maximum.accumulate(np.where(first, np.arange(deploys), 0))
    pos = np.arange(deploys) - group_start
    seq = np.empty(deploys, dtype=np.int64)
    seq[order] = pos

    status = np.full(deploys, SUCCEEDED, dtype=np.int8)
    status[rng.random(deploys) < 0.03] = FAILED
    # Rollbacks: re-deploy the sha of the deploy before the last k (1-3) deploys,
    # which become rolled_back (what the API does to the deploys in between).
    is_rb = (rng.random(deploys) < 0.01 / 0.97) & (pos >= 4) & (status[order] != FAILED)
    j = np.nonzero(is_rb)[0]  # positions in service order
    k = rng.choice(np.array([1, 2, 3]), size=len(j), p=[0.35, 0.35, 0.30])
    for step in (1, 2, 3):
        victims = order[j[k >= step] - step]
        victims = victims[status[victims] == SUCCEEDED]
        status[victims] = ROLLED_BACK
    rollbacks = order[j]
    targets = order[j - k - 1]
    status[rollbacks] = SUCCEEDED
    rollback_of = np.zeros(deploys, dtype=np.int64)
    rollback_of[rollbacks] = targets + 1

    health = np.full(deploys, HEALTHY, dtype=np.int8)
    u = rng.random(deploys)
    health[u < 0.05] = UNHEALTHY
    health[(u >= 0.05) & (u < 0.06)] = INCIDENT
    # What got rolled back was usually unhealthy.
    cause = order[j - k]
    v = rng.random(len(j))
    health[cause[v < 0.6]] = UNHEALTHY
    health[cause[(v >= 0.6) & (v < 0.75)]] = INCIDENT
    health[rollbacks] = HEALTHY
    health[status == FAILED] = NO_DATA  # never reached production: nothing to judge
    counted_idx = np.nonzero(status != FAILED)[0]
    health[counted_idx[-PENDING_NEWEST:]] = PENDING

    # Commits: none for rollbacks (an old sha again), one or more for every other deploy.
    counts = np.zeros(deploys, dtype=np.int64)
    ships = np.nonzero(rollback_of == 0)[0]
    counts[ships] = 1
    counts += np.bincount(rng.choice(ships, size=commits - len(ships)), minlength=deploys)
    commit_deploy = np.repeat(np.arange(deploys), counts)
    starts = np.cumsum(counts) - counts
    commit_pos = np.arange(commits) - np.repeat(starts, counts)
    # Lead time: log-normal, median 6 h (5%: under 30 min, 95%: over 3 days), 2 min to 21 days.
    lead_s = np.clip(rng.lognormal(np.log(6 * 3600), 1.6, commits), 120, 21 * 86400)
    lead_us = (lead_s * 1_000_000).astype(np.int64)
    lead_us = lead_us[np.lexsort((-lead_us, commit_deploy))]  # oldest commit first within a deploy
    committed_us = deployed_us[commit_deploy] - lead_us

    # Incidents: one per deploy of health "incident", starting 2-60 min after it,
    # resolved after a log-normal 45 min median (those not resolved by END stay open).
    incident_deploy = np.nonzero(health == INCIDENT)[0]
    incident_start_us = deployed_us[incident_deploy] + rng.integers(120_000_000, 3_600_000_000, len(incident_deploy))
    took_us = (np.clip(rng.lognormal(np.log(45 * 60), 1.0, len(incident_deploy)), 300, 7 * 86400) * 1e6).astype(
        np.int64
    )
    end_us = int(END.timestamp() * 1_000_000)
    incident_resolved_us = np.where(incident_start_us + took_us < end_us, incident_start_us + took_us, -1)

    sha_commit = np.where(counts > 0, starts + counts - 1, -1)
    for r, t in zip(rollbacks[np.argsort(rollbacks)].tolist(), targets[np.argsort(rollbacks)].tolist(), strict=True):
        sha_commit[r] = sha_commit[t]  # targets are older: their sha is settled already

    # Pools of messages, authors and file lists.
    verbs = ("Fix", "Add", "Remove", "Refactor", "Update", "Speed up", "Document", "Test", "Revert", "Bump")
    nouns = (
        "checkout flow",
        "retry logic",
        "user settings",
        "billing export",
        "search index",
        "rate limiter",
        "login page",
        "cache warmup",
        "API pagination",
        "feature flag",
        "metrics labels",
        "email templates",
    )
    messages = []
    for i in range(20_000):
        subject = f"{verbs[i % len(verbs)]} {nouns[(i * 7) % len(nouns)]}"
        keys, prs = "[]", "[]"
        if i % 5 < 2:
            key = f"SHIP-{100 + (i * 37) % 9000}"
            subject += f" ({key})"
            keys = f'["{key}"]'
        if i % 10 < 7:
            pr = 1 + (i * 13) % 40000
            subject += f" (#{pr})"
            prs = f"[{pr}]"
        if i % 3 == 0:
            subject += "\n\nThe previous behaviour broke when the upstream timed out; handle it and add a test."
        messages.append((subject, prs, keys))
    authors = [(f"Developer {i}", f"dev{i}@example.com") for i in range(400)]
    files = []
    for i in range(5000):
        n = 1 + i % 4
        files.append(json.dumps([f"src/module{(i * 3 + f) % 60}/file{(i + f * 7) % 40}.py" for f in range(n)]))

    return Dataset(
        services=services,
        svc=svc,
        deployed_us=deployed_us,
        duration_us=rng.integers(60_000_000, 900_000_000, deploys, dtype=np.int64),
        status=status,
        health=health,
        rollback_of=rollback_of,
        sha_commit=sha_commit,
        seq=seq,
        counts=counts,
        commit_deploy=commit_deploy,
        commit_pos=commit_pos,
        committed_us=committed_us,
        commit_msg=rng.integers(0, len(messages), commits),
        commit_author=rng.integers(0, len(authors), commits),
        commit_files=rng.integers(0, len(files), commits),
        incident_deploy=incident_deploy,
        incident_start_us=incident_start_us,
        incident_resolved_us=incident_resolved_us,
        messages=messages,
        authors=authors,
        files=files,
    )


def timestamps(us: np.ndarray, sep: str) -> list[str]:
    """'YYYY-MM-DD<sep>HH:MM:SS.ffffff' (naive UTC) for epoch microseconds, vectorised."""
    text = np.datetime_as_string(us.astype("datetime64[us]"), unit="us").astype("S26")
    if sep != "T":
        raw = text.view(np.uint8).reshape(-1, 26)
        raw[:, 10] = ord(sep)
    return text.astype("U26").tolist()


DEPLOY_COLUMNS = (
    "id, service_id, environment_id, sha, status, registered_at, started_at, finished_at, deployed_at, version,"
    " author, email, tags, during_lock, registered_by, rollback_of, has_changes, changes_source, commit_count,"
    " files_changed, health_state, health_score, health_final"
)
COMMIT_COLUMNS = (
    "id, deploy_id, position, sha, message, author_name, author_email, committed_at, pull_requests, issue_keys, files"
)


def deploy_rows(
    data: Dataset, sep: str, service_ids: list[int], env_id: int, lo: int, hi: int, stored_health: np.ndarray
) -> Iterator[tuple]:
    """Deploy rows lo..hi-1 as tuples of Python values (timestamps as text, booleans as 0/1)."""
    deployed = timestamps(data.deployed_us[lo:hi], sep)
    started = timestamps(data.deployed_us[lo:hi] - data.duration_us[lo:hi], sep)
    svc = data.svc[lo:hi].tolist()
    status = data.status[lo:hi].tolist()
    health = stored_health[lo:hi].tolist()
    rollback_of = data.rollback_of[lo:hi].tolist()
    sha_commit = data.sha_commit[lo:hi].tolist()
    seq = data.seq[lo:hi].tolist()
    counts = data.counts[lo:hi].tolist()
    n_authors = len(data.authors)
    for i in range(hi - lo):
        n = counts[i]
        rb = rollback_of[i]
        h = health[i]
        author, email = data.authors[(lo + i) % n_authors]
        yield (
            lo + i + 1,
            service_ids[svc[i]],
            env_id,
            commit_sha(sha_commit[i]),
            STATUS[status[i]],
            started[i],
            started[i],
            deployed[i],
            deployed[i],
            f"1.{seq[i] // 1000}.{seq[i] % 1000}",
            author,
            email,
            '["rollback"]' if rb else "[]",
            0,
            "token:ci",
            rb or None,
            0 if rb else 1,
            "none" if rb else "body",
            n,
            None if rb else n * 2,
            HEALTH[h],
            HEALTH_SCORE[h],
            0 if h == PENDING else 1,
        )


def commit_rows(data: Dataset, sep: str, lo: int, hi: int) -> Iterator[tuple]:
    committed = timestamps(data.committed_us[lo:hi], sep)
    dep = data.commit_deploy[lo:hi].tolist()
    pos = data.commit_pos[lo:hi].tolist()
    msg = data.commit_msg[lo:hi].tolist()
    auth = data.commit_author[lo:hi].tolist()
    files = data.commit_files[lo:hi].tolist()
    messages, authors, pool = data.messages, data.authors, data.files
    for i in range(hi - lo):
        m, prs, keys = messages[msg[i]]
        name, email = authors[auth[i]]
        yield (
            lo + i + 1,
            dep[i] + 1,
            pos[i],
            commit_sha(lo + i),
            m,
            name,
            email,
            committed[i],
            prs,
            keys,
            pool[files[i]],
        )


INCIDENT_COLUMNS = "key, environment, service, title, url, started_at, resolved_at, deploy_id, previous_health"


def incident_rows(data: Dataset, sep: str) -> Iterator[tuple]:
    started = timestamps(data.incident_start_us, sep)
    resolved = timestamps(np.maximum(data.incident_resolved_us, 0), sep)
    for n, (i, open_) in enumerate(
        zip(data.incident_deploy.tolist(), (data.incident_resolved_us < 0).tolist(), strict=True)
    ):
        yield (
            f"INC-{n + 1}",
            "production",
            f"svc{data.svc[i]}",
            "Elevated error rate after deploy",
            f"https://pager.example.com/incidents/{n + 1}",
            started[n],
            None if open_ else resolved[n],
            i + 1,
            "healthy",
        )


CHUNK = 250_000


def seed_sqlite(path: Path, data: Dataset) -> None:
    now = START - timedelta(days=1)
    ts = f"{now:%Y-%m-%d %H:%M:%S}.000000"
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        # Nothing else has the file open: no journal and no fsync while seeding,
        # WAL again afterwards as the server sets it.
        conn.execute("PRAGMA journal_mode=DELETE")
        conn.execute("PRAGMA synchronous=OFF")
        conn.execute("PRAGMA cache_size=-524288")
        conn.execute("BEGIN")
        conn.executemany(
            "INSERT INTO services (slug, name, repo, branch, paths, created_at) VALUES (?,?,'','main','[]',?)",
            [(f"svc{i}", f"Service {i}", ts) for i in range(data.services)],
        )
        conn.executemany(
            "INSERT INTO environments (slug, name, production, created_at) VALUES (?,?,?,?)",
            [(slug, slug, prod, ts) for slug, prod in ENVIRONMENTS],
        )
        ids = dict(conn.execute("SELECT slug, id FROM services"))
        service_ids = [ids[f"svc{i}"] for i in range(data.services)]
        env_id = conn.execute("SELECT id FROM environments WHERE slug = 'production'").fetchone()[0]
        with_incidents = conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'incidents'").fetchone() is not None
        health = data.stored_health(with_incidents)
        marks = ",".join("?" * len(DEPLOY_COLUMNS.split(",")))
        for lo in range(0, data.deploys, CHUNK):
            hi = min(lo + CHUNK, data.deploys)
            conn.executemany(
                f"INSERT INTO deploys ({DEPLOY_COLUMNS}) VALUES ({marks})",
                deploy_rows(data, " ", service_ids, env_id, lo, hi, health),
            )
        if with_incidents:
            marks = ",".join("?" * len(INCIDENT_COLUMNS.split(",")))
            conn.executemany(f"INSERT INTO incidents ({INCIDENT_COLUMNS}) VALUES ({marks})", incident_rows(data, " "))
        marks = ",".join("?" * len(COMMIT_COLUMNS.split(",")))
        for lo in range(0, data.commits, CHUNK):
            hi = min(lo + CHUNK, data.commits)
            conn.executemany(
                f"INSERT INTO deploy_commits ({COMMIT_COLUMNS}) VALUES ({marks})", commit_rows(data, " ", lo, hi)
            )
        conn.execute("COMMIT")
        conn.execute("ANALYZE")
        conn.execute("PRAGMA journal_mode=WAL")
    finally:
        conn.close()


def _copy_field(value: Any) -> str:
    if value is None:
        return "\\N"
    if isinstance(value, str):
        return value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")
    return str(value)


def seed_postgres(url: str, data: Dataset) -> None:
    import psycopg

    now = START - timedelta(days=1)
    with psycopg.connect(url) as conn:
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO services (slug, name, repo, branch, paths, created_at) VALUES (%s,%s,'','main','[]',%s)",
                [(f"svc{i}", f"Service {i}", now) for i in range(data.services)],
            )
            cur.executemany(
                "INSERT INTO environments (slug, name, production, created_at) VALUES (%s,%s,%s,%s)",
                [(slug, slug, prod, now) for slug, prod in ENVIRONMENTS],
            )
            ids = dict(cur.execute("SELECT slug, id FROM services").fetchall())
            service_ids = [ids[f"svc{i}"] for i in range(data.services)]
            env_id = cur.execute("SELECT id FROM environments WHERE slug = 'production'").fetchone()[0]
            with_incidents = cur.execute("SELECT to_regclass('incidents') IS NOT NULL").fetchone()[0]
            health = data.stored_health(with_incidents)
            # The rows are consistent by construction: skip the per-row foreign-key
            # triggers of COPY (a superuser setting, for this session only).
            if cur.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user").fetchone()[0]:
                cur.execute("SET session_replication_role = replica")
            conn.commit()
            with cur.copy(f"COPY deploys ({DEPLOY_COLUMNS}) FROM STDIN") as copy:
                for lo in range(0, data.deploys, CHUNK):
                    hi = min(lo + CHUNK, data.deploys)
                    copy.write(
                        "".join(
                            "\t".join(_pg_value(v, n) for n, v in enumerate(row)) + "\n"
                            for row in deploy_rows(data, "T", service_ids, env_id, lo, hi, health)
                        )
                    )
            with cur.copy(f"COPY deploy_commits ({COMMIT_COLUMNS}) FROM STDIN") as copy:
                messages = [(_copy_field(m), prs, keys) for m, prs, keys in data.messages]
                authors, pool = data.authors, data.files
                for lo in range(0, data.commits, CHUNK):
                    hi = min(lo + CHUNK, data.commits)
                    committed = timestamps(data.committed_us[lo:hi], "T")
                    dep = data.commit_deploy[lo:hi].tolist()
                    pos = data.commit_pos[lo:hi].tolist()
                    msg = data.commit_msg[lo:hi].tolist()
                    auth = data.commit_author[lo:hi].tolist()
                    files = data.commit_files[lo:hi].tolist()
                    lines = []
                    for i in range(hi - lo):
                        m, prs, keys = messages[msg[i]]
                        name, email = authors[auth[i]]
                        lines.append(
                            f"{lo + i + 1}\t{dep[i] + 1}\t{pos[i]}\t{commit_sha(lo + i)}\t{m}\t{name}\t{email}"
                            f"\t{committed[i]}+00\t{prs}\t{keys}\t{pool[files[i]]}\n"
                        )
                    copy.write("".join(lines))
            if with_incidents:
                with cur.copy(f"COPY incidents ({INCIDENT_COLUMNS}) FROM STDIN") as copy:
                    for row in incident_rows(data, "T"):
                        copy.write_row([v + "+00" if n in (5, 6) and v else v for n, v in enumerate(row)])
            for table in ("deploys", "deploy_commits"):
                cur.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
        conn.commit()
    with psycopg.connect(url, autocommit=True) as conn:
        for table in ("deploys", "deploy_commits", "services", "environments") + (
            ("incidents",) if with_incidents else ()
        ):
            conn.execute(f"VACUUM ANALYZE {table}")


_PG_TIME_COLUMNS = {5, 6, 7, 8}  # registered_at, started_at, finished_at, deployed_at in DEPLOY_COLUMNS
_PG_BOOL_COLUMNS = {13, 16, 22}  # during_lock, has_changes, health_final


def _pg_value(value: Any, column: int) -> str:
    if value is None:
        return "\\N"
    if column in _PG_TIME_COLUMNS:
        return value + "+00"
    if column in _PG_BOOL_COLUMNS:
        return "t" if value else "f"
    return _copy_field(value) if isinstance(value, str) else str(value)


def table_counts(db: str, url: str) -> tuple[int, int]:
    """(deploys, deploy_commits) in a kept database; (0, 0) when it has no schema."""
    if db == "sqlite":
        path = url.removeprefix("sqlite:///")
        if not Path(path).exists():
            return 0, 0
        with contextlib.closing(sqlite3.connect(path)) as conn:
            try:
                return tuple(
                    conn.execute(
                        "SELECT (SELECT count(*) FROM deploys), (SELECT count(*) FROM deploy_commits)"
                    ).fetchone()
                )
            except sqlite3.OperationalError:
                return 0, 0
    import psycopg

    with psycopg.connect(url) as conn:
        try:
            return tuple(
                conn.execute("SELECT (SELECT count(*) FROM deploys), (SELECT count(*) FROM deploy_commits)").fetchone()
            )
        except psycopg.Error:
            return 0, 0


# ---------------------------------------------------------------- measurement


@dataclass
class Row:
    scenario: str
    db: str
    path: str  # in-process | http | git
    times_ms: list[float]
    target_ms: float | None = None
    target_on: str = "p95"  # p95 | each | max
    notes: list[str] = field(default_factory=list)
    other_cpu: float | None = None  # cores used by unrelated processes meanwhile (noise)
    same: bool | None = None  # the answers match the reference they are checked against (None: not checked)

    def pct(self, q: float) -> float:
        xs = sorted(self.times_ms)
        rank = (len(xs) - 1) * q / 100
        lo = int(rank)
        hi = min(lo + 1, len(xs) - 1)
        return xs[lo] + (xs[hi] - xs[lo]) * (rank - lo)

    @property
    def judged(self) -> float:
        return self.pct(95) if self.target_on == "p95" else max(self.times_ms)

    @property
    def ok(self) -> bool | None:
        return None if self.target_ms is None else self.judged <= self.target_ms


def service_windows(services: int, runs: int) -> list[str]:
    step = max(1, services // runs)
    return [f"svc{(i * step) % services}" for i in range(runs)]


class CpuWatch:
    """CPU used meanwhile by processes other than us, our children, the server and its
    PostgreSQL backends, in cores: the noise that perturbs the timings on a shared machine."""

    def __init__(self, server_pid: int | None = None, pg_db: str | None = None) -> None:
        self.server_pid, self.pg_db = server_pid, pg_db

    def _ours(self) -> tuple[float, dict[int, float]]:
        own = sum(os.times()[:4])  # user + system of this process and its waited-for children
        if self.server_pid is not None:
            own += api.proc_cpu_seconds(self.server_pid)
        return own, api.pg_backends_cpu(self.pg_db)

    def __enter__(self) -> Self:
        self.t0, self.busy0 = time.perf_counter(), api.machine_busy_seconds()
        self.own0, self.pg0 = self._ours()
        return self

    def __exit__(self, *_: object) -> None:
        wall = time.perf_counter() - self.t0
        own, pg = self._ours()
        pg_used = sum(t - self.pg0.get(pid, 0.0) for pid, t in pg.items())
        busy = api.machine_busy_seconds() - self.busy0
        self.other = max(0.0, busy - (own - self.own0) - pg_used) / wall if wall > 0 else 0.0


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    t0 = time.perf_counter()
    out = fn()
    return (time.perf_counter() - t0) * 1000, out


def part_dora(db_name: str, url: str, args: argparse.Namespace) -> tuple[list[Row], dict[str, Any], list[str]]:
    """In-process timings; returns rows, the year report (for cross-checks) and diagnostics lines."""
    from shiplane.db import Database
    from shiplane.dora import metrics
    from shiplane.dora import rows as dora_rows
    from shiplane.dora import service as dora
    from shiplane.dora.service import report

    db = Database(url)
    rows: list[Row] = []
    diag: list[str] = []
    try:

        def run(**kw: Any) -> tuple[float, dict[str, Any]]:
            def call() -> dict[str, Any]:
                with db.read() as conn:
                    return report(conn, **kw)

            return timed(call)

        def from_deploys(since: datetime, until: datetime, service: str | None) -> tuple[float, dict[str, Any]]:
            """The same report without the roll-ups: what the indexes alone give (dora/rows.py)."""

            def call() -> dict[str, Any]:
                with db.read() as conn:
                    env_id, svc_id = dora._ids(conn, "production", service)
                    starts = metrics.bucket_starts(since, until, "day", "UTC")
                    found = dora_rows.facts(
                        conn, environment_id=env_id, service_id=svc_id, lo=since, hi=until,
                        failure_states=metrics.DEFAULT_FAILURE_STATES,
                    )
                    return metrics.summarize(metrics.tally(found, starts), starts, since=since, until=until)

            return timed(call)

        pg_db = None if db.is_sqlite else url.rsplit("/", 1)[1]
        since90 = END - SERVICE_WINDOW
        run(since=since90, until=END, service="svc1")  # warm the pool, caches and compiled statements
        times, sizes, raw_times, same = [], [], [], True
        with CpuWatch(pg_db=pg_db) as cpu:
            for slug in service_windows(args.services, args.runs):
                ms, out = run(since=since90, until=END, service=slug)
                times.append(ms)
                sizes.append(out["deploy_frequency"]["count"])
        with CpuWatch(pg_db=pg_db) as raw_cpu:
            for slug in service_windows(args.services, args.runs):
                ms, raw = from_deploys(since90, END, slug)
                raw_times.append(ms)
                same &= all(raw[k] == v for k, v in run(since=since90, until=END, service=slug)[1].items() if k in raw)
        row = Row(f"one service, 90 days (x{len(times)})", db_name, "in-process", times, SERVICE_TARGET_P95_MS, "p95")
        row.other_cpu = cpu.other
        row.notes.append(
            f"{statistics.median(sizes):.0f} counted deploys in range per service"
            f" (median; min {min(sizes)}, max {max(sizes)})"
        )
        rows.append(row)
        raw_row = Row(f"one service, 90 days, no roll-ups (x{len(raw_times)})", db_name, "deploys", raw_times)
        raw_row.other_cpu = raw_cpu.other
        raw_row.same = same
        raw_row.notes.append(
            "every answer identical to the roll-up answer" if same else "answers DIFFER from the roll-up answers"
        )
        rows.append(raw_row)
        print(
            f"  {db_name:<10} one service, 90 days  p50 {row.pct(50):7.1f} ms  p95 {row.pct(95):7.1f} ms"
            f"  max {max(times):7.1f} ms; from the deploys p50 {raw_row.pct(50):.1f} ms p95 {raw_row.pct(95):.1f} ms",
            flush=True,
        )

        since365 = END - YEAR_WINDOW
        times = []
        year: dict[str, Any] = {}
        with CpuWatch(pg_db=pg_db) as cpu:
            for i in range(args.year_runs):
                ms, year = run(since=since365, until=END)
                times.append(ms)
                print(f"  {db_name:<10} all services, 1 year  run {i + 1}: {ms:8.0f} ms", flush=True)
        row = Row(f"all services, 1 year (x{len(times)})", db_name, "in-process", times, YEAR_TARGET_MS, "each")
        row.other_cpu = cpu.other
        row.notes.append(
            f"{year['deploy_frequency']['count']:,} counted deploys in range;"
            f" CFR {year['change_failure_rate']['rate']:.2%},"
            f" lead time median {year['lead_time']['median_seconds'] / 3600:.1f} h,"
            f" recovery median {year['recovery_time']['median_seconds'] / 3600:.1f} h,"
            f" rework {year['rework_rate']['rate']:.2%}"
        )
        rows.append(row)
        if args.year_from_deploys:
            ms, raw = from_deploys(since365, END, None)
            raw_row = Row("all services, 1 year, no roll-ups (x1)", db_name, "deploys", [ms])
            raw_row.same = all(raw[k] == year[k] for k in raw)
            raw_row.notes.append(
                "identical to the roll-up answer" if raw_row.same else "DIFFERS from the roll-up answer"
            )
            rows.append(raw_row)
            print(f"  {db_name:<10} all services, 1 year, from the deploys: {ms:8.0f} ms", flush=True)
        rows.extend(drilldown(db, db_name, since365, args))
        rows.extend(stale_marks(db, db_name, run, since365))

        if not args.no_breakdown:
            diag.extend(breakdown(db, db_name, since365, END, None))
            diag.extend(breakdown(db, db_name, since90, END, "svc0"))
        if args.profile:
            diag.extend(profile(db, db_name, since365))
        return rows, year, diag
    finally:
        db.dispose()


def part_drill(db_name: str, url: str, args: argparse.Namespace) -> list[Row]:
    """The drill-down's first pages, beside the one-service 90-day report measured in the same run."""
    from shiplane.db import Database
    from shiplane.dora.service import report

    db = Database(url)
    try:
        since90 = END - SERVICE_WINDOW
        times, cpu = [], []
        for slug in service_windows(args.services, args.runs):
            def call(slug: str = slug) -> dict[str, Any]:
                with db.read() as conn:
                    return report(conn, since=since90, until=END, service=slug)

            c0 = time.process_time()
            times.append(timed(call)[0])
            cpu.append((time.process_time() - c0) * 1000)
        row = Row(f"one service, 90 days (x{len(times)})", db_name, "in-process", times, SERVICE_TARGET_P95_MS, "p95")
        row.notes.append(f"process CPU p50 {statistics.median(cpu):.1f} ms, p95 {sorted(cpu)[int(0.95 * (len(cpu) - 1))]:.1f} ms")
        print(f"  {db_name:<10} one service, 90 days  p50 {row.pct(50):7.1f} ms  p95 {row.pct(95):7.1f} ms (reference;"
              f" {row.notes[-1]})", flush=True)
        return [row, *drilldown(db, db_name, END - YEAR_WINDOW, args)]
    finally:
        db.dispose()


def drilldown(db: Any, db_name: str, since: datetime, args: argparse.Namespace) -> list[Row]:
    """GET /api/v1/dora/deploys in-process: the first page (50) of each metric over a year, all
    services and one service, `--drill-runs` times each; target: each first page <= 100 ms."""
    from shiplane.dora import explain

    out = []
    for service in (None, "svc3"):
        for metric in explain.METRICS:
            times, sizes, cpu = [], [], []
            for _ in range(args.drill_runs):
                def call(metric: str = metric, service: str | None = service) -> dict[str, Any]:
                    with db.read() as conn:
                        return explain.deploys_behind(conn, metric=metric, since=since, until=END, service=service)

                c0 = time.process_time()
                ms, page = timed(call)
                # This process's CPU time: on SQLite (in-process) the work itself, whatever else runs.
                cpu.append((time.process_time() - c0) * 1000)
                times.append(ms)
                sizes.append(len(page["items"]))
            scope = "all services" if service is None else "one service"
            row = Row(f"drill-down {metric}, {scope}, 1 year, first page (x{len(times)})", db_name, "in-process", times,
                      DRILL_TARGET_MS, "each")
            cpu_text = f"process CPU p50 {statistics.median(cpu):.1f} ms, max {max(cpu):.1f} ms"
            row.notes.append(f"{sizes[-1]} items on the page; {cpu_text}")
            out.append(row)
            print(f"  {db_name:<10} drill-down {metric:<9} {scope:<12} p50 {row.pct(50):7.1f} ms  max {max(times):7.1f} ms"
                  f"  ({sizes[-1]} items; {cpu_text})", flush=True)
    return out


def stale_marks(db: Any, db_name: str, run: Callable[..., tuple[float, Any]], since: datetime) -> list[Row]:
    """A day of writes not folded in yet: what the report pays for the marks, and what the refresh costs.

    Marks are inserted as the triggers would have written them for every
    production deploy of the last day (the data itself is left unchanged).
    """
    from sqlalchemy import text

    from shiplane.dora import refresh

    with db.write() as conn:
        marks = conn.execute(
            text(
                "INSERT INTO dora_marks (environment_id, service_id, at)"
                " SELECT environment_id, service_id, deployed_at FROM deploys WHERE deployed_at >= :since"
            ),
            {"since": (END - timedelta(days=1)).strftime("%Y-%m-%d %H:%M:%S.000000") if db.is_sqlite else END - timedelta(days=1)},
        ).rowcount
    ms_report, _ = run(since=since, until=END)

    def fold() -> None:
        with db.read() as conn:
            plan = refresh.plan(conn, tz="UTC", failure_states=("unhealthy", "incident"))
        if plan is None:  # no deploy in the last day (a small --deploys): no marks to fold
            return
        with db.write() as conn:
            refresh.apply(conn, plan, END)

    ms_refresh, _ = timed(fold)
    ms_after, _ = run(since=since, until=END)
    print(
        f"  {db_name:<10} {marks} marks outstanding: year report {ms_report:.0f} ms; refresh {ms_refresh:.0f} ms;"
        f" then {ms_after:.0f} ms",
        flush=True,
    )
    out = [
        Row(f"all services, 1 year, {marks} marks out (x1)", db_name, "in-process", [ms_report]),
        Row(f"refresh folding {marks} marks (x1)", db_name, "in-process", [ms_refresh]),
    ]
    out[0].notes.append("a day of writes since the last refresh: those days are recomputed from the deploys")
    return out


def breakdown(db: Any, db_name: str, since: datetime, until: datetime, service: str | None) -> list[str]:
    """One report() taken apart: roll-up rows read and decoded, the maths; and the plan of the row query."""
    from sqlalchemy import event

    from shiplane.dora import metrics, rollups
    from shiplane.dora import service as dora

    scope = f"{service}, {(until - since).days} days" if service else f"all services, {(until - since).days} days"
    out = [f"{db_name}: breakdown of one report() ({scope}) from the roll-ups (dora/rollups.py):"]
    try:
        with db.read() as conn:
            env = dora.default_environment(conn)
            env_id, svc_id = dora._ids(conn, env, service)
            sid = rollups.ALL_SERVICES if svc_id is None else svc_id
            params = {"eid": env_id, "sid": sid, "d0": since.date(), "d1": (until - timedelta(days=1)).date()}
            ms_raw, n = timed(lambda: len(conn.execute(rollups._SELECT_DAYS, params).cursor.fetchall()))
            ms_rows, rows_ = timed(lambda: conn.execute(rollups._SELECT_DAYS, params).all())
            starts = metrics.bucket_starts(since, until, "day", "UTC")
            ms_tally, tallies = timed(
                lambda: rollups.bucket_tallies(
                    conn, environment_id=env_id, service_id=svc_id, since=since, until=until, starts=starts,
                    tz="UTC", failure_states=("incident", "unhealthy"),
                )
            )
            ms_sum, _ = timed(lambda: metrics.summarize(tallies, starts, since=since, until=until))
            size = sum(len(r.leads) + len(r.recoveries) for r in rows_)
            out.append(f"  day rows        {n:>6,} rows, {size / 2**20:.1f} MiB of durations: database + driver {ms_raw:7.1f} ms,"
                       f" with SQLAlchemy rows {ms_rows:7.1f} ms")
            out.append(f"  bucket tallies (state, marks, rows, decoding)   {ms_tally:7.1f} ms")
            out.append(f"  metrics.summarize (medians by selection)        {ms_sum:7.1f} ms")
            prefix = "EXPLAIN QUERY PLAN " if db.is_sqlite else "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) "

            def rewrite(_c: Any, _cur: Any, statement: str, parameters: Any, _ctx: Any, _many: bool) -> tuple:
                return prefix + statement, parameters

            event.listen(conn, "before_cursor_execute", rewrite, retval=True)
            try:
                plan = conn.execute(rollups._SELECT_DAYS, params).cursor.fetchall()
            finally:
                event.remove(conn, "before_cursor_execute", rewrite)
            out.append("  plan of the day-row query:")
            out.extend(f"    {line}" for line in ([r[-1] for r in plan] if db.is_sqlite else [r[0] for r in plan]))
    except Exception as exc:  # noqa: BLE001  (the service's internals may have changed under us)
        out.append(f"  breakdown unavailable: {type(exc).__name__}: {exc}")
    return out


def profile(db: Any, db_name: str, since: datetime) -> list[str]:
    from shiplane.dora.service import report

    prof = cProfile.Profile()
    with db.read() as conn:
        prof.enable()
        report(conn, since=since, until=END)
        prof.disable()
    buf = io.StringIO()
    pstats.Stats(prof, stream=buf).sort_stats("tottime").print_stats(15)
    lines = [line for line in buf.getvalue().splitlines() if line.strip()]
    return [f"{db_name}: cProfile of one report() (all services, 1 year), top functions by own time:"] + [
        f"  {line}" for line in lines[-17:]
    ]


def part_http(
    db_name: str, url: str, workdir: Path, pg: Postgres | None, in_process_year: dict | None, args: argparse.Namespace
) -> list[Row]:
    print(f"http: GET /api/v1/dora on {db_name}", flush=True)
    server = spawn_shiplane(f"dora-{db_name}", url, workdir, migrate=False, pg=pg)
    try:
        conn = http.client.HTTPConnection(HOST, server.port, timeout=120)
        headers = {"Authorization": f"Bearer {TOKEN}"}

        def get(query: str) -> tuple[float, Any]:
            def call() -> Any:
                conn.request("GET", f"/api/v1/dora?{query}", headers=headers)
                resp = conn.getresponse()
                body = resp.read()
                if resp.status != 200:
                    raise RuntimeError(f"GET /api/v1/dora?{query}: {resp.status} {body[:300]!r}")
                return json.loads(body)

            return timed(call)

        pg_db = server.pg_db
        s90, s365, until = (END - SERVICE_WINDOW).date(), (END - YEAR_WINDOW).date(), END.date()
        get(f"service=svc1&since={s90}&until={until}")  # warmup
        with CpuWatch(server.proc.pid, pg_db) as cpu:
            times = [
                get(f"service={slug}&since={s90}&until={until}")[0]
                for slug in service_windows(args.services, args.runs)
            ]
        rows = [Row(f"one service, 90 days (x{len(times)})", db_name, "http", times, SERVICE_TARGET_P95_MS, "p95")]
        rows[0].other_cpu = cpu.other
        print(
            f"  {db_name:<10} one service, 90 days  p50 {rows[0].pct(50):7.1f} ms  p95 {rows[0].pct(95):7.1f} ms",
            flush=True,
        )
        times, body = [], None
        probe = HealthProbe(server.port)
        with CpuWatch(server.proc.pid, pg_db) as cpu:
            for i in range(args.year_runs):
                # During the first one, another client polls /healthz: does the server still answer?
                with probe if i == 0 else contextlib.nullcontext():
                    ms, body = get(f"since={s365}&until={until}")
                times.append(ms)
                print(f"  {db_name:<10} all services, 1 year  run {i + 1}: {ms:8.0f} ms", flush=True)
        row = Row(f"all services, 1 year (x{len(times)})", db_name, "http", times, YEAR_TARGET_MS, "each")
        row.other_cpu = cpu.other
        row.notes.append(probe.summary())
        if in_process_year is not None and body is not None:
            row.same = json.loads(json.dumps(in_process_year)) == body
            row.notes.append(
                "answer identical to the in-process report" if row.same else "answer DIFFERS from the in-process report"
            )
        rows.append(row)
        rss = api.rss_kib(server.proc.pid) / 1024
        row.notes.append(f"server RSS after the year requests {rss:.0f} MiB")
        conn.close()
        return rows
    finally:
        server.stop()


class HealthProbe:
    """GET /healthz every 100 ms from a thread of its own while a long request runs."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.latencies: list[float] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        conn = http.client.HTTPConnection(HOST, self.port, timeout=300)
        while not self.stop.is_set():
            t0 = time.perf_counter()
            conn.request("GET", "/healthz")
            conn.getresponse().read()
            self.latencies.append((time.perf_counter() - t0) * 1000)
            self.stop.wait(0.1)
        conn.close()

    def __enter__(self) -> Self:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        self.thread.join(timeout=300)

    def summary(self) -> str:
        if not self.latencies:
            return "/healthz polled during the first request: no answer"
        xs = sorted(self.latencies)
        return (
            f"/healthz polled every 100 ms during the first request: {len(xs)} answers,"
            f" p50 {xs[len(xs) // 2]:.1f} ms, max {xs[-1]:.0f} ms"
        )


# ---------------------------------------------------------------- git


def make_repo(path: Path, commits: int) -> tuple[list[str], float]:
    """A repository of `commits` linear commits (1-3 files each), by git fast-import: (shas oldest first, seconds)."""
    t0 = time.perf_counter()
    subprocess.run(["git", "init", "--quiet", "--initial-branch=main", str(path)], check=True)
    stream = io.BytesIO()
    base = int((END - timedelta(days=60)).timestamp())
    for i in range(1, commits + 1):
        when = base + i * 600
        verb = "Fix" if i % 3 else "Add"
        msg = f"Change {i}: {verb} module {i % 40} (SHIP-{i}) (#{i})\n\nBody of change {i}.\n".encode()
        stream.write(b"commit refs/heads/main\n")
        stream.write(f"mark :{i}\n".encode())
        stream.write(f"author Dev {i % 17} <dev{i % 17}@example.com> {when} +0000\n".encode())
        stream.write(f"committer Dev {i % 17} <dev{i % 17}@example.com> {when} +0000\n".encode())
        stream.write(f"data {len(msg)}\n".encode() + msg)
        if i > 1:
            stream.write(f"from :{i - 1}\n".encode())
        for f in range(1 + i % 3):
            content = f"# module {i % 40} file {f}\nVALUE = {i}\n".encode()
            stream.write(f"M 100644 inline src/module{(i + f) % 40}/file{f}.py\n".encode())
            stream.write(f"data {len(content)}\n".encode() + content)
        stream.write(b"\n")
    subprocess.run(["git", "fast-import", "--quiet"], input=stream.getvalue(), cwd=path, check=True)
    subprocess.run(["git", "checkout", "--quiet", "main"], cwd=path, check=True)
    shas = subprocess.run(
        ["git", "rev-list", "--reverse", "main"], cwd=path, check=True, capture_output=True, text=True
    ).stdout.split()
    return shas, time.perf_counter() - t0


def part_changes(workdir: Path, args: argparse.Namespace) -> tuple[list[Row], list[str]]:
    from sqlalchemy import insert, select, update

    from shiplane import migrate as migrations
    from shiplane.changes.git import Mirror
    from shiplane.changes.service import ChangeTracker
    from shiplane.db import Database
    from shiplane.settings import ChangesConfig, Config, ServiceConfig
    from shiplane.tables.catalog import environments, services
    from shiplane.tables.deploys import deploys

    print(f"changes: git mirror of a {args.git_commits}-commit repository, {args.range}-commit range", flush=True)
    repo = workdir / "origin"
    shas, built = make_repo(repo, args.git_commits)
    notes = [f"repository of {len(shas)} commits built with git fast-import in {built:.2f} s"]
    remote = f"file://{repo}"
    lo = (len(shas) - args.range) // 2
    base, head = shas[lo - 1], shas[lo - 1 + args.range]
    rows: list[Row] = []

    mirror = Mirror(workdir / "mirrors" / "bench.git", remote)
    ms_clone, _ = timed(mirror.update)
    rows.append(Row("mirror clone (first update)", "-", "git", [ms_clone]))
    fetches = [timed(mirror.update)[0] for _ in range(5)]
    rows.append(Row("mirror fetch, nothing new (x5)", "-", "git", fetches))
    logs = []
    for _ in range(args.git_runs):
        ms, commits = timed(lambda: mirror.log(base, head))
        logs.append(ms)
        if len(commits) != args.range:
            raise RuntimeError(f"Mirror.log returned {len(commits)} commits, expected {args.range}")
    rows.append(Row(f"Mirror.log {args.range} commits (x{len(logs)})", "-", "git", logs, CHANGES_TARGET_MS, "max"))
    print(
        f"  clone {ms_clone:.0f} ms; fetch p50 {statistics.median(fetches):.0f} ms;"
        f" log p50 {statistics.median(logs):.0f} ms",
        flush=True,
    )

    # The whole worker path, on SQLite: pending() -> resolve() (webhooks, then the
    # mirror: fetch, has x2, log) -> record() of 500 deploy_commits rows.
    db_path = workdir / "changes.db"
    db = Database(f"sqlite:///{db_path}")
    try:
        migrations.upgrade(db.engine)
        config = Config(
            services=[ServiceConfig(slug="bench", git_remote=remote)],
            changes=ChangesConfig(mirror_dir=str(workdir / "tracker-mirrors")),
        )
        now = END
        with db.write() as conn:
            svc_id = conn.execute(
                insert(services).values(slug="bench", name="bench", created_at=now).returning(services.c.id)
            ).scalar_one()
            env_id = conn.execute(
                insert(environments)
                .values(slug="production", name="production", production=True, created_at=now)
                .returning(environments.c.id)
            ).scalar_one()
            common = {
                "service_id": svc_id,
                "environment_id": env_id,
                "status": "succeeded",
                "registered_by": "bench",
                "health_state": "healthy",
            }
            conn.execute(
                insert(deploys).values(
                    sha=base,
                    registered_at=now - timedelta(hours=2),
                    deployed_at=now - timedelta(hours=2),
                    changes_source="body",
                    has_changes=True,
                    **common,
                )
            )
            deploy_id = conn.execute(
                insert(deploys).values(sha=head, registered_at=now, deployed_at=now, **common).returning(deploys.c.id)
            ).scalar_one()
        tracker = ChangeTracker(config, db)

        def tick() -> int:
            return asyncio.run(tracker.tick())

        def check() -> None:
            with db.read() as conn:
                row = conn.execute(
                    select(deploys.c.changes_source, deploys.c.commit_count, deploys.c.changes_note).where(
                        deploys.c.id == deploy_id
                    )
                ).one()
            if row.changes_source != "mirror" or row.commit_count != args.range:
                raise RuntimeError(
                    f"ChangeTracker recorded {row.commit_count} commits from {row.changes_source!r}: {row.changes_note}"
                )

        ms_first, _ = timed(tick)
        check()
        rows.append(Row("ChangeTracker.tick, with clone", "sqlite", "git", [ms_first]))
        ticks = []
        for _ in range(args.git_runs):
            with db.write() as conn:  # make the deploy pending again
                conn.execute(update(deploys).where(deploys.c.id == deploy_id).values(changes_source=None))
            ms, _ = timed(tick)
            check()
            ticks.append(ms)
        rows.append(
            Row(
                f"ChangeTracker.tick {args.range} commits (x{len(ticks)})",
                "sqlite",
                "git",
                ticks,
                CHANGES_TARGET_MS,
                "max",
            )
        )
        rows[-1].notes.append(
            "pending() + mirror fetch + has() x2 + log + record() of the commits, mirror already cloned"
        )
        print(f"  tick with clone {ms_first:.0f} ms; tick p50 {statistics.median(ticks):.0f} ms", flush=True)
    finally:
        db.dispose()
    return rows, notes


# ---------------------------------------------------------------- driver


def prepare(
    db_name: str, args: argparse.Namespace, workdir: Path, pg: Postgres | None, data_box: list
) -> tuple[str, list[str]]:
    """The seeded database of db_name (seeded now, or kept by an earlier --keep run): (url, notes)."""
    kept = args.keep or args.skip_seed
    if db_name == "sqlite":
        path = KEPT_SQLITE if kept else workdir / "dora.db"
        path.parent.mkdir(parents=True, exist_ok=True)
        url = f"sqlite:///{path}"
    else:
        url = pg.url(PG_DB)
    if args.skip_seed:
        have = table_counts(db_name, url) if db_name == "sqlite" or pg.exists(PG_DB) else (0, 0)
        if have != (args.deploys, args.commits):
            raise SystemExit(
                f"--skip-seed: the kept {db_name} database has {have[0]:,} deploys and {have[1]:,} commits,"
                f" not {args.deploys:,} and {args.commits:,}: run once with --keep"
            )
        migrate(url)  # a kept database may predate the current schema (no-op when current)
        notes = [f"reused a kept database of {have[0]:,} deploys and {have[1]:,} commits"]
        return url, notes + build_rollups(db_name, url)
    if not data_box:
        print(
            f"generating {args.deploys:,} deploys and {args.commits:,} commits over {args.services} services",
            flush=True,
        )
        ms, data = timed(lambda: generate(args.deploys, args.commits, args.services))
        data_box.append(data)
        print(f"  generated in {ms / 1000:.1f} s: {data.mix()}", flush=True)
    data = data_box[0]
    if db_name == "sqlite":
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
    else:
        pg.create(PG_DB)
    print(f"seeding {db_name}", flush=True)
    t0 = time.perf_counter()
    # An installation from before the roll-ups (0007), then upgraded: the
    # seeding does not fire the roll-up triggers, as the history it stands
    # for was written before they existed.
    migrate_to(url, PRE_ROLLUPS)
    if db_name == "sqlite":
        seed_sqlite(path, data)
    else:
        seed_postgres(url, data)
    migrate(url)
    seconds = time.perf_counter() - t0
    after = "ANALYZE" if db_name == "sqlite" else "VACUUM ANALYZE"
    print(
        f"  seeded {data.deploys:,} deploys and {data.commits:,} commits in {seconds:.1f} s (schema, rows, {after})",
        flush=True,
    )
    notes = [f"seeded {data.deploys:,} deploys + {data.commits:,} commits in {seconds:.1f} s (schema, rows, {after})"]
    notes += build_rollups(db_name, url)
    if db_name == "sqlite":
        notes.append(f"database file {Path(path).stat().st_size / 2**20:,.0f} MiB")
    return url, notes


PRE_ROLLUPS = "0007"


def migrate_to(url: str, revision: str) -> None:
    """Upgrade to `revision` only (`shiplane db upgrade` always goes to head)."""
    from alembic import command

    from shiplane import migrate as migrations
    from shiplane.db import Database

    db = Database(url)
    try:
        cfg = migrations.alembic_config(db.url)
        with db.engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, revision)
    finally:
        db.dispose()


def build_rollups(db_name: str, url: str) -> list[str]:
    """Build the DORA roll-ups as the first refresh after the upgrade would (default [dora] settings)."""
    from sqlalchemy import func, select

    from shiplane.db import Database
    from shiplane.dora import refresh, rollups
    from shiplane.dora.metrics import DEFAULT_FAILURE_STATES
    from shiplane.tables.dora import dora_days

    db = Database(url)
    try:
        with db.read() as conn:
            state = rollups.read_state(conn)
        if state is not None and state.serves("UTC", DEFAULT_FAILURE_STATES):
            return []
        print(f"building the DORA roll-ups on {db_name}", flush=True)
        t0 = time.perf_counter()
        with db.read() as conn:
            plan = refresh.plan(conn, tz="UTC", failure_states=DEFAULT_FAILURE_STATES)
        t1 = time.perf_counter()
        with db.write() as conn:
            refresh.apply(conn, plan, END)
            n = conn.execute(select(func.count()).select_from(dora_days)).scalar()
        t2 = time.perf_counter()
        line = (
            f"roll-ups built from the deploys in {t2 - t0:.1f} s ({t1 - t0:.1f} s reading and computing,"
            f" {t2 - t1:.1f} s writing {n:,} day rows in one transaction)"
        )
        print(f"  {line}", flush=True)
        return [line]
    finally:
        db.dispose()


def print_summary(
    rows: list[Row], context: list[str], notes: list[str], diag: list[str], failures: list[str],
    enforce_targets: bool = True,
) -> bool:
    """Print the table; return whether every part ran, every cross-check matched and (if
    enforced) every target was met."""
    ok = not failures and all(r.same is not False for r in rows)
    width = 133
    print("\n" + "=" * width)
    print("SUMMARY")
    for line in context:
        print(f"  {line}")
    print("-" * width)
    print(
        f"{'scenario':<38}{'db':<11}{'path':<11}{'p50 ms':>9}{'p95 ms':>9}{'max ms':>9}  {'runs (ms)':<22}{'other':>6}"
        f"{'target':>17}"
    )
    print("-" * width)
    for r in rows:
        runs = ", ".join(f"{t:.0f}" for t in r.times_ms) if len(r.times_ms) <= 5 else "-"
        target = "-"
        if r.target_ms is not None:
            label = {"p95": "p95", "each": "each", "max": "max"}[r.target_on]
            target = f"{label}<={r.target_ms:.0f} {'ok' if r.ok else 'MISS'}"
            ok &= bool(r.ok) or not enforce_targets
        other = f"{r.other_cpu:.0%}" if r.other_cpu is not None else "-"
        print(
            f"{r.scenario:<38}{r.db:<11}{r.path:<11}{r.pct(50):>9.1f}{r.pct(95):>9.1f}{max(r.times_ms):>9.1f}"
            f"  {runs:<22}{other:>6}{target:>17}"
        )
    print("-" * width)
    for line in notes:
        print(f"  {line}")
    for r in rows:
        for note in r.notes:
            print(f"  {r.scenario} ({r.db}, {r.path}): {note}")
    for failure in failures:
        print(f"  FAILED part: {failure}")
    if not enforce_targets:
        print("  targets: shown, not enforced (--no-targets)")
    print(f"  checks: {'all passed' if ok else 'FAILED (see MISS or DIFFER above, or a failed part)'}")
    print("  other: CPU used by unrelated processes during the measured runs, in shares of one core;")
    print("  the figures above are perturbed when it is high: compare runs made on an idle machine.")
    noisy = [r.other_cpu for r in rows if r.other_cpu is not None and r.other_cpu > NOISY_OTHER_CPU]
    if noisy:
        print(
            f"  WARNING: unrelated processes used up to {max(noisy):.0%} of a core"
            f" during {len(noisy)} measured scenario(s)."
        )
    print("=" * width)
    if diag:
        print("DIAGNOSTICS")
        for line in diag:
            print(line)
        print("=" * width)
    return ok


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="Benchmark Shiplane's DORA report and change tracking.")
    p.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="both")
    p.add_argument(
        "--parts", default="dora,http,changes",
        help="comma-separated subset of dora,http,changes,drill (drill: the drill-down beside the 90-day report only)",
    )
    p.add_argument("--deploys", type=int, default=1_000_000)
    p.add_argument("--commits", type=int, default=5_000_000)
    p.add_argument("--services", type=int, default=200)
    p.add_argument("--runs", type=int, default=50, help="one-service reports per database (default 50)")
    p.add_argument("--year-runs", type=int, default=3, help="all-services one-year reports (default 3)")
    p.add_argument("--drill-runs", type=int, default=5, help="first pages of each drill-down list (default 5)")
    p.add_argument("--git-commits", type=int, default=1000)
    p.add_argument("--range", type=int, default=500, help="commits between the two deploys (default 500)")
    p.add_argument("--git-runs", type=int, default=5)
    p.add_argument(
        "--pg-url",
        default=os.environ.get("SHIPLANE_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/test"),
        help="admin connection used to create and drop the benchmark database",
    )
    p.add_argument("--keep", action="store_true", help=f"keep the seeded databases ({KEPT_SQLITE}, PostgreSQL {PG_DB})")
    p.add_argument("--skip-seed", action="store_true", help="reuse the databases kept by an earlier --keep run")
    p.add_argument("--no-breakdown", action="store_true", help="skip the per-step breakdown and query plans")
    p.add_argument("--profile", action="store_true", help="cProfile one all-services report per database")
    p.add_argument(
        "--year-from-deploys",
        action="store_true",
        help="also time the one-year report without the roll-ups (what indexes alone give; about 20 s a database)",
    )
    p.add_argument(
        "--worker",
        action="store_true",
        help="serve with the embedded background worker (default: --no-worker, so that the health judge does not"
        " rewrite the seeded pending deploys between the in-process and the HTTP measurements)",
    )
    p.add_argument(
        "--no-targets",
        action="store_true",
        help="show the time targets but do not fail on them; differing answers and failed parts still fail"
        " (smoke runs)",
    )
    args = p.parse_args(argv)
    args.parts = {x.strip() for x in args.parts.split(",") if x.strip()}
    if args.parts - {"dora", "http", "changes", "drill"}:
        p.error(f"unknown part(s): {', '.join(sorted(args.parts - {'dora', 'http', 'changes', 'drill'}))}")
    if args.range >= args.git_commits:
        p.error("--range must be below --git-commits")
    return args


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    api.NO_WORKER = not args.worker
    command = shlex.join([os.path.relpath(sys.executable, ROOT), os.path.relpath(__file__, ROOT), *argv])
    dbs = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    needs_db = bool(args.parts & {"dora", "http", "drill"})
    pg = Postgres(args.pg_url) if "postgresql" in dbs and needs_db else None
    workdir = Path(tempfile.mkdtemp(prefix="shiplane-bench-dora-"))

    import sqlalchemy

    git = subprocess.run(["git", "--version"], capture_output=True, text=True, check=False).stdout.strip()
    context = [
        f"command: {command}",
        f"code: {git_revision()}",
        (
            f"data: {args.deploys:,} production deploys of {args.services} services from {START:%Y-%m-%d} to"
            f" {END:%Y-%m-%d}, {args.commits:,} commits; (a) 90 days to {END:%Y-%m-%d}, one service, {args.runs}"
            f" services; (b) all services, 365 days to {END:%Y-%m-%d}, {args.year_runs} runs"
        ),
        (
            f"machine: {os.cpu_count()} cores, load average at start {os.getloadavg()[0]:.2f};"
            f" Python {platform.python_version()}, SQLAlchemy {sqlalchemy.__version__},"
            f" SQLite {sqlite3.sqlite_version}, {git}"
        ),
    ]
    if pg:
        context.append(f"PostgreSQL: {pg.describe()}")
    for line in context:
        print(line, flush=True)

    rows: list[Row] = []
    notes: list[str] = []
    diag: list[str] = []
    failures: list[str] = []
    years: dict[str, dict] = {}
    data_box: list[Dataset] = []
    src_before = source_fingerprint()
    t_start = time.perf_counter()
    try:
        for db_name in dbs if needs_db else []:
            try:
                url, seeded = prepare(db_name, args, workdir, pg, data_box)
                notes.extend(f"{db_name}: {n}" for n in seeded)
                year = None
                if "dora" in args.parts:
                    print(f"dora: report() in-process on {db_name}", flush=True)
                    r, year, d = part_dora(db_name, url, args)
                    rows.extend(r)
                    diag.extend(d)
                    years[db_name] = year
                if "drill" in args.parts and "dora" not in args.parts:
                    print(f"drill: GET /api/v1/dora/deploys in-process on {db_name}", flush=True)
                    rows.extend(part_drill(db_name, url, args))
                if "http" in args.parts:
                    rows.extend(part_http(db_name, url, workdir, pg if db_name == "postgresql" else None, year, args))
            except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
                print(f"  FAILED: {db_name}: {exc}", flush=True)
                failures.append(f"{db_name}: {str(exc).splitlines()[0]}")
            finally:
                if db_name == "postgresql" and not (args.keep or args.skip_seed):
                    pg.drop(PG_DB)
        data_box.clear()
        if "changes" in args.parts:
            try:
                r, n = part_changes(workdir, args)
                rows.extend(r)
                notes.extend(f"changes: {x}" for x in n)
            except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
                print(f"  FAILED: changes: {exc}", flush=True)
                failures.append(f"changes: {str(exc).splitlines()[0]}")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    if len(years) == 2:
        same = json.dumps(years["sqlite"], sort_keys=True) == json.dumps(years["postgresql"], sort_keys=True)
        notes.append(
            "cross-check: the one-year report is "
            + ("identical on SQLite and PostgreSQL" if same else "DIFFERENT on SQLite and PostgreSQL (same data!)")
        )
        if not same:
            failures.append("the one-year report differs between SQLite and PostgreSQL")
    context.append(
        f"total wall time {time.perf_counter() - t_start:.0f} s; load average at end {os.getloadavg()[0]:.2f}"
    )
    if source_fingerprint() != src_before:
        context.append("WARNING: src/ changed during the run: the figures may mix versions of the code")
    ok = print_summary(rows, context, notes, diag, failures, enforce_targets=not args.no_targets)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
