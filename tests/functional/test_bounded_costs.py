"""What anyone can send without credentials has a bounded cost (issue 12, STYLE habit 14)."""

from __future__ import annotations

import re
import secrets

from prometheus_client import REGISTRY, generate_latest

from shiplane.auth.cache import MISS_SIZE, TokenCache
from shiplane.auth.service import Principal
from shiplane.middleware import HEADER_LIMIT


def _series() -> str:
    return generate_latest(REGISTRY).decode()


def _routes_in_metrics() -> set[str]:
    return set(re.findall(r'shiplane_http_request_duration_seconds_count\{[^}]*route="([^"]*)"', _series()))


def test_it_keeps_bogus_tokens_out_of_memory(app, anon, charlie):
    ctx = app.state.ctx
    before = len(ctx.tokens)
    for _ in range(MISS_SIZE * 2):
        r = anon.get("/api/v1/deploys", headers={"Authorization": f"Bearer {secrets.token_hex(2048)}"})
        assert r.status_code == 401 and r.json()["error"] == "unauthorized"
    assert len(ctx.tokens) <= before + MISS_SIZE + 1
    # The cache holds digests, never the tokens themselves.
    assert all(len(key) == 64 for key in ctx.tokens._misses)
    assert charlie.get("/api/v1/deploys").status_code == 200


def test_it_keeps_real_principals_when_bogus_tokens_flood_in():
    cache = TokenCache(size=8, miss_size=8)
    cache.put("a" * 64, Principal(name="token:ci", role="deployer"))
    for n in range(100):
        cache.put(f"{n:064x}", None)
    assert cache.get("a" * 64) == (True, Principal(name="token:ci", role="deployer"))
    assert cache.get(f"{99:064x}") == (True, None)
    assert cache.get(f"{0:064x}") == (False, None)  # evicted, asked again next time
    assert len(cache) <= 9


def test_it_refuses_oversized_headers_with_431(anon, charlie):
    huge = "x" * (HEADER_LIMIT + 1)
    for path in ("/api/v1/deploys", "/api/v1/gate?environment=production", "/healthz"):
        r = anon.get(path, headers={"Authorization": f"Bearer {huge}"})
        assert r.status_code == 431, path
        assert r.json()["error"] == "headers_too_large"
    # Ordinary headers just under the limit still pass.
    r = charlie.get("/api/v1/deploys", headers={"X-Padding": "y" * (HEADER_LIMIT // 2)})
    assert r.status_code == 200


def test_it_labels_metrics_by_route_template_never_the_raw_path(anon, charlie):
    noise = [secrets.token_hex(8) for _ in range(40)]
    for word in noise:
        anon.get(f"/api/v1/deploys/{word}/", follow_redirects=False)  # trailing-slash redirect
        anon.get(f"/no/such/{word}")  # 404
        anon.post(f"/api/v1/{word}", content=b"x" * (2 * 1024 * 1024))  # 413
        anon.request("PURGE", f"/{word}")  # an odd method
    charlie.get("/api/v1/deploys/1")
    routes = _routes_in_metrics()
    assert not any(word in route for word in noise for route in routes)
    assert "unmatched" in routes and "/api/v1/deploys/{deploy_id}" in routes
    methods = set(re.findall(r'shiplane_http_request_duration_seconds_count\{method="([^"]*)"', _series()))
    assert methods <= {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "other"}


def test_it_bounds_the_metrics_size_under_random_paths(anon):
    anon.get("/no/such/path/warmup")
    anon.get("/api/v1/deploys/warmup/", follow_redirects=False)
    size = len(_series())
    for _ in range(300):
        anon.get(f"/api/v1/deploys/{secrets.token_hex(6)}/", follow_redirects=False)
        anon.get(f"/{secrets.token_hex(6)}")
    assert len(_series()) - size < 1024  # only the counters' digits grow


def test_it_counts_gate_answers_under_their_real_status(anon, charlie):
    anon.get("/api/v1/gate?environment=production")
    charlie.get("/api/v1/gate?environment=production")
    statuses = set(re.findall(r'route="/api/v1/gate",status="([^"]*)"', _series()))
    assert {"401", "200"} <= statuses and "any" not in statuses


def test_it_labels_plain_routes_and_static_files_by_template(anon):
    anon.get("/healthz")
    anon.get(f"/static/{secrets.token_hex(6)}.css")
    routes = _routes_in_metrics()
    assert "/healthz" in routes and "/static/{path}" in routes
