"""Edges of HTTP itself: streamed bodies, encodings, methods (issue 12)."""

from __future__ import annotations

import re

import pytest

from shiplane.middleware import DEFAULT_LIMIT


def test_a_chunked_body_over_the_limit_is_413(bob):
    def chunks():
        for _ in range(DEFAULT_LIMIT // 65536 + 2):
            yield b" " * 65536

    r = bob.post("/api/v1/deploys", content=chunks(), headers={"Content-Type": "application/json"})
    assert r.status_code == 413, r.text
    assert r.json() == {"error": "payload_too_large", "detail": f"request body is larger than {DEFAULT_LIMIT} bytes", "limit": DEFAULT_LIMIT}


def test_a_body_that_is_not_utf8_is_a_validation_error(bob):
    r = bob.post("/api/v1/deploys", content=b'{"service": "\xff\xfe"}', headers={"Content-Type": "application/json"})
    assert r.status_code == 422, r.text
    assert r.json()["error"] == "validation_error" and "body" in r.json()["fields"]


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("PUT", "/api/v1/deploys", "GET, POST"),
        ("DELETE", "/api/v1/locks", "GET, POST"),
        ("POST", "/api/v1/gate?environment=production", "GET, HEAD"),
        ("DELETE", "/api/v1/gate", "GET, HEAD"),
    ],
)
def test_a_wrong_method_is_405_with_every_allowed_method(charlie, method, path, allowed):
    r = charlie.request(method, path)
    assert r.status_code == 405, r.text
    assert r.headers["allow"] == allowed
    assert r.json()["error"] == "method_not_allowed"


def test_nul_and_overlong_text_is_refused_on_both_engines(anon, bob):
    headers = {"Authorization": "apikey bob-deployer-token"}
    r = anon.client.post("/api/1/impact/lat%00ency/register_impact", json={"value": 1}, headers=headers)
    assert r.status_code == 400 and "metric" in r.text
    r = anon.client.post("/api/1/impact/latency/register_impact", json={"value": 1, "service": "s" * 65}, headers=headers)
    assert r.status_code == 400
    r = anon.client.post("/api/1/deployments/ac%00me/web/register_manual_deploy", json={"name": "x"}, headers=headers)
    assert r.status_code == 400 and "org" in r.text
    r = bob.post("/api/v1/locks", json={"environment": "production", "reason": "nul \x00 here"})
    assert r.status_code == 422, r.text



def test_the_api_docs_load_nothing_from_other_hosts(anon):
    r = anon.get("/docs")
    assert r.status_code == 200
    csp = r.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    sources = re.findall(r'(?:src|href)="([^"]+)"', r.text)
    assert sources and all(s.startswith("/") for s in sources), sources
    for source in sources:
        assert anon.get(source).status_code == 200, source
    assert anon.get("/redoc").status_code == 404



def test_one_caller_runs_one_judge_at_a_time(charlie, bob):
    """While a token has a judge request running, its next one is refused at once; other tokens are not."""
    from shiplane.health import routes

    body = {"metrics": [{"name": "latency", "baseline": [1.0] * 20, "current": [1.0] * 20}]}
    routes._CALLERS.add("token:charlie")  # as while charlie's first request is being judged
    try:
        r = charlie.post("/api/v1/judge", json=body)
        assert r.status_code == 429 and r.headers["retry-after"] == "1" and r.json()["error"] == "too_many_requests"
        assert bob.post("/api/v1/judge", json=body).status_code == 200
    finally:
        routes._CALLERS.discard("token:charlie")
    assert charlie.post("/api/v1/judge", json=body).status_code == 200
    assert routes._CALLERS == set()  # the slot is given back after each request
