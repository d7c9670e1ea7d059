"""Pure ASGI middleware: body size limits and request metrics.

Pure ASGI rather than BaseHTTPMiddleware: these run on every request and
the latter costs a task and a stream copy per request.
"""

from __future__ import annotations

import json
import time

from prometheus_client import Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

MIB = 1024 * 1024
DEFAULT_LIMIT = 1 * MIB
LARGE_LIMIT = 8 * MIB
LARGE_PATHS = ("/api/v1/judge", "/api/v1/metrics")

REQUEST_SECONDS = Histogram(
    "shiplane_http_request_duration_seconds",
    "HTTP requests served, by route template and status",
    ["method", "route", "status"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)


class BodyTooLarge(Exception):
    pass


def _too_large(limit: int) -> tuple[dict, bytes]:
    body = json.dumps(
        {"error": "payload_too_large", "detail": f"request body is larger than {limit} bytes", "limit": limit}
    ).encode()
    start = {
        "type": "http.response.start",
        "status": 413,
        "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
    }
    return start, body


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = LARGE_LIMIT if scope["path"] in LARGE_PATHS else DEFAULT_LIMIT
        for name, value in scope["headers"]:
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = 0
                if declared > limit:
                    await self._reject(send, limit)
                    return
        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except BodyTooLarge:
            if not started:
                await self._reject(send, limit)

    @staticmethod
    async def _reject(send: Send, limit: int) -> None:
        start, body = _too_large(limit)
        await send(start)
        await send({"type": "http.response.body", "body": body})


class MetricsMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        t0 = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None)
            if template is None:
                # Plain Starlette routes do not put themselves in the scope; their paths have no parameters.
                template = scope["path"] if status != 404 else "unmatched"
            REQUEST_SECONDS.labels(scope["method"], template, str(status)).observe(time.perf_counter() - t0)
