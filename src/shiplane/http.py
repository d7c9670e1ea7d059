"""The outbound-HTTP seam: every call Shiplane makes to another service goes through here.

One client factory (timeouts, user agent) and one place that decides whether
a failed call is worth retrying. Tests inject an ``httpx`` transport.
"""

from __future__ import annotations

import email.utils
from datetime import datetime

import httpx

from shiplane import __version__, clock

USER_AGENT = f"shiplane/{__version__}"
DEFAULT_TIMEOUT = httpx.Timeout(10.0, connect=5.0)


class TransientError(Exception):
    """Try again later (5xx, 429, timeouts). ``retry_after`` overrides the backoff."""

    def __init__(self, message: str, retry_after: float | None = None, response: httpx.Response | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.response = response  # the answer, when there was one: for callers that read a vendor's error body


class PermanentError(Exception):
    """Retrying cannot help (404 repo, 401 token, a bad payload)."""

    def __init__(self, message: str, response: httpx.Response | None = None) -> None:
        super().__init__(message)
        self.response = response


def make_client(
    base_url: str = "", *, transport: httpx.AsyncBaseTransport | None = None, headers: dict | None = None
) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=base_url,
        transport=transport,
        timeout=DEFAULT_TIMEOUT,
        headers={"User-Agent": USER_AGENT, **(headers or {})},
        limits=httpx.Limits(max_connections=64, max_keepalive_connections=32),
    )


def retry_after(response: httpx.Response, now: float | None = None) -> float | None:
    """Seconds to wait, from ``Retry-After`` (seconds or HTTP date) or an exhausted ``X-RateLimit-Reset``."""
    value = response.headers.get("retry-after")
    now = clock.now().timestamp() if now is None else now
    if value:
        if value.strip().isdigit():
            return float(value.strip())
        try:
            when = email.utils.parsedate_to_datetime(value)
            return max(0.0, when.timestamp() - now)
        except (TypeError, ValueError):
            pass
    if response.headers.get("x-ratelimit-remaining") == "0":
        reset = response.headers.get("x-ratelimit-reset")
        if reset and reset.isdigit():
            return max(1.0, float(reset) - now)
    return None


def _snippet(response: httpx.Response) -> str:
    text = response.text.strip().replace("\n", " ")
    return text[:300]


def _body_retry_after(response: httpx.Response) -> float | None:
    """A 429's ``retry_after`` in its JSON body, in seconds (Discord sends it there, as a float)."""
    if "json" not in response.headers.get("content-type", ""):
        return None
    try:
        value = response.json().get("retry_after")
    except (ValueError, AttributeError):
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value <= 86400:
        return float(value)
    return None


def check(response: httpx.Response, what: str) -> httpx.Response:
    """Return the response if it succeeded; otherwise raise a classified error."""
    if response.is_success:
        return response
    status = response.status_code
    message = f"{what}: HTTP {status}: {_snippet(response)}"
    wait = retry_after(response)
    if status == 429 and wait is None:
        wait = _body_retry_after(response)
    if status == 429 or status >= 500:
        raise TransientError(message, retry_after=wait, response=response)
    if status == 403 and (wait is not None or "rate limit" in response.text.lower()):
        # GitHub's secondary rate limits are 403s; without Retry-After, wait a minute.
        raise TransientError(message, retry_after=wait if wait is not None else 60.0, response=response)
    if status == 408:
        raise TransientError(message, retry_after=wait, response=response)
    raise PermanentError(message, response=response)


async def send(client: httpx.AsyncClient, method: str, url: str, what: str, **kwargs) -> httpx.Response:
    """One outbound call: network failures and timeouts are transient, HTTP errors classified by ``check``."""
    try:
        response = await client.request(method, url, **kwargs)
    except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:  # not an http(s) URL: retrying cannot help
        raise PermanentError(f"{what}: {exc}") from exc
    except httpx.TimeoutException as exc:
        raise TransientError(f"{what}: timed out ({type(exc).__name__})") from exc
    except httpx.TransportError as exc:
        raise TransientError(f"{what}: {type(exc).__name__}: {exc}") from exc
    return check(response, what)


def parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return clock.parse_iso(value)
    except ValueError:
        return None
