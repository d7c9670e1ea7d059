"""`/shiplane lock prod Launch freeze until 18:00` (§8.1): the time in the environment's zone."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from shiplane.notify.commands import split_until
from shiplane.settings import Config
from tests.functional.test_slack_commands import BASE, active_locks, command

BERLIN = ZoneInfo("Europe/Berlin")


@pytest.fixture
def config() -> Config:
    data = dict(BASE)
    data["environments"] = [{"slug": "production", "timezone": "Europe/Berlin"}, {"slug": "staging"}]
    return Config.model_validate(data)


def test_lock_until_a_local_time(client, alice):
    local = (datetime.now(UTC) + timedelta(hours=2)).astimezone(BERLIN).replace(second=0, microsecond=0)
    r = command(client, f"lock production Launch freeze until {local:%H:%M}")
    assert r.status_code == 200 and r.json()["response_type"] == "in_channel", r.json()
    assert "(until " in r.json()["text"]
    (lk,) = active_locks(alice)
    assert lk["reason"] == "Launch freeze"
    assert lk["expires_at"] == local.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")  # 'HH:MM' in Europe/Berlin


def test_lock_a_service_for_a_duration(client, alice):
    assert command(client, "lock staging web Load test until 30m").status_code == 200
    (lk,) = active_locks(alice)
    assert (lk["service"], lk["reason"]) == ("web", "Load test")
    expires = datetime.fromisoformat(lk["expires_at"].replace("Z", "+00:00"))
    assert timedelta(minutes=29) < expires - datetime.now(UTC) <= timedelta(minutes=30)


@pytest.mark.parametrize(
    "text,reason,until",
    [
        ("Launch freeze until 18:00", "Launch freeze", "18:00"),
        ("closed until further notice", "closed until further notice", None),
        ("until 18:00", "until 18:00", None),  # nothing before it: that is the reason
        ("Migration UNTIL 2h", "Migration", "2h"),
        ("wait until 25:00", "wait", "25:00"),  # reads as a time: the lock then says why it is not one
    ],
)
def test_only_a_time_at_the_end_is_an_until(text, reason, until):
    assert split_until(text) == (reason, until)


def test_an_impossible_time_is_said_privately_and_locks_nothing(client, alice):
    r = command(client, "lock production Launch freeze until 25:00")
    assert r.status_code == 200 and r.json()["response_type"] == "ephemeral"
    assert "expires_at" in r.json()["text"]
    assert active_locks(alice) == []
