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


async def _send_json(send: Send, status: int, payload: dict) -> None:
    body = json.dumps(payload).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        query = scope.get("query_string", b"")
        if b"%00" in query or b"\x00" in query:
            # PostgreSQL text cannot hold NUL; refuse it before any handler sees it.
            await _send_json(send, 422, {
                "error": "validation_error",
                "detail": "query: NUL characters are not allowed",
                "fields": {"query": "NUL characters are not allowed"},
            })
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
        await _send_json(
            send,
            413,
            {"error": "payload_too_large", "detail": f"request body is larger than {limit} bytes", "limit": limit},
        )


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
