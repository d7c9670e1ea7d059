"""The judge's verdicts in words: one sentence per metric (pure; no I/O).

"5xx rate +110% (1.2 → 2.5), the evidence passed the always-valid threshold after 8
minutes (always-valid p<0.0001)"; "p95 latency +3% (212 ms → 218 ms), a rise of 20% or
more ruled out after 9 minutes". The deploy page, the API and Slack show them as they are.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from shiplane.health.grading import AILING, HEALTHY, UNHEALTHY, Scan
from shiplane.health.sequential import ALPHA

if TYPE_CHECKING:
    from shiplane.health.judge import MetricInput


def number(x: float) -> str:
    if math.isinf(x):
        return "∞"
    if x == int(x) or abs(x) >= 100:
        return f"{x:,.0f}"
    return f"{x:.3g}"


def _with_unit(x: float, unit: str) -> str:
    return f"{number(x)} {unit}" if unit else number(x)


def _change(ref: float, cur: float, unit: str, note: str = "") -> str:
    """'+63% (212 ms → 346 ms)': the real move, whatever the bad direction."""
    values = f"({_with_unit(ref, unit)} → {_with_unit(cur, unit)}{note})"
    if ref == cur:
        return f"unchanged {values}"
    if ref == 0:
        return f"{'up' if cur > 0 else 'down'} from zero {values}"
    rel = (cur - ref) / abs(ref)
    if rel >= 9 and ref > 0:
        return f"×{cur / ref:.3g} {values}"
    return f"{rel:+.0%} {values}".replace("-", "−")


def _grade(x: float, m: MetricInput) -> int:
    return UNHEALTHY if x >= m.unhealthy_ratio else AILING if x >= m.ailing_ratio else HEALTHY


def _p(p: float) -> str:
    return f"always-valid p={p:.2g}" if p >= 1e-4 else "always-valid p<0.0001"


def _after(points: int, step: float | None) -> str:
    """'after 7 minutes' (with a step), else 'after 7 points'."""
    if not step:
        return f"after {points} point{'s' * (points != 1)}"
    seconds = points * step
    for size, unit in ((86400, "day"), (3600, "hour"), (60, "minute"), (1, "second")):
        if seconds >= size or unit == "second":
            n = seconds / size
            text = f"{n:.0f}" if abs(n - round(n)) < 0.05 else f"{n:.1f}"
            return f"after {text} {unit}{'s' * (text != '1')}"
    raise AssertionError("unreachable")


def _ruled_out(m: MetricInput) -> str:
    pct = f"{m.ailing_ratio - 1:.0%}"
    word = {"increase": "rise", "decrease": "fall"}.get(m.regression, "change")
    return f"a {word} of {pct} or more"


def reason(m: MetricInput, d: Scan, final: bool, windows: int, baseline_len: int) -> str:
    """One sentence: what moved, and what the evidence did (passed the threshold, ruled a regression out, neither)."""
    b0, c0 = float(d.ref_center[0]), float(d.cur_center[0])
    health = int(d.health[0])
    note = ", means: mostly zeros" if d.sparse[0] else ""
    lead = f"{m.name} {_change(b0, c0, m.unit, note)}"
    start = int(d.start[0])
    if start:
        lead += f" against the baseline's last {baseline_len - start} points (its level moved)"
    when = _after(int(d.decided_at[0]), m.step)
    p = float(d.p[0])
    effect, shown = float(d.effect[0]), float(d.ratio[0])
    graded = f"; graded on {effect:.3g}×" if health != HEALTHY and _grade(effect, m) != _grade(shown, m) else ""
    hist = ""
    if windows:
        h0 = float(d.hist_center[0])
        hist = f"the history ({windows} window{'s' * (windows != 1)}): {_change(h0, c0, m.unit)}"
    if health != HEALTHY:
        if d.seasonal[0]:
            before = _change(b0, c0, m.unit).split(" (")[0]
            return (f"{m.name} against {hist}, the evidence passed the always-valid threshold {when}, "
                    f"though {before} against the baseline (it was a peak){graded}")
        tail = f", and against {hist}" if windows else ""
        return f"{lead}, the evidence passed the always-valid threshold {when} ({_p(p)}){tail}{graded}"
    passed = bool(d.z[0] >= d.threshold[0])
    if final:
        extra = f" (and against {hist})" if windows else ""
        return f"{lead}, {_ruled_out(m)} ruled out {when}{extra}"
    if passed and shown < m.ailing_ratio:
        return f"{lead}, past the always-valid threshold but below the {m.ailing_ratio:g}× ailing ratio"
    if passed and windows and not d.hist_significant[0]:
        return f"{lead}, past the always-valid threshold, but in line with {hist}"
    sparse = "; mostly-zero series need stronger evidence" if d.sparse[0] and p < ALPHA else ""
    return f"{lead}, not past the always-valid threshold so far ({_p(p)}{sparse})"
