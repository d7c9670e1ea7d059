"""Fetching a deploy's metrics from CloudWatch, New Relic and a JSON API, at 50 ms a request.

Each source is a local HTTP server (uvicorn in a process of its own) that answers in that
source's wire format after --latency seconds: AWS JSON 1.0 GetMetricData (what botocore sends;
credentials, signing and parsing run as in production), NerdGraph NRQL TIMESERIES, a JSON series
for a JMESPath expression; Prometheus's query_range beside them as the reference. The lifecycle's
own code fetches (HealthJudge._inputs, the look the worker takes), for one deploy judged on
--metrics metrics of one source, one point a minute over a 60-minute window:

- look: the steady state, every health.interval: the current window of every metric (the
  baseline and history are kept from the first look), --metrics requests;
- first look: baseline + current, 2 × --metrics requests (history_days = 0);
- first look with history: baseline + current + 7 earlier days, 9 × --metrics requests;
- the same look one fetch at a time (FETCHES = 1), the reference for the concurrency.

"requests" counts HTTP requests: CloudWatch batches the metrics that ask for the same range into
one GetMetricData (up to 500 queries), so it sends far fewer than the other sources.

Target: a look at 200 metrics of each new source ≤ 2 s. The CPU the measuring process spent is
printed beside the wall time: on a busy machine the wall time is mostly waiting for a core, and
wall ≈ max(latency-bound ideal, CPU) on an idle one. Every fetched metric must have its
60 current points and no error.

    nice -n 10 .venv/bin/python benchmarks/sources.py [--metrics 200] [--latency 0.05]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import re
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qsl

import anyio
import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from shiplane import clock  # noqa: E402
from shiplane.db import Database  # noqa: E402
from shiplane.health import judge as _judge  # noqa: E402, F401 - numpy and scipy load here, not in the first timing
from shiplane.health import lifecycle  # noqa: E402
from shiplane.health.lifecycle import Due, HealthJudge  # noqa: E402
from shiplane.health.sources import cloudwatch  # noqa: E402
from shiplane.settings import Config  # noqa: E402
from tests.integration.live import free_port  # noqa: E402
from tests.integration.metric_server import Seen  # noqa: E402

TARGET = 2.0
NEW = ("cloudwatch", "newrelic", "json")
_NRQL_RANGE = re.compile(r"SINCE '([^']+)' UNTIL '([^']+)' TIMESERIES (\d+) (minute|second)s?$")


def grid(start: float, end: float, step: float) -> list[float]:
    first = start + (-start % step)  # whole steps, as the vendors align their buckets
    return [first + i * step for i in range(int((end - first) // step)) if first + i * step < end]


def value(t: float) -> float:
    return 100.0 + (int(t) // 60) % 7


def answer_cloudwatch(seen: Seen):
    body = json.loads(seen.body)
    results = []
    for query in body["MetricDataQueries"]:  # Shiplane batches a look's queries: up to 500 a call
        period = query.get("Period") or query["MetricStat"]["Period"]
        stamps = grid(float(body["StartTime"]), float(body["EndTime"]), float(period))
        results.append({"Id": query["Id"], "Label": query["Id"], "Timestamps": stamps, "Values": [value(t) for t in stamps],
                        "StatusCode": "Complete"})
    return 200, {"MetricDataResults": results, "Messages": []}


def answer_newrelic(seen: Seen):
    m = _NRQL_RANGE.search(json.loads(seen.body)["variables"]["nrql"])
    start, end = clock.parse_iso(m.group(1)).timestamp(), clock.parse_iso(m.group(2)).timestamp()
    size = int(m.group(3)) * (60 if m.group(4) == "minute" else 1)
    rows = [{"beginTimeSeconds": t, "endTimeSeconds": t + size, "average.duration": value(t)} for t in grid(start, end, size)]
    return 200, {"data": {"actor": {"account": {"nrql": {"results": rows}}}}}


def answer_json(seen: Seen):
    q = seen.query
    stamps = grid(clock.parse_iso(q["start"]).timestamp(), clock.parse_iso(q["end"]).timestamp(), float(q["step"]))
    return 200, {"series": [{"points": [[t, value(t)] for t in stamps]}]}


def answer_prometheus(seen: Seen):
    q = seen.query
    # query_range's points are at start + k × step, both ends included
    start, end, step = float(q["start"]), float(q["end"]), float(q["step"])
    stamps = [start + i * step for i in range(int((end - start) // step) + 1)]
    return 200, {"status": "success", "data": {"resultType": "matrix",
                                               "result": [{"metric": {}, "values": [[t, str(value(t))] for t in stamps]}]}}


ANSWERS = {"cloudwatch": answer_cloudwatch, "newrelic": answer_newrelic, "json": answer_json, "prometheus": answer_prometheus}


def serve(source: str, latency: float, port: int) -> None:
    """The fake source in a process of its own (uvicorn, as fast as a real API's front end can be),
    so that its work shares neither the measured process's GIL nor its event loop."""
    import asyncio

    import uvicorn

    answered = [0]

    async def app(scope, receive, send) -> None:
        if scope["type"] != "http":
            return
        body, more = b"", True
        while more:
            message = await receive()
            body, more = body + message.get("body", b""), message.get("more_body", False)
        query = dict(parse_qsl(scope["query_string"].decode()))
        seen = Seen(scope["method"], scope["path"], scope["path"], query, {k.decode(): v.decode() for k, v in scope["headers"]}, body)
        if seen.path == "/__count":
            status, payload = 200, {"count": answered[0]}
        else:
            answered[0] += 1
            await asyncio.sleep(latency)
            status, payload = ANSWERS[source](seen)
        data = json.dumps(payload).encode()
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]})
        await send({"type": "http.response.body", "body": data})

    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off", access_log=False)


class Remote:
    """A fake source served by another process."""

    def __init__(self, source: str, latency: float) -> None:
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        self.proc = multiprocessing.get_context("fork").Process(target=serve, args=(source, latency, port), daemon=True)
        self.proc.start()
        deadline = time.monotonic() + 30
        while True:
            try:
                self.answered()
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline or not self.proc.is_alive():
                    raise SystemExit(f"the fake {source} did not start") from None
                time.sleep(0.05)

    def answered(self) -> int:
        return httpx.get(f"{self.url}/__count").json()["count"]

    def __enter__(self) -> Remote:
        return self

    def __exit__(self, *exc) -> None:
        self.proc.terminate()
        self.proc.join(10)


def config(source: str, url: str, metrics: int, history_days: int) -> Config:
    sources = {
        "cloudwatch": {"cloudwatch": {"region": "eu-west-1", "endpoint_url": url}},
        "newrelic": {"newrelic": {"url": url, "account_id": 1234567, "api_key": "NRAK-bench"}},
        "json": {"json": {"headers": {"Authorization": "Bearer bench"}}},
        "prometheus": {"prometheus": {"url": url}},
    }[source]

    def metric(i: int) -> dict:
        name = f"m{i:03d}"
        if source == "cloudwatch":
            return {"name": name, "source": source, "query": f"Shop|Latency{i}|Average|Service=$service"}
        if source == "newrelic":
            return {"name": name, "source": source, "query": f"SELECT average(duration) FROM Transaction WHERE appName = '$service' AND n = {i}"}
        if source == "json":
            return {"name": name, "source": source, "url": url + f"/series/{i}?service={{service}}&start={{start}}&end={{end}}&step={{step}}",
                    "jmespath": "series[0].points"}
        return {"name": name, "source": source, "query": f'sum(latency_{i}{{service="$service"}})'}

    return Config.model_validate({
        "sources": sources,
        "metrics": [metric(i) for i in range(metrics)],
        "health": {"history_days": history_days},
    })


async def look(judge: HealthJudge, item: Due, now) -> tuple[float, float, int, list[str]]:
    started, cpu = time.perf_counter(), time.process_time()
    inputs, errors, _ = await judge._inputs(item, now)
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    short = [i.name for i in inputs if len(i.current) != 60 or len(i.baseline) != 60]
    return elapsed, cpu, len(inputs), [*errors.values(), *(f"{n}: not 60 points" for n in short)]


def run(source: str, args, db: Database) -> dict[str, float]:
    deployed = clock.now().replace(second=0, microsecond=0) - timedelta(hours=3)
    item = Due(1, "web", "production", 1, 1, deployed, "pending", deployed + timedelta(minutes=60))
    now = item.window_end
    out: dict[str, float] = {}
    with Remote(source, args.latency) as server:
        for label, history, fetches, warm in (
            ("first look", 0, lifecycle.FETCHES, False),
            ("look", 0, lifecycle.FETCHES, True),
            ("first look + 7 days", 7, lifecycle.FETCHES, False),
            ("look, one at a time", 0, 1, True),
        ):
            judge = HealthJudge(config(source, server.url, args.metrics, history), db)
            judge.fetches = fetches

            async def go(judge=judge, warm=warm):
                try:
                    if warm:  # the first look fills the kept baselines; the steady look is the next one
                        judge.fetches, wanted = lifecycle.FETCHES, judge.fetches
                        await judge._inputs(item, now)
                        judge.fetches = wanted
                    before = await anyio.to_thread.run_sync(server.answered)
                    measured = await look(judge, item, now)
                    return (*measured, await anyio.to_thread.run_sync(server.answered) - before)
                finally:
                    await judge.close()

            elapsed, cpu, n, problems, requests = anyio.run(go)
            if problems:
                raise SystemExit(f"{source} {label}: {len(problems)} metrics wrong, e.g. {problems[0]}")
            out[label] = elapsed
            ideal = requests * args.latency / min(fetches, requests) if requests else 0
            print(f"{source:<11} {label:<20} {n:>4} metrics  {requests:>5} requests  {elapsed:7.2f} s wall"
                  f"  {cpu:6.2f} s CPU  (latency-bound ideal {ideal:5.2f} s)", flush=True)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--metrics", type=int, default=200)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--sources", default="cloudwatch,newrelic,json,prometheus")
    parser.add_argument("--no-targets", action="store_true", help="print the targets, do not fail on them")
    args = parser.parse_args()
    # The standard AWS chain, from the environment; no instance metadata service on a laptop.
    os.environ.update(AWS_ACCESS_KEY_ID="AKIABENCHMARKBENCH01", AWS_SECRET_ACCESS_KEY="bench", AWS_EC2_METADATA_DISABLED="true")
    cloudwatch.forget()
    print(f"{args.metrics} metrics a deploy, {args.latency * 1000:g} ms a request, at most {lifecycle.FETCHES} requests in flight")
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        db = Database(f"sqlite:///{tmp}/bench.db", pool_size=2)
        for source in args.sources.split(","):
            results[source] = run(source, args, db)
        db.engine.dispose()
    missed = [s for s in NEW if s in results and results[s]["look"] > TARGET]
    print(f"target: a look at {args.metrics} metrics of each new source ≤ {TARGET:g} s: "
          + ("met" if not missed else f"MISSED by {', '.join(missed)}"))
    print("all metrics fetched with 60 points each, no errors")
    return 1 if missed and not args.no_targets else 0


if __name__ == "__main__":
    sys.exit(main())
