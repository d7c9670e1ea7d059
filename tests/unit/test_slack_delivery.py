"""Slack delivery goes through the one outbound seam: classified errors, the body as sent."""

from __future__ import annotations

import json

import anyio
import httpx
import pytest

from shiplane import http
from shiplane.notify import slack


def _post(handler, url: str = "https://hooks.slack.com/services/T/B/X") -> list[httpx.Request]:
    seen: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return handler(request)

    async def run() -> None:
        async with http.make_client(transport=httpx.MockTransport(record)) as client:
            await slack.send(client, url, {"text": "production locked"})

    anyio.run(run)
    return seen


def test_it_posts_the_payload_as_json_with_our_user_agent():
    (request,) = _post(lambda r: httpx.Response(200, text="ok"))
    assert request.method == "POST"
    assert json.loads(request.content) == {"text": "production locked"}
    assert request.headers["user-agent"].startswith("shiplane/")


@pytest.mark.parametrize(
    ("status", "headers", "error", "retry_after"),
    [
        (429, {"Retry-After": "30"}, http.TransientError, 30.0),
        (500, {}, http.TransientError, None),
        (503, {}, http.TransientError, None),
        (404, {}, http.PermanentError, None),  # no_service: the webhook was removed
        (400, {}, http.PermanentError, None),  # invalid_payload
    ],
)
def test_it_classifies_slack_errors(status, headers, error, retry_after):
    with pytest.raises(error) as caught:
        _post(lambda r: httpx.Response(status, headers=headers, text="no_service"))
    assert "slack webhook: HTTP" in str(caught.value) and "no_service" in str(caught.value)
    if error is http.TransientError:
        assert caught.value.retry_after == retry_after


def test_it_treats_network_failures_as_transient():
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    with pytest.raises(http.TransientError):
        _post(refuse)


def test_it_refuses_a_url_that_is_not_http_for_good():
    async def run() -> None:
        async with http.make_client() as client:  # the real transport: it refuses before any I/O
            await slack.send(client, "ftp://hooks.slack.com/x", {"text": "x"})

    with pytest.raises(http.PermanentError):
        anyio.run(run)
