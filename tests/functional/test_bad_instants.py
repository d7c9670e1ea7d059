"""Instants that do not exist in UTC are a 422 naming the field, never a 500 (issue 12)."""

from __future__ import annotations

import base64
from urllib.parse import quote

import pytest

from tests.conftest import sha

OUT_OF_RANGE = ["9999-12-31T23:59:59-12:00", "0001-01-01T00:00:00+01:00"]


@pytest.mark.parametrize("value", OUT_OF_RANGE)
def test_it_refuses_out_of_range_instants_in_a_deploy(bob, value):
    r = bob.post(
        "/api/v1/deploys",
        json={"service": "web", "environment": "production", "sha": sha(1), "finished_at": value},
    )
    assert r.status_code == 422, r.text
    assert "finished_at" in r.json()["fields"]


@pytest.mark.parametrize("value", OUT_OF_RANGE)
def test_it_refuses_out_of_range_instants_in_queries(charlie, value):
    r = charlie.get(f"/api/v1/gate?environment=production&at={quote(value)}")
    assert r.status_code == 422 and "at" in r.json()["fields"], r.text
    r = charlie.get(f"/api/v1/dora?since={quote(value)}")
    assert r.status_code == 422 and "since" in r.json()["fields"], r.text
    cursor = base64.urlsafe_b64encode(f"{value}|1".encode()).decode().rstrip("=")
    r = charlie.get(f"/api/v1/deploys?cursor={cursor}")
    assert r.status_code == 422 and "cursor" in r.json()["fields"], r.text


@pytest.mark.parametrize("value", OUT_OF_RANGE)
def test_the_sleuth_routes_keep_their_plain_400(bob, value):
    r = bob.client.post(
        "/api/1/deployments/acme/web/register_deploy",
        headers={"Authorization": "apikey bob-deployer-token"},
        json={"sha": sha(2), "environment": "production", "date": value},
    )
    assert r.status_code == 400 and "Invalid date" in r.text
