"""PagerDuty v3 webhooks: ``incident.triggered`` and ``incident.resolved`` become incidents.

Payloads: https://developer.pagerduty.com/docs/webhooks/v3-overview (source:
github.com/PagerDuty/developer-docs, docs/webhooks/01-Overview.md). Signatures:
https://developer.pagerduty.com/docs/webhooks/webhook-signatures —
``X-PagerDuty-Signature`` holds one or more comma-separated ``v1=<hex HMAC-SHA256>``
(several while a secret is rotated); one match is enough.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from typing import Any

from shiplane import http
from shiplane.health.incidents.base import KEY_CHARS, TITLE_CHARS, URL_CHARS, IncidentReport, Reading, Unreadable, text
from shiplane.settings.incidents import PagerDutyConfig

SIGNATURE_HEADER = "X-PagerDuty-Signature"
MAX_SIGNATURES = 16  # a header with more is not PagerDuty's: bounded work per request
STATES = {"incident.triggered": "triggered", "incident.resolved": "resolved"}


def signature_matches(secret: str, body: bytes, header: str | None) -> bool:
    """Does any ``v1=`` signature in the header match the body, in constant time?"""
    if not secret or not header:
        return False
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest().encode()
    found = False
    for part in header.split(",")[:MAX_SIGNATURES]:
        version, _, value = part.strip().partition("=")
        if version == "v1" and hmac.compare_digest(expected, value.strip().lower().encode()):
            found = True  # no early exit: the time taken does not depend on which one matched
    return found


class PagerDuty:
    name = "pagerduty"

    def __init__(self, config: PagerDutyConfig, environment: str) -> None:
        self.config = config
        self.environment = environment

    def authenticate(self, headers: Mapping[str, str], body: bytes) -> bool:
        return signature_matches(self.config.webhook_secret.get_secret_value(), body, headers.get(SIGNATURE_HEADER))

    def read(self, payload: Any) -> Reading:
        if not isinstance(payload, Mapping) or not isinstance(payload.get("event"), Mapping):
            raise Unreadable("event", "a v3 webhook carries an event object")
        event_type = text(payload, "event.event_type", 100, required=True)
        state = STATES.get(event_type or "")
        if state is None:
            return Reading(ignored=f"event_type {event_type}")
        service_id = text(payload, "event.data.service.id", 100)
        report = IncidentReport(
            key=text(payload, "event.data.id", KEY_CHARS, required=True) or "",
            state=state,  # type: ignore[arg-type]
            # An incident on a service not in [incidents.pagerduty] services concerns the environment.
            service=self.config.services.get(service_id) if service_id else None,
            at=http.parse_time(text(payload, "event.occurred_at", 64)),
            title=text(payload, "event.data.title", TITLE_CHARS),
            url=text(payload, "event.data.html_url", URL_CHARS),
        )
        if report.at is None and text(payload, "event.occurred_at", 64):
            raise Unreadable("event.occurred_at", "is not an ISO 8601 instant")
        return Reading(reports=(report,))
