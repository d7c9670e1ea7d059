"""How long a failed job waits before its next attempt (jobs/queue.backoff)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from shiplane.jobs.queue import backoff


@pytest.mark.parametrize(
    "attempts,seconds",
    [
        (0, 2),  # defensive: a job is claimed (attempt 1) before it can fail
        (1, 2),
        (2, 4),
        (3, 8),
        (10, 1024),
        (11, 2048),
        (12, 3600),  # 4096 s capped at an hour
        (20, 3600),  # the default max_attempts
    ],
)
def test_it_doubles_from_two_seconds_up_to_an_hour(attempts, seconds):
    assert backoff(attempts, jitter=0) == timedelta(seconds=seconds)


@pytest.mark.parametrize("attempts,seconds", [(1, 2), (5, 32), (20, 3600)])
def test_it_jitters_by_a_quarter_either_way(attempts, seconds):
    waits = [backoff(attempts).total_seconds() for _ in range(200)]
    assert all(0.75 * seconds <= w <= 1.25 * seconds for w in waits)
    # Spread out, so that jobs that failed together (a forge outage) do not all retry together.
    assert max(waits) - min(waits) > 0.25 * seconds


def test_it_takes_its_base_and_cap():
    assert backoff(3, base=1.0, cap=5.0, jitter=0) == timedelta(seconds=4)
    assert backoff(4, base=1.0, cap=5.0, jitter=0) == timedelta(seconds=5)
