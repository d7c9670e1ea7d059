"""The locks page's look ahead (§8.1/§8.2): a start in the lock form (environment's zone), scheduled
locks with edit and cancel, the 14-day strip, the calendar feed URL."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from shiplane import clock
from shiplane.auth import service as auth_service
from shiplane.settings import Config
from tests.functional.test_dashboard import PASSWORD, _login

BERLIN = ZoneInfo("Europe/Berlin")


@pytest.fixture
def people(db):
    with db.write() as conn:
        auth_service.create_user(conn, "dana", "deployer", PASSWORD, clock.now())
        auth_service.create_user(conn, "vic", "viewer", PASSWORD, clock.now())


@pytest.fixture
def config() -> Config:
    return Config.model_validate({
        "environments": [{"slug": "staging"}, {"slug": "production", "timezone": "Europe/Berlin"}],
        "windows": [{"environments": ["production"], "start": "09:00", "end": "17:00", "timezone": "Europe/Berlin"}],
    })


def local(t: datetime) -> str:
    return t.astimezone(BERLIN).strftime("%Y-%m-%dT%H:%M")


def test_a_lock_scheduled_from_the_form_is_read_in_the_environments_zone_and_listed(client, people, alice):
    csrf = _login(client, "dana")
    page = client.get("/locks").text
    assert "production Europe/Berlin" in page and "staging UTC" in page  # the form says which zone
    start = (clock.now() + timedelta(days=1)).replace(second=0, microsecond=0)
    end = start + timedelta(hours=4)
    r = client.post("/locks", data={
        "environment": "production", "reason": "Launch <freeze>", "starts_at": local(start), "expires_at": local(end), "csrf": csrf,
    }, follow_redirects=False)
    assert r.status_code == 303, r.text
    (lk,) = alice.get("/api/v1/locks").json()["items"]
    assert (lk["state"], lk["starts_at"], lk["expires_at"]) == (
        "scheduled", start.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"), end.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    )
    page = client.get("/locks").text
    row = re.search(rf'<tr data-lock="{lk["id"]}" data-state="scheduled">.*?</tr>', page, re.S).group(0)
    assert "Launch &lt;freeze&gt;" in row and "Europe/Berlin" in row
    assert f'value="{local(start)}"' in row  # the edit form shows the start in the zone it reads
    # the strip draws it as a lock rectangle in production's row
    strip = re.search(r'<figure class="strip" data-strip="production">.*?</figure>', page, re.S).group(0)
    assert 'data-kind="lock"' in strip and "Lock: Launch &lt;freeze&gt;" in strip
    assert 'data-kind="window"' in strip  # and the closed time outside its window
    assert "http://testserver/api/v1/calendar.ics?environment=production&amp;token=YOUR_VIEWER_TOKEN" in page


def test_a_scheduled_lock_is_edited_and_cancelled_from_the_page(client, people, alice):
    csrf = _login(client, "dana")
    start = (clock.now() + timedelta(days=1)).replace(second=0, microsecond=0)
    lk = alice.post("/api/v1/locks", json={"environment": "production", "reason": "Launch", "starts_at": start.isoformat()}).json()
    later = start + timedelta(hours=2)
    r = client.post(f"/locks/{lk['id']}/edit", data={
        "reason": "Launch moved", "starts_at": local(later), "expires_at": local(later + timedelta(hours=1)), "csrf": csrf,
    }, follow_redirects=False)
    assert r.status_code == 303, r.text
    edited = alice.get("/api/v1/locks").json()["items"][0]
    assert (edited["reason"], edited["starts_at"]) == ("Launch moved", later.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))
    (ev,) = alice.get("/api/v1/events", params={"kind": "lock_updated"}).json()["items"]
    assert set(ev["data"]["changes"]) == {"reason", "starts_at", "expires_at"}
    bad = client.post(f"/locks/{lk['id']}/edit", data={"reason": "x", "expires_at": "whenever", "csrf": csrf})
    assert bad.status_code == 422 and "expires_at" in bad.text
    r = client.post(f"/locks/{lk['id']}/end", data={"note": "cancelled before it started", "csrf": csrf}, follow_redirects=False)
    assert r.status_code == 303
    assert alice.get("/api/v1/locks?state=scheduled").json()["items"] == []
    assert "No lock is scheduled." in client.get("/locks").text


def test_viewers_see_the_plan_but_no_forms(client, people, alice):
    start = clock.now() + timedelta(days=1)
    alice.post("/api/v1/locks", json={"environment": "production", "reason": "Launch", "starts_at": start.isoformat()})
    _login(client, "vic")
    page = client.get("/locks").text
    assert 'data-state="scheduled"' in page and "/edit" not in page


def test_editing_needs_csrf(client, people, alice):
    _login(client, "dana")
    lk = alice.post("/api/v1/locks", json={"environment": "production", "reason": "Launch", "starts_at": (clock.now() + timedelta(days=1)).isoformat()}).json()
    r = client.post(f"/locks/{lk['id']}/edit", data={"reason": "x"})
    assert r.status_code == 403
    assert alice.get("/api/v1/locks").json()["items"][0]["reason"] == "Launch"
