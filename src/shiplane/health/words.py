"""Verdicts in plain language, for people (pure): "p95 latency +56% since deploy".

The judge's own reasons carry its statistics; these sentences carry only what
someone deciding what to do needs: which metric, which way, by how much.
"""

from __future__ import annotations

import math
from typing import Any

_STATE = {"healthy": "normal", "ailing": "somewhat worse", "unhealthy": "clearly worse", "no_data": "no data"}


def number(value: float | None, unit: str = "") -> str:
    """3 significant figures, then the unit: "412 ms", "1.27 %", "0.0031"."""
    if value is None or not math.isfinite(value):
        return "–"
    text = f"{value:.3g}" if abs(value) < 1e6 else f"{value:,.0f}"
    if "e" in text:
        text = f"{value:,.0f}" if abs(value) >= 1 else f"{value:.2g}"
    return f"{text} {unit}".strip() if unit else text


def change(baseline: float | None, current: float | None) -> str | None:
    """"+56%", "−12%", or None when there is no honest percentage (a zero or missing baseline)."""
    if baseline is None or current is None or not math.isfinite(baseline) or not math.isfinite(current) or baseline == 0:
        return None
    pct = (current - baseline) / abs(baseline) * 100
    if abs(pct) < 0.5:
        return "±0%"
    return f"{'+' if pct > 0 else '−'}{abs(pct):.0f}%"


def metric_sentence(metric: dict[str, Any], unit: str = "") -> str:
    """One sentence for one judged metric (a ``MetricVerdict.to_dict()``)."""
    name = metric.get("name", "metric")
    state = metric.get("health", "")
    baseline, current = metric.get("baseline_center"), metric.get("current_center")
    baseline = baseline if isinstance(baseline, (int, float)) else None
    current = current if isinstance(current, (int, float)) else None
    if state == "no_data" or current is None:
        return f"{name}: not enough data to judge yet."
    delta = change(baseline, current)
    moved = f"{delta} since the deploy" if delta else "changed since the deploy"
    if delta == "±0%":
        moved = "unchanged since the deploy"
    level = f"{number(current, unit)}, was {number(baseline, unit)}" if baseline is not None else number(current, unit)
    return f"{name} {moved} ({level}): {_STATE.get(state, state.replace('_', ' '))}."


def lock_reason(service: str, deploy_id: int, state: str, metrics: list[dict[str, Any]], units: dict[str, str]) -> str:
    """Why an automatic lock exists: "checkout #911: p95 latency +56% since deploy (unhealthy)"."""
    bad = [m for m in metrics if m.get("health") == state] or [m for m in metrics if m.get("health") in ("unhealthy", "ailing")]
    parts = []
    for m in bad[:3]:
        baseline, current = m.get("baseline_center"), m.get("current_center")
        delta = change(baseline if isinstance(baseline, (int, float)) else None, current if isinstance(current, (int, float)) else None)
        if delta:
            parts.append(f"{m.get('name')} {delta} since deploy ({number(current, units.get(m.get('name', ''), ''))})")
        else:
            parts.append(f"{m.get('name')} is {_STATE.get(m.get('health', ''), m.get('health', ''))}")
    what = "; ".join(parts) if parts else f"judged {state}"
    return f"{service} #{deploy_id}: {what} — {state}"
