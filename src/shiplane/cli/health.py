"""``judge``: the deploy-health judge on two series from files, offline."""

from __future__ import annotations

from typing import Annotated

import typer

from shiplane.cli.common import fail, out


def _read_series(path: str) -> list[float]:
    """One number per line, or CSV with a header and a `value` column (NAB style). Blank lines skipped."""
    import csv

    try:
        with open(path, newline="") as fh:
            text = fh.read()
    except OSError as exc:
        fail(f"{path}: {exc.strerror}", 2)
    lines = [line for line in text.splitlines() if line.strip()]
    if lines and "," in lines[0]:
        reader = csv.DictReader(lines)
        if not reader.fieldnames or "value" not in reader.fieldnames:
            fail(f"{path}: a CSV needs a 'value' column", 2)
        rows = [row["value"] for row in reader]
    else:
        rows = lines
    try:
        return [float(v) for v in rows]
    except ValueError as exc:
        fail(f"{path}: not a number: {exc}", 2)


def judge(
    baseline: Annotated[str, typer.Option(help="File: the baseline series.")],
    current: Annotated[str, typer.Option(help="File: the current series, in time order.")],
    history: Annotated[
        list[str] | None,
        typer.Option(metavar="<str>", help="File: the same window on an earlier day; repeat for several days (any lengths)."),
    ] = None,
    regression: Annotated[str, typer.Option(help="increase, decrease or any: which direction is bad.")] = "increase",
    name: Annotated[str, typer.Option(help="Metric name for the report.")] = "metric",
    step: Annotated[float | None, typer.Option(help="Seconds between points, to say when in minutes.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the verdict as JSON.")] = False,
) -> None:
    """Judge two series offline, as the lifecycle reads them; exit 0 when healthy, 1 otherwise."""
    import json

    from shiplane.health.judge import REGRESSIONS, MetricInput
    from shiplane.health.judge import judge as run_judge

    if regression not in REGRESSIONS:
        fail(f"--regression must be increase, decrease or any (got {regression!r})", 2)
    if step is not None and not 0 < step < float("inf"):
        fail(f"--step must be a positive number of seconds (got {step:g})", 2)
    verdict = run_judge([
        MetricInput(name=name, baseline=_read_series(baseline), current=_read_series(current), regression=regression,
                    history=[_read_series(path) for path in history or []], step=step)
    ])
    if as_json:
        print(json.dumps(verdict.to_dict(), indent=2))
    else:
        for m in verdict.metrics:
            out.print(f"{m.name}: {m.health}{' (final)' if m.final else ''} — {m.reason}", markup=False)
    raise typer.Exit(0 if verdict.health == "healthy" else 1)
