"""`[dora] failure_states` without "incident": the drill-down pages through exactly the failures the
report counts (its candidates once included every deploy with an incident, so a page ended early)."""

from datetime import timedelta

import pytest

from shiplane.settings.config import Config
from tests.functional.test_dora_inputs import RANGE, T0, deploy, dora, healthy, incident


@pytest.fixture
def config() -> Config:
    return Config.model_validate({"dora": {"failure_states": ["unhealthy"]}})


def test_the_drill_down_pages_through_the_failures_the_report_counts(bob, db):
    a = deploy(bob, 1, T0)
    b = deploy(bob, 2, T0 + timedelta(hours=1))
    c = deploy(bob, 3, T0 + timedelta(hours=2))
    d = deploy(bob, 4, T0 + timedelta(hours=3))
    healthy(db, a["id"], c["id"], state="unhealthy")
    healthy(db, b["id"])
    healthy(db, d["id"])
    incident(bob, "INC-1", "triggered", T0 + timedelta(hours=3, minutes=5), expect=201)  # on d: not a failure here
    assert dora(bob)["change_failure_rate"]["failed"] == 2
    seen, cursor = [], None
    for _ in range(4):
        r = bob.get("/api/v1/dora/deploys", params=RANGE | {"metric": "failed", "limit": 1, **({"cursor": cursor} if cursor else {})})
        assert r.status_code == 200, r.text
        seen += [item["id"] for item in r.json()["items"]]
        cursor = r.json()["next_cursor"]
        if not cursor:
            break
    assert seen == [c["id"], a["id"]]
