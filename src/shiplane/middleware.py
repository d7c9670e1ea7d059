"""Pure ASGI middleware: header and body size limits and request metrics.

Pure ASGI rather than BaseHTTPMiddleware: these run on every request and
the latter costs a task and a stream copy per request.
"""

from __future__ import annotations

import json
import logging
import re
import time

from prometheus_client import Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

MIB = 1024 * 1024
HEADER_LIMIT = 16 * 1024  # all request headers together, names and values
DEFAULT_LIMIT = 1 * MIB
LARGE_LIMIT = 8 * MIB
LARGE_PATHS = ("/api/v1/judge", "/api/v1/metrics")
# The official sleuth CLI sends up to 250 commits with every ancestor sha (SPEC 8.5).
LARGE_PREFIXES = ("/api/1/",)

REQUEST_SECONDS = Histogram(
    "shiplane_http_request_duration_seconds",
    "HTTP requests served, by route template and status",
    ["method", "route", "status"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)


# Label values are a closed set: a request can choose its method and path, not our series.
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED = "unmatched"


class BodyTooLarge(Exception):
    """A streamed (chunked) body went past the limit while being read."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"request body is larger than {limit} bytes")
        self.limit = limit

    def body(self) -> dict[str, object]:
        return {"error": "payload_too_large", "detail": str(self), "limit": self.limit}


def headers_too_large(scope: Scope) -> bool:
    total = 0
    for name, value in scope["headers"]:
        total += len(name) + len(value)
        if total > HEADER_LIMIT:
            return True
    return False


async def refuse_large_headers(send: Send) -> None:
    await _send_json(
        send,
        431,
        {
            "error": "headers_too_large",
            "detail": f"request headers are larger than {HEADER_LIMIT} bytes in total",
            "limit": HEADER_LIMIT,
        },
    )


def method_label(scope: Scope) -> str:
    method = scope.get("method", "")
    return method if method in METHODS else "other"


def observe(scope: Scope, route: str, status: int, seconds: float) -> None:
    REQUEST_SECONDS.labels(method_label(scope), route, str(status)).observe(seconds)


def _plain_templates(app: object) -> dict[int, str]:
    """endpoint id → path template, for Starlette routes and mounts (FastAPI's put themselves in the scope)."""
    templates: dict[int, str] = {}
    for route in getattr(getattr(app, "router", None), "routes", ()):
        path = getattr(route, "path", None)
        if path is None:
            continue
        if hasattr(route, "endpoint"):
            templates[id(route.endpoint)] = path
        elif hasattr(route, "app"):  # a Mount: the files under it share one series
            templates[id(route.app)] = path + "/{path}"
    return templates


def route_template(scope: Scope) -> str:
    """The matched route's template, or ``unmatched``: never the raw path."""
    route = scope.get("route")
    template = getattr(route, "path", None)
    if template is not None:
        return template
    endpoint = scope.get("endpoint")
    app = scope.get("app")
    if endpoint is None or app is None:
        return UNMATCHED
    templates = getattr(app, "_metric_templates", None)
    if templates is None:
        templates = _plain_templates(app)
        app._metric_templates = templates  # type: ignore[attr-defined]
    return templates.get(id(endpoint), UNMATCHED)


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
        path = scope["path"]
        limit = LARGE_LIMIT if path in LARGE_PATHS or path.startswith(LARGE_PREFIXES) else DEFAULT_LIMIT
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
                    raise BodyTooLarge(limit)
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
            observe(scope, route_template(scope), status, time.perf_counter() - t0)


# ---------------------------------------------------------------- tokens in URLs

_URL_TOKEN = re.compile(r"([?&]token=)[^&\s\"']*")


def redact_url_tokens(text: str) -> str:
    """``/api/v1/calendar.ics?token=shp_x&days=9`` → ``...?token=[redacted]&days=9``."""
    return _URL_TOKEN.sub(r"\1[redacted]", text)


class RedactUrlTokens(logging.Filter):
    """For the access log: a token given in a URL (calendar apps cannot send headers) is never written."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(redact_url_tokens(a) if isinstance(a, str) else a for a in record.args)
        if isinstance(record.msg, str):
            record.msg = redact_url_tokens(record.msg)
        return True


def redact_access_log(logger: logging.Logger | None = None) -> None:
    """Install the filter once on uvicorn's access logger."""
    logger = logger or logging.getLogger("uvicorn.access")
    if not any(isinstance(f, RedactUrlTokens) for f in logger.filters):
        logger.addFilter(RedactUrlTokens())
