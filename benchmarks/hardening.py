"""What an unauthenticated caller can grow: server memory and /metrics, measured on a real server.

Against ``shiplane serve`` on SQLite (a subprocess, as in production), over
loopback, with bounded loops:

- RSS of the server before and after N requests that each carry a distinct bogus
  API token, of 64 KiB (over the 16 KiB header limit: refused with 431) and of
  8 KiB (under it: looked up and remembered as a miss in the bounded cache);
- the size of ``/metrics`` before and after N requests to random paths: unknown
  paths, trailing-slash redirects (``/api/v1/deploys/<random>/``) and odd methods.

The reference in the same run: the same counts of requests with no token at all
(RSS) and to one fixed unknown path (``/metrics``), so that what the random parts
add shows beside what any traffic costs.

Targets (issue 12): RSS +20 MB at most after 2,000 distinct 64 KiB tokens; /metrics
+10 KB at most after 3,000 random paths. Exit status 1 when one is missed
(with --no-targets, never for a target).

    .venv/bin/python benchmarks/hardening.py                 # about 30 s
    .venv/bin/python benchmarks/hardening.py --requests 200 --paths 300 --no-targets
"""

from __future__ import annotations

import argparse
import secrets
import sys
import tempfile
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from api import rss_kib, spawn_shiplane  # noqa: E402

RSS_TARGET_MB = 20.0
METRICS_TARGET_KB = 10.0


def rss_mb(server) -> float:
    return rss_kib(server.proc.pid) / 1024


def flood_tokens(client: httpx.Client, count: int, size: int | None) -> dict[int, int]:
    statuses: dict[int, int] = {}
    for _ in range(count):
        headers = {"Authorization": f"Bearer {secrets.token_urlsafe(size)[:size]}"} if size else {}
        status = client.get("/api/v1/deploys", headers=headers).status_code
        statuses[status] = statuses.get(status, 0) + 1
    return statuses


def metrics_size(client: httpx.Client) -> int:
    return len(client.get("/metrics").content)


def flood_paths(client: httpx.Client, count: int, random_paths: bool) -> None:
    for i in range(count):
        word = secrets.token_hex(8) if random_paths else "fixed"
        kind = i % 3
        if kind == 0:
            client.get(f"/no/such/{word}")
        elif kind == 1:
            client.get(f"/api/v1/deploys/{word}/")  # a trailing-slash redirect (not followed)
        else:
            client.request("PURGE" if random_paths else "GET", f"/{word}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=2000, help="bogus-token requests per kind (default 2000)")
    parser.add_argument("--paths", type=int, default=3000, help="random-path requests (default 3000)")
    parser.add_argument("--no-targets", action="store_true", help="print the targets but do not fail on them")
    args = parser.parse_args()

    failed = []
    with tempfile.TemporaryDirectory(prefix="shiplane-hardening-") as tmp:
        workdir = Path(tmp)
        server = spawn_shiplane("shiplane", f"sqlite:///{workdir / 'bench.db'}", workdir, migrate=False)
        try:
            with httpx.Client(base_url=server.url, timeout=10, follow_redirects=False) as client:
                flood_tokens(client, 50, None)  # warm up: first requests allocate what every process has
                start = rss_mb(server)
                flood_tokens(client, args.requests, None)
                reference = rss_mb(server) - start
                print(f"RSS reference: {args.requests} requests with no token: {reference:+.1f} MB (from {start:.1f} MB)")
                for size in (64 * 1024, 8 * 1024):
                    before = rss_mb(server)
                    statuses = flood_tokens(client, args.requests, size)
                    grown = rss_mb(server) - before
                    print(
                        f"RSS: {args.requests} distinct {size // 1024} KiB bogus tokens: {grown:+.1f} MB "
                        f"(answers {dict(sorted(statuses.items()))}; target <= +{RSS_TARGET_MB:g} MB)"
                    )
                    if grown > RSS_TARGET_MB:
                        failed.append(f"RSS +{grown:.1f} MB after {size // 1024} KiB tokens")

                flood_paths(client, 30, random_paths=True)  # every series that exists at all exists now
                flood_paths(client, 30, random_paths=False)
                base = metrics_size(client)
                flood_paths(client, args.paths, random_paths=False)
                fixed = metrics_size(client) - base
                print(f"/metrics reference: {args.paths} requests to fixed unknown paths: {fixed:+,} bytes (from {base:,})")
                before = metrics_size(client)
                flood_paths(client, args.paths, random_paths=True)
                grown = metrics_size(client) - before
                print(f"/metrics: {args.paths} requests to random paths and methods: {grown:+,} bytes (target <= +{METRICS_TARGET_KB:g} KB)")
                if grown > METRICS_TARGET_KB * 1024:
                    failed.append(f"/metrics +{grown:,} bytes")
        finally:
            server.stop()
    if failed:
        print("MISSED: " + "; ".join(failed))
    else:
        print("targets met")
    return 1 if failed and not args.no_targets else 0


if __name__ == "__main__":
    sys.exit(main())
