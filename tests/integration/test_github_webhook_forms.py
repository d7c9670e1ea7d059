"""GitHub webhooks as GitHub sends them by default, and signed payloads that are not what GitHub documents.

GitHub's default content type for a webhook is application/x-www-form-urlencoded,
with the JSON in the ``payload`` field; the X-Hub-Signature-256 HMAC covers the raw
form body (docs.github.com: Webhooks, "Creating webhooks" -> Content type, and
"Validating webhook deliveries").
"""

# ruff: noqa: F811  (the fixtures github and hello are imported from test_merge_blocking)
from __future__ import annotations

import hashlib
import hmac
import json
from urllib.parse import urlencode

from tests.integration.test_merge_blocking import GH, WEBHOOK_SECRET, github, hello  # noqa: F401  (fixtures)


def form_post(harness, event: str, payload_json: str, secret: str = WEBHOOK_SECRET):
    raw = urlencode({"payload": payload_json}).encode()
    headers = {
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": hashlib.md5(raw).hexdigest(),
        "X-Hub-Signature-256": "sha256=" + hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest(),
        "Content-Type": "application/x-www-form-urlencoded",
    }
    return harness.client.post("/hooks/github", content=raw, headers=headers)


def test_a_form_encoded_pull_request_webhook_is_read_like_json(hello, github):
    text = (GH / "pull_request.opened.1.json").read_text()
    head = json.loads(text)["pull_request"]["head"]["sha"]
    github.add_commit("Codertocat/Hello-World", head)
    hello.api("POST", "/api/v1/locks", json={"environment": "production", "reason": "release train"})
    r = form_post(hello, "pull_request", text)
    assert r.status_code == 200, r.text
    hello.drain()
    status = github.latest_status("Codertocat/Hello-World", head, "shiplane")
    assert status["state"] == "pending" and "release train" in status["description"]


def test_a_form_signed_with_the_wrong_secret_is_401(hello):
    r = form_post(hello, "ping", (GH / "ping.1.json").read_text(), secret="wrong")
    assert r.status_code == 401


def test_signed_payloads_of_the_wrong_shape_are_400_and_record_nothing(hello):
    real = json.loads((GH / "pull_request.opened.1.json").read_text())
    shapes = [
        "[]",
        '{"action": "opened"}',
        json.dumps(real | {"pull_request": "not an object"}),
        json.dumps(real | {"pull_request": real["pull_request"] | {"number": {"deep": [1]}}}),
        json.dumps(real | {"repository": ["Codertocat/Hello-World"]}),
        "[" * 5000 + "]" * 5000,
    ]
    for text in shapes:
        r = form_post(hello, "pull_request", text)
        assert r.status_code in (200, 400), (text[:80], r.status_code, r.text)
        if r.status_code == 400:
            assert r.json()["error"] == "invalid_payload"
    before = len(hello.jobs())
    assert form_post(hello, "pull_request", json.dumps(real | {"pull_request": "not an object"})).status_code == 400
    assert len(hello.jobs()) == before  # nothing recorded
