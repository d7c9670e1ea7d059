"""The dashboard's history and catalog pages over HTTP: /services, /deploys, deploy pages, titles, empty states."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from bs4 import BeautifulSoup

from shiplane import clock
from shiplane.settings import Config
from tests.conftest import BOB, sha

AUTH = {"Authorization": f"Bearer {BOB}"}


@pytest.fixture
def config() -> Config:
    return Config.model_validate({
        "server": {"public_dashboard": True, "public_url": "https://ship.example.com"},
        "environments": [{"slug": "staging"}, {"slug": "production", "name": "Production (Gulf)", "production": True}],
        "services": [{"slug": "web", "name": "Web shop"}, {"slug": "api"}],
    })


def deploy(client, service, environment, n, *, commits=(), at=None, **extra):
    body = {"service": service, "environment": environment, "sha": sha(n), "status": "succeeded"} | extra
    if commits:
        body["commits"] = [{"revision": sha(c), "message": f"change {c}"} for c in commits]
    if at is not None:
        body["finished_at"] = at.isoformat()
    r = client.post("/api/v1/deploys", json=body, headers=AUTH)
    assert r.status_code in (200, 201), r.text
    return r.json()


def soup(client, path) -> BeautifulSoup:
    r = client.get(path)
    assert r.status_code == 200, r.text[:500]
    return BeautifulSoup(r.text, "html.parser")


def test_the_matrix_counts_commits_ahead_between_consecutive_environments(client):
    t = clock.now() - timedelta(hours=10)
    # staging gets 1+2, 3, then 4+5; production shipped up to 3 (with the commits 1-3); api is the same everywhere
    deploy(client, "web", "staging", 2, commits=(1, 2), at=t)
    deploy(client, "web", "staging", 3, commits=(3,), at=t + timedelta(hours=1))
    deploy(client, "web", "production", 3, commits=(1, 2, 3), at=t + timedelta(hours=2))
    deploy(client, "web", "staging", 5, commits=(4, 5), at=t + timedelta(hours=3), version="1.4.0")
    deploy(client, "api", "staging", 7, commits=(7,), at=t)
    deploy(client, "api", "production", 7, commits=(7,), at=t + timedelta(hours=1))
    page = soup(client, "/services")
    assert [th.get_text(strip=True) for th in page.select("#matrix thead th[scope=col]") if "ahead-col" not in th.get("class", [])] == [
        "Service", "staging", "Production (Gulf)",
    ]
    assert [tr["data-service"] for tr in page.select("#matrix tbody tr")] == ["web", "api"]  # config order
    web = page.select_one("#matrix tr[data-service=web]")
    assert web.select_one("td.ahead")["data-ahead"] == "2"  # commits 4 and 5
    assert web.select_one("td.ahead").get_text(strip=True) == "2 commits ahead"  # exact, not "≥"
    staging_cell = web.select_one("td[data-environment=staging]")
    assert sha(5)[:7] in staging_cell.get_text() and "1.4.0" in staging_cell.get_text()
    assert "same" in page.select_one("#matrix tr[data-service=api] td.ahead").get_text()
    # search keeps the order and narrows the rows; "only differing" keeps web
    assert [tr["data-service"] for tr in soup(client, "/services?q=shop").select("#matrix tbody tr")] == ["web"]
    assert [tr["data-service"] for tr in soup(client, "/services?drift=1").select("#matrix tbody tr")] == ["web"]


def test_deploy_history_pages_link_previous_and_next_and_name_the_rollback_target(client):
    t = clock.now() - timedelta(days=2)
    ids = [deploy(client, "web", "production", n, at=t + timedelta(hours=n))["id"] for n in range(1, 56)]
    listing = soup(client, "/deploys?service=web&environment=production")
    shown = [int(tr["data-deploy"]) for tr in listing.select("tr[data-deploy]")]
    assert shown == ids[::-1][:50]  # newest first, 50 a page
    older = listing.select_one("a[rel=next]")["href"]
    assert [int(tr["data-deploy"]) for tr in soup(client, older).select("tr[data-deploy]")] == ids[::-1][50:]
    middle = soup(client, f"/deploys/{ids[10]}")
    assert middle.select_one("a[rel=prev]")["href"] == f"/deploys/{ids[9]}"
    assert middle.select_one("a[rel=next]")["href"] == f"/deploys/{ids[11]}"
    crumbs = [a["href"] for a in middle.select("nav.crumbs a")]
    assert crumbs == ["/", "/deploys?environment=production", "/deploys?service=web&environment=production"]
    assert middle.title.get_text().startswith("Web shop #")
    rollback = deploy(client, "web", "production", 3)  # sha(3) again: a rollback to the deploy of sha(3)
    page = soup(client, f"/deploys/{rollback['id']}")
    target = page.select_one("[data-rollback-of]")
    assert target is not None and target["data-rollback-of"] == str(rollback["rollback_of"])
    assert "Rolls back to" in target.get_text() and sha(3)[:7] in target.get_text()


def test_an_in_progress_deploy_page_says_started_and_offers_no_verdict(client):
    deploy(client, "web", "production", 1)
    started = deploy(client, "web", "production", 2, status="started")
    page = soup(client, f"/deploys/{started['id']}")
    facts = page.select_one("dl.facts").get_text(" ", strip=True)
    assert "Started" in facts and "Deployed" not in facts
    assert page.select_one("form.verdict-form") is None
    assert "No commits recorded" not in page.get_text()


def test_a_resolved_incident_stays_on_the_deploy_page(client):
    d = deploy(client, "web", "production", 1, at=clock.now() - timedelta(hours=2))
    start = clock.now() - timedelta(hours=1)
    for state, at in (("triggered", start), ("resolved", start + timedelta(minutes=40))):
        r = client.post("/api/v1/incidents", json={"key": "INC-7", "state": state, "environment": "production",
                                                   "service": "web", "title": "Checkout down", "at": at.isoformat()}, headers=AUTH)
        assert r.status_code in (200, 201), r.text
    page = soup(client, f"/deploys/{d['id']}")
    (item,) = page.select("[data-incident]")
    assert item["data-incident"] == "resolved" and "Checkout down" in item.get_text() and "40 min" in item.get_text()


def test_every_page_has_its_own_title_and_the_empty_install_shows_the_first_command(client):
    titles = {path: soup(client, path).title.get_text() for path in ("/", "/services", "/deploys", "/locks", "/dora")}
    assert len(set(titles.values())) == len(titles), titles
    empty = soup(client, "/").select_one(".first-step").get_text()
    assert "curl -X POST https://ship.example.com/api/v1/deploys" in empty
    assert "shiplane deploy --url https://ship.example.com" in empty
    assert re.search(r"No deploys to staging yet", empty)


def test_a_rollback_through_a_health_blocker_says_so_on_its_page(client):
    deploy(client, "web", "production", 1)
    bad = deploy(client, "web", "production", 2)
    assert client.post(f"/api/v1/deploys/{bad['id']}/health", json={"state": "unhealthy", "note": "5xx up"}, headers=AUTH).status_code == 200
    r = client.post("/api/v1/deploys", json={"service": "web", "environment": "production", "sha": sha(1), "status": "started"}, headers=AUTH)
    assert r.status_code == 201, r.text  # a rollback passes the unhealthy blocker (SPEC 8.1)
    said = soup(client, f"/deploys/{r.json()['id']}").select_one("[data-rollback-allowed]")
    assert said is not None and said.get_text(" ", strip=True).startswith("↩ Rollback allowed through:")
    assert f"#{bad['id']}" in said.get_text() and "unhealthy" in said.get_text()
    # An ordinary deploy page has no such line.
    assert soup(client, f"/deploys/{bad['id']}").select_one("[data-rollback-allowed]") is None
