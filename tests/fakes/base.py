"""Machinery shared by the fake forges: an httpx transport with routing, latency, fault injection,
instrumentation and a list of contract violations.

The forge-specific modules (github.py, bitbucket.py, gitlab.py) say where their request and
response shapes come from; nothing here is forge-specific except the defaults they pass in.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote

import anyio
import httpx

ROOT = Path(__file__).resolve().parents[2]
SHARED_DATA = ROOT.parent / "shared" / "data"
if not SHARED_DATA.exists():  # CI lays shared/ beside the clone; let an override win otherwise
    SHARED_DATA = Path(os.environ.get("SHIPLANE_SHARED", ROOT.parent / "shared")) / "data"

MUTATING = {"POST", "PUT", "PATCH", "DELETE"}
HEX40 = re.compile(r"[0-9a-f]{40}")


def fake_sha(*parts: object) -> str:
    """A stable made-up 40-hex SHA."""
    return hashlib.sha1("/".join(map(str, parts)).encode()).hexdigest()


def load_json(relative: str) -> Any:
    return json.loads((SHARED_DATA / relative).read_text())


def iso(dt: datetime | None = None, *, micro: bool = False) -> str:
    dt = (dt or datetime.now(UTC)).astimezone(UTC)
    return dt.isoformat() if micro else dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def is_http_url(value: Any) -> bool:
    return isinstance(value, str) and bool(re.fullmatch(r"https?://[^\s/$.?#][^\s]*", value))


class Reply(Exception):
    """Raised by a handler to answer at once (an error, usually)."""

    def __init__(self, status: int, body: Any = None, headers: dict[str, str] | None = None):
        super().__init__(status)
        self.status, self.body, self.headers = status, body, headers or {}


@dataclass
class Call:
    """One request as the fake saw it. `time` is the fake's clock at arrival; `status` is what it answered
    (None when it raised a timeout)."""

    method: str
    path: str
    query: dict[str, str]
    time: float
    json: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    status: int | None = None


@dataclass
class Fault:
    kind: str  # "fail" | "timeout"
    match: re.Pattern[str] | None
    status: int = 0
    headers: dict[str, str] | None = None
    body: Any = None
    applied: bool = False  # timeout: handle the request first, then raise (the write happened)


@dataclass
class Override:
    pattern: re.Pattern[str]
    method: str | None
    status: int
    body: Any
    headers: dict[str, str]


@dataclass
class Request:
    """What a route handler receives."""

    raw: httpx.Request
    method: str
    path: str
    params: dict[str, str]  # path parameters, percent-decoded
    query: list[tuple[str, str]]
    body: bytes
    auth: Any = None  # what `authenticate` returned (who is calling)
    op: Any = None  # forge-specific (the OpenAPI operation for GitHub)

    @property
    def q(self) -> dict[str, str]:
        return dict(self.query)

    def header(self, name: str) -> str | None:
        return self.raw.headers.get(name)


Route = tuple[str, re.Pattern[str], Callable[[Request], httpx.Response]]


def json_response(status: int, body: Any = None, headers: dict[str, str] | None = None) -> httpx.Response:
    if body is None:
        return httpx.Response(status, headers=headers)
    return httpx.Response(status, json=body, headers=headers)


def page_of(items: list, page: int, per_page: int) -> tuple[list, int]:
    """The page (1-based) of `items` and the number of the last page (at least 1)."""
    last = max(1, -(-len(items) // per_page))
    return items[(page - 1) * per_page : page * per_page], last


class FakeForge(httpx.AsyncBaseTransport):
    """Base transport. Subclasses fill `self.routes` and implement `authenticate` and `error_body`.

    Knobs: `latency` (seconds awaited on every request), `fail_next`, `timeout_next`, `override`.
    Instrumentation: `requests`, `writes`, `in_flight`, `max_in_flight`, `violations`.
    """

    route_hint = ""  # appended to the "no such operation" violation

    def __init__(self, *, latency: float = 0.0, clock: Callable[[], float] = time.monotonic):
        self.latency = latency
        self.clock = clock
        self.violations: list[str] = []
        self.requests: list[Call] = []
        self.writes: list[float] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.routes: list[Route] = []
        self._faults: list[Fault] = []
        self._overrides: list[Override] = []
        self._ids = itertools.count(1001)

    # ---- knobs -------------------------------------------------------------------------------
    def fail_next(
        self,
        count: int = 1,
        status: int = 502,
        headers: dict[str, str] | None = None,
        body: Any = None,
        *,
        match: str | None = None,
    ) -> None:
        """Answer the next `count` requests (those whose "METHOD /path" matches the regex `match`, if
        given) with `status`, `headers` and `body` (JSON; default: the forge's error body)."""
        pattern = re.compile(match) if match else None
        self._faults += [Fault("fail", pattern, status, headers, body) for _ in range(count)]

    def timeout_next(self, count: int = 1, *, applied: bool = False, match: str | None = None) -> None:
        """Raise httpx.ReadTimeout for the next `count` (matching) requests. With applied=True the fake
        first handles the request (so a write takes effect) and then times out, like a lost response."""
        pattern = re.compile(match) if match else None
        self._faults += [Fault("timeout", pattern, applied=applied) for _ in range(count)]

    def override(
        self,
        path_pattern: str,
        status: int,
        body: Any = None,
        headers: dict[str, str] | None = None,
        *,
        method: str | None = None,
    ) -> Override:
        """Answer every request whose path matches the regex `path_pattern` (re.search) with `status`
        until `remove_override` or `clear_overrides`. Checked before authentication and routing."""
        ov = Override(re.compile(path_pattern), method.upper() if method else None, status, body, headers or {})
        self._overrides.append(ov)
        return ov

    def remove_override(self, ov: Override) -> None:
        self._overrides.remove(ov)

    def clear_overrides(self) -> None:
        self._overrides.clear()

    def pending_faults(self) -> int:
        return len(self._faults)

    # ---- hooks for subclasses -----------------------------------------------------------------
    def authenticate(self, request: Request) -> Any:
        """Return who is calling, or raise Reply(401, ...) when the request is not authenticated."""
        return None

    def error_body(self, status: int) -> Any:
        return {"message": httpx.codes.get_reason_phrase(status)}

    def decorate(self, response: httpx.Response) -> httpx.Response:
        """Add headers every answer carries (rate-limit counters, ...)."""
        return response

    # ---- helpers for handlers -----------------------------------------------------------------
    def violation(self, request: Request | httpx.Request, problem: str) -> None:
        method = request.method
        path = request.path if isinstance(request, Request) else request.url.path
        self.violations.append(f"{method} {path}: {problem}")

    def next_id(self) -> int:
        return next(self._ids)

    def route(self, method: str, template: str, handler: Callable[[Request], httpx.Response]) -> None:
        """Register a handler for METHOD and a path template whose {name} parameters are one segment
        each (matched against the raw, still percent-encoded path)."""
        self.routes.append((method, template_regex(template), handler))

    # ---- transport ----------------------------------------------------------------------------
    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = await request.aread()
        now = self.clock()
        call = Call(request.method, request.url.path, dict(request.url.params), now, headers=dict(request.headers))
        try:
            call.json = json.loads(body) if body else None
        except ValueError:
            call.json = body.decode(errors="replace")
        self.requests.append(call)
        if request.method in MUTATING and self.counts_as_write(request):
            self.writes.append(now)
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.latency:
                await anyio.sleep(self.latency)
            fault = self._take_fault(request)
            if fault and fault.kind == "timeout" and not fault.applied:
                raise httpx.ReadTimeout("fake: injected read timeout", request=request)
            if fault and fault.kind == "fail":
                body_ = fault.body if fault.body is not None else self.error_body(fault.status)
                response = json_response(fault.status, body_, fault.headers)
            else:
                response = self._answer(request, body)
            if fault and fault.kind == "timeout":
                raise httpx.ReadTimeout("fake: injected read timeout after the request was handled", request=request)
            call.status = response.status_code
            return response
        finally:
            self.in_flight -= 1

    def counts_as_write(self, request: httpx.Request) -> bool:
        return True

    def _take_fault(self, request: httpx.Request) -> Fault | None:
        key = f"{request.method} {request.url.path}"
        for i, fault in enumerate(self._faults):
            if fault.match is None or fault.match.search(key):
                return self._faults.pop(i)
        return None

    def _answer(self, request: httpx.Request, body: bytes) -> httpx.Response:
        raw_path, _, raw_query = request.url.raw_path.decode("ascii").partition("?")
        try:
            for ov in self._overrides:
                if ov.pattern.search(request.url.path) and ov.method in (None, request.method):
                    raise Reply(ov.status, ov.body if ov.body is not None else self.error_body(ov.status), ov.headers)
            query = parse_qsl(raw_query, keep_blank_values=True)
            req = Request(request, request.method, request.url.path, {}, query, body)
            req.auth = self.authenticate(req)
            for method, regex, handler in self.routes:
                m = regex.match(raw_path)
                if m and method == request.method:
                    req.params = {k: unquote(v) for k, v in m.groupdict().items()}
                    return self.decorate(handler(req))
            self.violation(request, "no such operation" + self.route_hint)
            raise Reply(404, self.error_body(404))
        except Reply as r:
            return self.decorate(json_response(r.status, r.body, r.headers))


def template_regex(template: str, multi_segment: Iterable[str] = ()) -> re.Pattern[str]:
    """`/a/{x}/b` -> regex with named groups; names in `multi_segment` may span slashes."""

    def group(m: re.Match[str]) -> str:
        return f"(?P<{m[1]}>{'.+' if m[1] in multi_segment else '[^/]+'})"

    return re.compile(re.sub(r"\\\{(\w+)\\\}", group, re.escape(template)) + "$")

