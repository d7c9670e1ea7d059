"""`shiplane lock --from/--until` and `shiplane lock edit`, run as a user would (§8.1)."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx

from tests.conftest import BOB
from tests.integration.live import LiveServer
from tests.integration.test_cli import run

BERLIN = ZoneInfo("Europe/Berlin")


def test_lock_ahead_in_the_environments_zone_then_edit_it(db, db_url, tmp_path):
    config = tmp_path / "shiplane.toml"
    config.write_text('[[environments]]\nslug = "production"\ntimezone = "Europe/Berlin"\n')
    server = LiveServer(db_url, config=str(config)).start(timeout=120)  # a loaded CI machine starts slowly
    try:
        env = {"SHIPLANE_URL": server.url, "SHIPLANE_TOKEN": BOB}
        api = httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {BOB}"})
        local = (datetime.now(UTC) + timedelta(hours=3)).astimezone(BERLIN).replace(second=0, microsecond=0)
        hhmm = local.strftime("%H:%M")
        r = run("lock", "--environment", "production", "--reason", "Launch freeze", "--from", hhmm, "--until", "2h", env=env)
        assert r.returncode == 0, r.stderr
        assert r.stdout.startswith("scheduled a lock of production (lock ")
        (lk,) = api.get("/api/v1/locks", params={"state": "scheduled"}).json()["items"]
        start = local.astimezone(UTC)
        assert lk["starts_at"] == start.strftime("%Y-%m-%dT%H:%M:%SZ")  # 'HH:MM' read in Europe/Berlin, not UTC
        assert lk["expires_at"] == (start + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%SZ")  # a duration counts from the start

        r = run("lock", "edit", str(lk["id"]), "--reason", "Launch moved", "--until", "none", env=env)
        assert r.returncode == 0 and r.stdout.startswith(f"edited production (lock {lk['id']}) from "), r.stderr
        edited = api.get("/api/v1/locks").json()["items"][0]
        assert (edited["reason"], edited["expires_at"]) == ("Launch moved", None)
        (event,) = api.get("/api/v1/events", params={"kind": "lock_updated"}).json()["items"]
        assert set(event["data"]["changes"]) == {"reason", "expires_at"}

        r = run("lock", "--environment", "production", "--reason", "x", "--until", "soonish", env=env)
        assert r.returncode == 2 and "--until: not an ISO date-time, HH:MM or a duration" in r.stderr
        r = run("lock", "edit", str(lk["id"]), env=env)
        assert r.returncode == 2 and "nothing to change" in r.stderr
        api.delete(f"/api/v1/locks/{lk['id']}")
        r = run("lock", "edit", str(lk["id"]), "--reason", "again", env=env)
        assert r.returncode == 1 and "lock_already_ended" in r.stderr
    finally:
        server.stop()
