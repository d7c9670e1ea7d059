"""GET /api/v1/calendar.ics (§8.2), parsed with icalendar, on both databases."""

import logging
from datetime import UTC, datetime, timedelta

import pytest
from icalendar import Calendar

from shiplane import clock
from shiplane.middleware import RedactUrlTokens
from shiplane.settings import Config
from tests.conftest import CHARLIE

NOW = datetime(2026, 10, 21, 12, 0, tzinfo=UTC)  # Wednesday; Berlin leaves summer time on Sunday 25 October

CONFIG = {
    "environments": [{"slug": "production", "timezone": "Europe/Berlin"}],
    "windows": [{"environments": ["production"], "days": ["mon", "tue", "wed", "thu", "fri"], "start": "09:00", "end": "17:00", "timezone": "Europe/Berlin"}],
    "freezes": [{"environments": ["production"], "start": "2026-10-28T18:00:00", "end": "2026-10-29T06:00:00", "timezone": "Europe/Berlin", "reason": "Data centre move"}],
    "holidays": [{"environments": ["production"], "country": "US", "eve": True, "timezone": "America/New_York"}],
}


@pytest.fixture
def config() -> Config:
    return Config.model_validate(CONFIG)


@pytest.fixture
def at(monkeypatch):
    """Move the server's clock: at(t) makes every later request see t."""

    def move(t):
        monkeypatch.setattr(clock, "now", lambda: t)

    move(NOW)
    return move


def feed(api, **params):
    r = api.get("/api/v1/calendar.ics", params={"environment": "production"} | params)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "text/calendar; charset=utf-8"
    return Calendar.from_ical(r.content)


def events(cal):
    return [
        {
            "uid": str(e["UID"]),
            "summary": str(e["SUMMARY"]),
            "start": e.decoded("DTSTART"),
            "end": e.decoded("DTEND"),
            "raw_start": e["DTSTART"].to_ical().decode(),
        }
        for e in cal.walk("VEVENT")
    ]


def test_the_window_closes_at_the_right_utc_instants_across_the_october_change(charlie, at):
    evs = events(feed(charlie, days=14))
    closed = [e for e in evs if e["summary"].startswith("Window: outside deploy window")]
    assert all(e["raw_start"].endswith("Z") for e in evs)  # DTSTART in UTC
    by_start = {e["start"]: e["end"] for e in closed}
    # Wed 17:00 CEST (15:00Z) until Thu 09:00 CEST (07:00Z)
    assert by_start[datetime(2026, 10, 21, 15, 0, tzinfo=UTC)] == datetime(2026, 10, 22, 7, 0, tzinfo=UTC)
    # the weekend across the change: Fri 17:00 CEST (15:00Z) until Mon 09:00 CET (08:00Z)
    assert by_start[datetime(2026, 10, 23, 15, 0, tzinfo=UTC)] == datetime(2026, 10, 26, 8, 0, tzinfo=UTC)
    # after it: Mon 17:00 CET is 16:00Z
    assert by_start[datetime(2026, 10, 26, 16, 0, tzinfo=UTC)] == datetime(2026, 10, 27, 8, 0, tzinfo=UTC)


def test_freezes_holidays_and_eves_are_in_it(charlie, at):
    evs = events(feed(charlie, days=60))
    summaries = {e["summary"]: e for e in evs}
    freeze = summaries["Freeze: Data centre move"]
    assert (freeze["start"], freeze["end"]) == (datetime(2026, 10, 28, 17, 0, tzinfo=UTC), datetime(2026, 10, 29, 5, 0, tzinfo=UTC))
    thanksgiving = summaries["Holiday: Thanksgiving Day"]
    assert (thanksgiving["start"], thanksgiving["end"]) == (datetime(2026, 11, 26, 5, 0, tzinfo=UTC), datetime(2026, 11, 27, 5, 0, tzinfo=UTC))
    assert summaries["Holiday: Eve of Thanksgiving Day"]["start"] == datetime(2026, 11, 25, 5, 0, tzinfo=UTC)
    assert "Holiday: Christmas Day" not in summaries  # beyond 60 days
    assert all(NOW - timedelta(days=11) < e["start"] < NOW + timedelta(days=60) for e in evs)


def test_uids_stay_the_same_between_fetches(charlie, at):
    first = {e["uid"]: e for e in events(feed(charlie, days=30))}
    at(NOW + timedelta(hours=5))
    second = {e["uid"]: e for e in events(feed(charlie, days=30))}
    common = first.keys() & second.keys()
    assert len(common) >= len(first) - 1  # at most the one that ended in between is gone
    assert all((first[u]["start"], first[u]["end"], first[u]["summary"]) == (second[u]["start"], second[u]["end"], second[u]["summary"]) for u in common)
    assert len(set(second)) == len(second)  # and they are unique


def test_scheduled_and_active_locks_are_in_it_and_an_edit_moves_the_same_event(bob, charlie, at):
    lk = bob.post("/api/v1/locks", json={
        "environment": "production", "reason": "Launch freeze", "starts_at": "2026-10-22T20:00:00Z", "expires_at": "2026-10-23T02:00:00Z",
    }).json()
    now_lock = bob.post("/api/v1/locks", json={"environment": "production", "service": "web", "reason": "Load test"}).json()
    (ev,) = [e for e in events(feed(charlie)) if e["summary"].startswith("Lock:")]  # the service lock is not the environment's
    assert (ev["uid"], ev["summary"], ev["start"], ev["end"]) == (
        f"lock-{lk['id']}@shiplane", "Lock: Launch freeze (token:bob)",
        datetime(2026, 10, 22, 20, 0, tzinfo=UTC), datetime(2026, 10, 23, 2, 0, tzinfo=UTC),
    )
    assert bob.patch(f"/api/v1/locks/{lk['id']}", json={"expires_at": "2026-10-23T04:00:00Z"}).status_code == 200
    (ev,) = [e for e in events(feed(charlie)) if e["summary"].startswith("Lock:")]
    assert (ev["uid"], ev["end"]) == (f"lock-{lk['id']}@shiplane", datetime(2026, 10, 23, 4, 0, tzinfo=UTC))
    web = [e for e in events(feed(charlie, service="web")) if e["summary"].startswith("Lock:")]
    assert {e["uid"] for e in web} == {f"lock-{lk['id']}@shiplane", f"lock-{now_lock['id']}@shiplane"}
    open_ended = next(e for e in web if e["uid"] == f"lock-{now_lock['id']}@shiplane")
    assert open_ended["end"] == NOW + timedelta(days=90)  # no expiry: to the end of the feed


def test_a_token_in_the_url_is_accepted_and_checked(anon, at):
    r = anon.get("/api/v1/calendar.ics", params={"environment": "production", "token": CHARLIE})
    assert r.status_code == 200 and Calendar.from_ical(r.content).walk("VEVENT")
    assert anon.get("/api/v1/calendar.ics", params={"environment": "production", "token": "shp_wrong"}).status_code == 401
    assert anon.get("/api/v1/calendar.ics", params={"environment": "production"}).status_code == 401


@pytest.mark.parametrize("params,field", [({"days": 0}, "days"), ({"days": 401}, "days"), ({"days": "x"}, "days"), ({"environment": None}, "environment"), ({"service": "Web!"}, "service")])
def test_bad_feed_queries_are_422_naming_the_field(charlie, params, field):
    query = {k: v for k, v in ({"environment": "production"} | params).items() if v is not None}
    r = charlie.get("/api/v1/calendar.ics", params=query)
    assert r.status_code == 422 and field in str(r.json()), r.json()


def test_the_access_log_never_shows_a_url_token():
    # The record uvicorn's access logger writes: (client, method, path with query, http version, status).
    record = logging.LogRecord(
        "uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5", "GET", f"/api/v1/calendar.ics?environment=production&token={CHARLIE}&days=30", "1.1", 200), None,
    )
    assert RedactUrlTokens().filter(record)
    line = record.getMessage()
    assert CHARLIE not in line and "token=[redacted]&days=30" in line
