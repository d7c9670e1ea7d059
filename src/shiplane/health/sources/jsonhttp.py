"""Any JSON API over HTTP: ``GET <url template>``, then a JMESPath expression picks ``[[t, v], ...]``.

The template's ``{service}``, ``{environment}``, ``{start}`` and ``{end}`` (ISO instants)
are URL-encoded; ``{step}`` is the step in seconds. ``t`` is epoch seconds or an ISO
instant (a naive one is UTC), ``v`` a number (or a numeric string, as Prometheus-like
APIs send); a null ``v`` is no data there, never zero. Anything else is the wrong shape,
and a wrong shape is an error, never an empty (and so silently judged) series.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from urllib.parse import quote

import httpx
import jmespath
from jmespath.exceptions import JMESPathError

from shiplane import http
from shiplane.clock import iso, parse_iso
from shiplane.health.sources.base import Point, SourceError
from shiplane.health.sources.common import failure, json_body
from shiplane.http import PermanentError, TransientError

MAX_POINTS = 100_000  # a bound on what one answer may hold, whatever the API sends
WHAT = "json source"


def render(template: str, *, service: str, environment: str, start: datetime, end: datetime, step: float) -> str:
    """The URL for one fetch: each ``{field}`` of the template filled in, URL-encoded."""
    values = {
        "service": service,
        "environment": environment,
        "start": iso(start) or "",
        "end": iso(end) or "",
        "step": f"{step:g}",
    }
    url = template
    for name, value in values.items():
        url = url.replace("{" + name + "}", quote(value, safe=""))
    return url


def _shape(found: object) -> str:
    text = repr(found)
    return text if len(text) <= 120 else text[:117] + "..."


def _instant(t: object) -> datetime:
    if isinstance(t, bool):
        raise ValueError(f"t {t!r} is neither epoch seconds nor an ISO instant")
    if isinstance(t, (int, float)):
        if not math.isfinite(t) or not 0 <= t < 253_402_300_800:  # 9999-12-31: epoch milliseconds land past it
            raise ValueError(f"t {t!r} is not epoch seconds")
        return datetime.fromtimestamp(t, UTC)
    if isinstance(t, str):
        return parse_iso(t)
    raise ValueError(f"t {_shape(t)} is neither epoch seconds nor an ISO instant")


def _value(v: object) -> float | None:
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, (int, float, str)):
        raise ValueError(f"v {_shape(v)} is not a number")
    return float(v)  # a non-numeric string raises ValueError


def points(found: object, expression: str) -> list[Point]:
    """What the expression yielded, as points; ValueError naming the problem when it is not ``[[t, v], ...]``."""
    if found is None:
        raise ValueError(f"jmespath {expression!r} matched nothing (null); expected [[t, v], ...]")
    if not isinstance(found, list):
        raise ValueError(f"jmespath {expression!r} yielded {_shape(found)}; expected [[t, v], ...]")
    if len(found) > MAX_POINTS:
        raise ValueError(f"jmespath {expression!r} yielded {len(found)} pairs; at most {MAX_POINTS} are read")
    out = []
    for i, pair in enumerate(found):
        if not isinstance(pair, list) or len(pair) != 2:
            raise ValueError(f"jmespath {expression!r} yielded {_shape(pair)} at [{i}]; expected a pair [t, v]")
        try:
            at, value = _instant(pair[0]), _value(pair[1])
        except (ValueError, OverflowError, OSError) as exc:
            raise ValueError(f"jmespath {expression!r} at [{i}]: {exc}") from None
        if value is not None and not math.isnan(value):
            out.append(Point(at, value))
    return sorted(out, key=lambda p: p.at)


class JsonSource:
    def __init__(
        self,
        url: str,
        expression: str,
        headers: dict[str, str],
        client: httpx.AsyncClient,
        *,
        service: str,
        environment: str,
    ) -> None:
        self.template = url
        self.expression = expression
        try:
            self.compiled = jmespath.compile(expression)
        except JMESPathError as exc:  # config validation parses it first; a constructed one may not be
            raise SourceError(f"jmespath {expression!r} does not parse: {exc}", setting="jmespath") from exc
        self.headers = headers
        self.client = client
        self.service = service
        self.environment = environment

    async def fetch(self, query: str, start: datetime, end: datetime, step: float) -> list[Point]:
        # query is unused: the url template is the request
        url = render(self.template, service=self.service, environment=self.environment, start=start, end=end, step=step)
        try:
            response = await http.send(self.client, "GET", url, WHAT, headers={"Accept": "application/json", **self.headers})
        except (PermanentError, TransientError) as exc:
            raise failure(exc, setting="url") from exc
        body = json_body(response, WHAT)
        try:
            return points(self.compiled.search(body), self.expression)
        except (ValueError, JMESPathError) as exc:  # JMESPathError: a function given the wrong types
            raise SourceError(str(exc), setting="jmespath") from exc
