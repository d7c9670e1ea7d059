"""Dashboard pages over HTTP: sessions, CSRF, roles, escaping, public mode, live updates."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from shiplane import clock
from shiplane.auth import limits
from shiplane.auth import service as auth_service
from shiplane.events import service as events_service
from shiplane.settings import Config
from shiplane.web import live
from tests.conftest import BOB, make_settings, sha

PASSWORD = "correct horse battery"
AUTH = {"Authorization": f"Bearer {BOB}"}


@pytest.fixture
def people(db):
    with db.write() as conn:
        auth_service.create_user(conn, "dana", "deployer", PASSWORD, clock.now())
        auth_service.create_user(conn, "vic", "viewer", PASSWORD, clock.now())


def post_login(client: TestClient, data: dict, **kw):
    """What a browser does: open the form (its CSRF token comes in the page and a cookie), then post it."""
    page = client.get("/login")
    token = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    return client.post("/login", data=data | {"csrf": token}, **kw)


def _login(client: TestClient, username: str) -> str:
    r = post_login(client, {"username": username, "password": PASSWORD, "next": "/"}, follow_redirects=False)
    assert r.status_code == 303, r.text
    return _csrf(client, "/locks")


def _csrf(client: TestClient, path: str) -> str:
    page = client.get(path)
    assert page.status_code == 200
    match = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert match, "no CSRF field on the page"
    return match.group(1)


def test_pages_need_a_login_unless_the_dashboard_is_public(client, people, db, db_url):
    for path in ("/", "/locks", "/dora", "/deploys/1"):
        r = client.get(path, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"].startswith("/login?next=")
    assert client.get("/live", follow_redirects=False).status_code == 401

    from shiplane.app import create_app

    public = create_app(make_settings(db_url, Config(server={"public_dashboard": True})), db=db, worker=False)
    with TestClient(public) as anon:
        r = anon.get("/")
        assert r.status_code == 200 and "Log in" in r.text
        assert 'name="csrf"' not in anon.get("/locks").text  # read-only: no lock form
        # and anonymous posts are refused
        r = anon.post("/locks", data={"environment": "production", "reason": "x"}, follow_redirects=False)
        assert r.status_code == 401


def test_session_cookie_flags_and_logout(client, people):
    r = post_login(client, {"username": "dana", "password": PASSWORD}, follow_redirects=False)
    cookie = r.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie.replace("Lax", "lax") and "Secure" not in cookie
    csrf = _csrf(client, "/")
    assert client.get("/", follow_redirects=False).status_code == 200
    client.post("/logout", data={"csrf": csrf}, follow_redirects=False)
    assert client.get("/", follow_redirects=False).status_code == 303


def test_secure_cookie_behind_https(db, db_url, people):
    from shiplane.app import create_app

    app = create_app(make_settings(db_url, Config(server={"public_url": "https://ship.example"})), db=db, worker=False)
    with TestClient(app) as c:
        r = post_login(c, {"username": "dana", "password": PASSWORD}, follow_redirects=False)
        assert "Secure" in r.headers["set-cookie"]


def test_login_is_rate_limited(client, people):
    for _ in range(5):
        assert post_login(client, {"username": "dana", "password": "nope"}).status_code == 401
    r = post_login(client, {"username": "dana", "password": PASSWORD}, follow_redirects=False)
    assert r.status_code == 429 and int(r.headers["retry-after"]) > 0
    assert "Too many failed attempts" in r.text


def test_login_never_redirects_off_site(client, people):
    r = post_login(client, {"username": "dana", "password": PASSWORD, "next": "//evil.example/x"}, follow_redirects=False)
    assert r.headers["location"] == "/"


def test_a_form_without_the_csrf_token_changes_nothing(client, people, alice):
    _login(client, "dana")
    r = client.post("/locks", data={"environment": "production", "reason": "no token"})
    assert r.status_code == 403
    r = client.post("/locks", data={"environment": "production", "reason": "wrong", "csrf": "forged"})
    assert r.status_code == 403
    assert alice.get("/api/v1/locks").json()["items"] == []


def test_viewers_read_deployers_lock_and_unlock(client, people, alice):
    alice.post("/api/v1/deploys", json={"service": "web", "environment": "production", "sha": sha(1)})
    csrf = _login(client, "vic")
    assert 'id="lock-form"' not in client.get("/locks").text
    r = client.post("/locks", data={"environment": "production", "reason": "viewer tries", "csrf": csrf})
    assert r.status_code == 403 and "deployer role" in r.text
    assert alice.get("/api/v1/locks").json()["items"] == []

    client.cookies.clear()
    csrf = _login(client, "dana")
    r = client.post("/locks", data={"environment": "production", "reason": "Release freeze", "csrf": csrf}, follow_redirects=False)
    assert r.status_code == 303
    lock = alice.get("/api/v1/locks").json()["items"][0]
    assert lock["reason"] == "Release freeze" and lock["created_by"] == "dana" and lock["active"]
    # the same rules as the API: a second manual lock on the scope is refused, with the reason shown
    r = client.post("/locks", data={"environment": "production", "reason": "again", "csrf": csrf})
    assert r.status_code == 409 and "already" in r.text.lower()
    r = client.post(f"/locks/{lock['id']}/end", data={"note": "all clear", "csrf": csrf}, follow_redirects=False)
    assert r.status_code == 303
    ended = alice.get("/api/v1/locks").json()["items"][0]
    assert ended["ended_by"] == "dana" and ended["end_note"] == "all clear" and not ended["active"]


def test_lock_form_validates_fields(client, people, alice):
    alice.post("/api/v1/deploys", json={"service": "web", "environment": "production", "sha": sha(1)})
    csrf = _login(client, "dana")
    r = client.post("/locks", data={"environment": "production", "reason": "   ", "csrf": csrf})
    assert r.status_code == 422 and "reason" in r.text
    r = client.post("/locks", data={"environment": "nowhere", "reason": "x", "csrf": csrf})
    assert r.status_code == 404 and "nowhere" in r.text
    past = (clock.now() - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
    r = client.post("/locks", data={"environment": "production", "reason": "x", "expires_at": past, "tz_offset": "0", "csrf": csrf})
    assert r.status_code == 422 and "expires_at" in r.text
    r = client.post("/locks", data={"environment": "production", "reason": "x", "expires_at": "soon", "csrf": csrf})
    assert r.status_code == 422
    assert alice.get("/api/v1/locks").json()["items"] == []
    # §8.1: the form's times are in the environment's `timezone` (UTC here), whatever the browser's offset
    future = (clock.now() + timedelta(days=2)).replace(hour=13, minute=0, second=0, microsecond=0)
    r = client.post("/locks", data={"environment": "production", "reason": "until lunch", "expires_at": future.strftime("%Y-%m-%dT%H:%M"), "tz_offset": "-60", "csrf": csrf}, follow_redirects=False)
    assert r.status_code == 303
    assert alice.get("/api/v1/locks").json()["items"][0]["expires_at"] == future.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_user_text_is_escaped_everywhere(client, people, alice):
    hostile = '<script>alert(1)</script><img src=x onerror=alert(2)>'
    r = alice.post("/api/v1/deploys", json={
        "service": "web", "environment": "production", "sha": sha(1), "author": hostile,
        "commits": [{"revision": sha(2), "message": hostile, "author": {"name": hostile}}],
    })
    deploy_id = r.json()["id"]
    alice.post("/api/v1/locks", json={"environment": "production", "reason": hostile})
    _login(client, "dana")
    for path in ("/", "/?partial=lanes", "/locks", f"/deploys/{deploy_id}"):
        body = client.get(path).text
        assert "<script>alert" not in body and "<img src=x" not in body, path
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body, path


def test_pages_render_and_carry_security_headers(client, people, alice):
    r = alice.post("/api/v1/deploys", json={"service": "web", "environment": "production", "sha": sha(1)})
    _login(client, "vic")
    for path in ("/", "/locks", "/dora", "/dora?service=web&days=30&bucket=day", f"/deploys/{r.json()['id']}"):
        page = client.get(path)
        assert page.status_code == 200, path
        assert page.headers["x-frame-options"] == "DENY"
        assert "script-src 'self'" in page.headers["content-security-policy"]
    assert client.get("/deploys/999999").status_code == 404
    assert client.get("/deploys/abc").status_code == 404
    assert client.get("/dora?days=-5&bucket=decade").status_code == 200  # bad filters fall back to defaults


def test_manual_verdict_from_the_deploy_page(client, people, alice):
    r = alice.post("/api/v1/deploys", json={"service": "web", "environment": "production", "sha": sha(1)})
    deploy_id = r.json()["id"]
    csrf = _login(client, "dana")
    r = client.post(f"/deploys/{deploy_id}/health", data={"state": "unhealthy", "note": "checkout broken", "csrf": csrf}, follow_redirects=False)
    assert r.status_code == 303
    health = alice.get(f"/api/v1/deploys/{deploy_id}").json()["health"]
    assert health["state"] == "unhealthy" and "dana" in health["reason"] and "checkout broken" in health["reason"]
    assert client.post(f"/deploys/{deploy_id}/health", data={"state": "great", "csrf": csrf}).status_code == 422
    assert client.post("/deploys/424242/health", data={"state": "healthy", "csrf": csrf}).status_code == 404


def test_login_limiter_is_per_key_and_expires(db):
    limiter = limits.LoginLimiter(per=timedelta(minutes=1), limits={"pair": 2, "address": 10, "user": 20})
    t0 = clock.now()
    keys = limits.keys("a", "10.0.0.1")
    with db.write() as conn:
        limiter.failed(conn, keys, t0)
        assert limiter.retry_after(conn, keys, t0) == 0
        limiter.failed(conn, keys, t0 + timedelta(seconds=10))
        assert limiter.retry_after(conn, keys, t0 + timedelta(seconds=20)) == pytest.approx(40)
        assert limiter.retry_after(conn, limits.keys("b", "10.0.0.2"), t0) == 0
        assert limiter.retry_after(conn, keys, t0 + timedelta(seconds=61)) == 0


def test_the_right_password_from_another_address_is_not_locked_out(db):
    limiter = limits.LoginLimiter()
    t0 = clock.now()
    with db.write() as conn:
        for _ in range(5):
            limiter.failed(conn, limits.keys("dana", "203.0.113.9"), t0)
        assert limiter.retry_after(conn, limits.keys("dana", "203.0.113.9"), t0) > 0
        assert limiter.retry_after(conn, limits.keys("dana", "198.51.100.7"), t0) == 0
        # Guessing one name from many addresses locks the name, after ten times as many failures.
        for n in range(45):
            limiter.failed(conn, limits.keys("dana", f"192.0.2.{n}"), t0)
        assert limiter.retry_after(conn, limits.keys("dana", "198.51.100.7"), t0) > 0
        # A correct password clears what its address did, not what others did to the name.
        limiter.succeeded(conn, limits.keys("dana", "203.0.113.9"))
        assert limiter.retry_after(conn, limits.keys("erin", "203.0.113.9"), t0) == 0
        assert limiter.retry_after(conn, limits.keys("dana", "203.0.113.9"), t0) > 0


def test_the_limiter_table_is_bounded_and_pruned(db):
    from shiplane.tables.auth import login_failures

    limiter = limits.LoginLimiter(max_rows=300)
    t0 = clock.now()
    with db.write() as conn:
        for n in range(500):  # made-up names from made-up addresses: three new keys each
            limiter.failed(conn, limits.keys(f"user{n}" * 20, f"10.1.{n // 250}.{n % 250}"), t0)
        assert conn.execute(select(func.count()).select_from(login_failures)).scalar_one() == 300
        assert max(len(h) for h in conn.execute(select(login_failures.c.key_hash)).scalars()) == 64
        limiter.failed(conn, limits.keys("late", "10.9.9.9"), t0 + timedelta(minutes=6))  # the window has passed
        assert conn.execute(select(func.count()).select_from(login_failures)).scalar_one() == 3


def test_the_login_limit_holds_across_server_processes(db, db_url, people):
    """Two apps on one database (two replicas): failures made through one count on the other."""
    from shiplane.app import create_app

    first = create_app(make_settings(db_url, Config()), db=db, worker=False)
    second = create_app(make_settings(db_url, Config()), db=db, worker=False)
    with TestClient(first) as a, TestClient(second) as b:
        for n in range(5):
            assert post_login(a if n % 2 else b, {"username": "dana", "password": "nope"}).status_code == 401
        assert post_login(a, {"username": "dana", "password": PASSWORD}, follow_redirects=False).status_code == 429
        assert post_login(b, {"username": "dana", "password": PASSWORD}, follow_redirects=False).status_code == 429


def test_the_login_form_needs_its_csrf_token(client, people):
    r = client.post("/login", data={"username": "dana", "password": PASSWORD}, follow_redirects=False)
    assert r.status_code == 403 and "form expired" in r.text
    assert client.get("/", follow_redirects=False).status_code == 303  # not logged in
    page = client.get("/login")
    assert "samesite=strict" in page.headers["set-cookie"].lower()


def test_a_nul_in_the_username_is_a_wrong_login_not_a_500(client, people):
    r = post_login(client, {"username": "da\x00na", "password": PASSWORD}, follow_redirects=False)
    assert r.status_code == 401


def test_logins_from_two_addresses_are_counted_apart(db, db_url, people):
    from shiplane.app import create_app

    app = create_app(make_settings(db_url), db=db, worker=False)
    with TestClient(app, client=("203.0.113.9", 5000)) as attacker:
        for _ in range(5):
            assert post_login(attacker, {"username": "dana", "password": "nope"}).status_code == 401
        assert post_login(attacker, {"username": "dana", "password": PASSWORD}, follow_redirects=False).status_code == 429
    with TestClient(app, client=("198.51.100.7", 5000)) as dana:
        assert post_login(dana, {"username": "dana", "password": PASSWORD}, follow_redirects=False).status_code == 303


def test_committed_events_reach_the_live_bus_and_rolled_back_ones_do_not(db):
    async def scenario() -> list[str]:
        bus = live.attach(db)
        queue = bus.subscribe()
        try:
            if not db.is_sqlite:
                await asyncio.wait_for(bus.listening.wait(), 10)
            with db.write() as conn:
                events_service.record(conn, "lock_created", clock.now(), environment="production")
            try:
                with db.write() as conn:
                    events_service.record(conn, "lock_ended", clock.now(), environment="production")
                    raise RuntimeError("roll back")
            except RuntimeError:
                pass
            got = [await asyncio.wait_for(queue.get(), 10)]
            await asyncio.sleep(0.3)
            while not queue.empty():
                got.append(queue.get_nowait())
            return got
        finally:
            bus.unsubscribe(queue)
            await bus.close()

    assert asyncio.run(scenario()) == ["lock_created"]


def test_postgresql_fans_events_out_to_every_process(pg_url):
    """Two Database objects stand for two server processes: a write through one reaches the other's pages.
    (PostgreSQL only: SQLite runs one server process, whose in-process bus the test above covers.)"""
    from shiplane.db import Database
    from tests.conftest import migrated

    db = migrated(pg_url)
    live.attach(db)  # "process A" announces what it commits
    other = Database(pg_url)

    async def scenario() -> str:
        bus = live.attach(other)
        queue = bus.subscribe()
        try:
            await asyncio.wait_for(bus.listening.wait(), 10)
            with db.write() as conn:  # "process A"
                events_service.record(conn, "gate_changed", clock.now(), environment="production")
            # Earlier tests on this database may still announce their last events: wait for ours.
            kind = await asyncio.wait_for(queue.get(), 10)
            while kind != "gate_changed":
                kind = await asyncio.wait_for(queue.get(), 10)
            return kind
        finally:
            await bus.close()

    try:
        assert asyncio.run(scenario()) == "gate_changed"
    finally:
        other.dispose()


def test_the_overview_says_how_far_merge_blocking_has_got_and_shows_forge_errors(db, db_url, people):
    from shiplane.app import create_app
    from shiplane.enforcement import statuses, sync

    config = Config.model_validate({
        "environments": [{"slug": "production", "production": True}],
        "services": [{"slug": "web", "repo": "github:acme/web", "merge_gate": "production"}],
        "forges": {"github": {"token": "t", "webhook_secret": "s"}},
    })
    app = create_app(make_settings(db_url, config), db=db, worker=False)
    with TestClient(app) as client:
        (target,) = sync.targets(config)
        now = clock.now()
        with db.write() as conn:
            sync.request_sync(conn, target, statuses.desired(
                blockers=[{"kind": "lock", "reason": "Freeze <b>now</b>", "by": "dana"}],
                environment="Production", context="shiplane", target_url="http://x/", blocked_state="pending",
            ), now)
            sync.record_error(conn, target, "HTTP 401: Bad credentials", now)
        _login(client, "vic")
        page = client.get("/").text
        assert "Merge buttons" in page and "■ blocked" in page
        assert "Freeze &lt;b&gt;now&lt;/b&gt;" in page
        assert "Forge error" in page and "HTTP 401: Bad credentials" in page


def test_script_urls_from_a_deploy_never_become_links(client, people, alice):
    r = alice.post("/api/v1/deploys", json={
        "service": "web", "environment": "production", "sha": sha(1), "url": "javascript:alert(1)",
        "commits": [{"revision": sha(2), "message": "PROJ-9 fix (#5)", "url": "javascript:alert(2)"}],
    })
    _login(client, "vic")
    body = client.get(f"/deploys/{r.json()['id']}").text
    assert 'href="javascript:' not in body
    assert "PROJ-9" in body and "PR #5" in body


def test_huge_ids_in_dashboard_forms_are_4xx(client, people):
    csrf = _login(client, "dana")
    for path in ("/deploys/99999999999999999999/health", "/locks/99999999999999999999/end"):
        r = client.post(path, data={"csrf": csrf, "state": "healthy"}, follow_redirects=False)
        assert r.status_code == 422, (path, r.status_code)


def test_lock_form_defaults_to_production_speaks_plainly_and_confirms(client, people, alice):
    alice.post("/api/v1/deploys", json={"service": "web", "environment": "staging", "sha": sha(1)})
    alice.post("/api/v1/deploys", json={"service": "web", "environment": "production", "sha": sha(1)})
    csrf = _login(client, "dana")
    form = client.get("/locks").text
    assert re.search(r'<option value="production" selected>', form) and not re.search(r'<option value="staging" selected>', form)
    assert 'data-preset="1h"' in form and 'data-preset="monday"' in form
    r = client.post("/locks", data={"environment": "production", "reason": "  ", "csrf": csrf})
    assert r.status_code == 422
    assert re.search(r'id="err-reason">Write a reason', r.text) and "Value error" not in r.text and "must not be blank" not in r.text
    past = (clock.now() - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
    r = client.post("/locks", data={"environment": "production", "reason": "x", "expires_at": past, "csrf": csrf})
    assert r.status_code == 422 and 'id="err-expires_at">Choose a time in the future' in r.text and "now is" not in r.text
    assert 'value="x"' in r.text  # what was typed stays
    r = client.post("/locks", data={"environment": "production", "reason": "release train", "csrf": csrf}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/locks?created=")
    page = client.get(r.headers["location"]).text
    assert re.search(r'id="lock-created"[^>]*><strong>Locked production</strong> until someone unlocks it', page)


def _trend_charts(html: str) -> list:
    """The /dora page's trend charts, in page order (deploys, lead time, failure rate), parsed."""
    import xml.etree.ElementTree as ET

    return [ET.fromstring(svg) for svg in re.findall(r'<svg[^>]*class="chart trend-chart".*?</svg>', html, re.S)]


def _tooltips(svg) -> list[str]:
    ns = "{http://www.w3.org/2000/svg}"
    return [r.find(f"{ns}title").text for r in svg.iter(f"{ns}rect") if r.get("class") == "bucket"]


def _axis(svg) -> list[str]:
    ns = "{http://www.w3.org/2000/svg}"
    return [t.text for t in svg.iter(f"{ns}text") if t.get("class") == "tick x"]


def test_dora_trend_charts_have_dated_axes_and_tooltips_in_the_headlines_units(client, people, bob, db, monkeypatch):
    from shiplane.tables.deploys import deploys

    now = datetime(2026, 11, 18, 12, 0, tzinfo=UTC)  # a Wednesday: the week of Nov 16 is partial
    monkeypatch.setattr(clock, "now", lambda: now)
    seed = [  # (deployed at, lead time, health); weeks start on Mondays: Nov 2, 9, 16
        (datetime(2026, 11, 3, 9, tzinfo=UTC), timedelta(hours=2), "healthy"),  # tracking begins on Nov 3
        (datetime(2026, 11, 4, 9, tzinfo=UTC), timedelta(hours=2), "unhealthy"),
        (datetime(2026, 11, 4, 10, tzinfo=UTC), timedelta(hours=2), "healthy"),
        (datetime(2026, 11, 17, 9, tzinfo=UTC), timedelta(minutes=30), "healthy"),
        (datetime(2026, 11, 17, 10, tzinfo=UTC), timedelta(minutes=30), "healthy"),
    ]
    for n, (at, lead, state) in enumerate(seed):
        commit = {"revision": sha(f"c{n}"), "message": "change", "date": (at - lead).isoformat()}
        r = bob.post("/api/v1/deploys", json={"service": "web", "environment": "production", "sha": sha(n),
                                              "status": "succeeded", "finished_at": at.isoformat(), "commits": [commit]})
        assert r.status_code == 201, r.text
        with db.write() as conn:
            conn.execute(deploys.update().where(deploys.c.id == r.json()["id"]).values(health_state=state))
    _login(client, "vic")
    page = client.get("/dora", params={"days": 30, "bucket": "week"}).text
    assert ">2.0 h</a> <small>median" in page
    assert ">0.32</a> <small>a day" in page  # the headline: 5 deploys over Nov 3 .. Nov 18 12:00, 15.5 days
    frequency, lead, failure = _trend_charts(page)
    # Deploys a day, like the headline: each week's count over its days inside the range (Nov 3 .. Nov 18 12:00).
    assert _tooltips(frequency) == ["Week of 2026-11-02: 0.5 a day", "Week of 2026-11-09: 0 a day",
                                    "Week of 2026-11-16: 0.8 a day"]
    assert _tooltips(lead) == ["Week of 2026-11-02: 2 h", "Week of 2026-11-09: no data", "Week of 2026-11-16: 0.5 h"]
    assert _tooltips(failure) == ["Week of 2026-11-02: 33.3%", "Week of 2026-11-09: no data",
                                  "Week of 2026-11-16: 0%"]
    for chart in (frequency, lead, failure):
        assert _axis(chart) == ["Nov 2", "Nov 9", "Nov 16"]
    assert 'data-partial-bucket="2026-11-16T00:00:00Z"' in page and ">2026-11-16</time>, is partial" in page

    days = _trend_charts(client.get("/dora", params={"days": 30, "bucket": "day"}).text)[0]
    tips = _tooltips(days)
    assert len(tips) == 16 and tips[0] == "2026-11-03: 1 a day" and tips[1] == "2026-11-04: 2 a day"
    assert tips[-1] == "2026-11-18: 0 a day"  # half a day so far, none yet
    axis = _axis(days)
    assert axis[-1] == "Nov 18" and 3 <= len(axis) < 16  # the newest day, and not all sixteen crammed in
