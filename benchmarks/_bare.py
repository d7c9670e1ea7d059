"""A bare Starlette JSON endpoint: the ceiling that api.py compares Shiplane with.

It answers the same paths as Shiplane (``/api/v1/deploys`` for POST and GET,
``/healthz``) so that the load scripts are identical, and it is served the way
``shiplane serve`` serves Shiplane: ``uvicorn.run`` in one process with the
default loop and HTTP implementation (uvloop and httptools when installed) and
the access log off. What is left between the two figures is the cost of
Shiplane itself: routing, validation, auth, the database and serialisation.

Run: python benchmarks/_bare.py --port 8001
"""

from __future__ import annotations

import argparse

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


async def deploys(request: Request) -> JSONResponse:
    if request.method == "POST":
        # Read the body as a real endpoint must; not parsed, so this stays a floor.
        await request.body()
        return JSONResponse({"ok": True}, status_code=201)
    return JSONResponse({"ok": True})


async def healthz(_: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


app = Starlette(
    routes=[
        Route("/api/v1/deploys", deploys, methods=["GET", "POST"]),
        Route("/healthz", healthz, methods=["GET"]),
    ]
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    args = parser.parse_args()
    # The same arguments as shiplane.cli.serve passes to uvicorn.run.
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        access_log=False,
        log_level="info",
        timeout_graceful_shutdown=5,
    )


if __name__ == "__main__":
    main()
