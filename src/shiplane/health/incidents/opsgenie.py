"""Opsgenie webhook integration: action ``Create`` triggers an incident, ``Close`` resolves it.

Payloads (the "alert action data" the webhook integration posts):
https://support.atlassian.com/opsgenie/docs/opsgenie-edge-connector-alert-action-data/
(formerly https://docs.opsgenie.com/docs/marid-alert-action-data). Opsgenie signs
nothing: the integration is set to send ``Authorization: Bearer <token>`` as a
custom header, and the token is compared in constant time.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from shiplane.health.incidents.base import TITLE_CHARS, IncidentReport, Reading, Unreadable, field, key_of, text
from shiplane.settings.incidents import OpsgenieConfig

STATES = {"Create": "triggered", "Close": "resolved"}
SERVICE_TAG = "service:"
_SLUG = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
MAX_TAGS = 100


def _service(tags: Any) -> str | None:
    if tags is None:
        return None
    if not isinstance(tags, list):
        raise Unreadable("alert.tags", "must be a list of strings")
    for tag in tags[:MAX_TAGS]:
        if isinstance(tag, str) and tag.startswith(SERVICE_TAG):
            slug = tag.removeprefix(SERVICE_TAG).strip()
            if not _SLUG.match(slug):
                raise Unreadable("alert.tags", f"{tag[:80]!r} does not name a service slug (lowercase letters, digits, . _ -)")
            return slug
    return None


def _at(payload: Any, action: str) -> datetime | None:
    """``alert.createdAt`` (epoch milliseconds) for a Create; a Close is dated when it arrives
    (``updatedAt`` is in nanoseconds and not documented as the close time)."""
    if action != "Create":
        return None
    created = field(payload, "alert.createdAt")
    if created is None:
        return None
    if not isinstance(created, int) or isinstance(created, bool) or not 0 < created < 10**14:
        raise Unreadable("alert.createdAt", "must be epoch milliseconds")
    return datetime.fromtimestamp(created / 1000, tz=UTC)


class Opsgenie:
    name = "opsgenie"

    def __init__(self, config: OpsgenieConfig, environment: str) -> None:
        self.config = config
        self.environment = environment

    def authenticate(self, headers: Mapping[str, str], body: bytes) -> bool:
        scheme, _, given = (headers.get("Authorization") or "").partition(" ")
        expected = self.config.token.get_secret_value()
        return scheme.lower() == "bearer" and hmac.compare_digest(expected.encode(), given.strip().encode())

    def read(self, payload: Any) -> Reading:
        if not isinstance(payload, Mapping) or not isinstance(payload.get("alert"), Mapping):
            raise Unreadable("alert", "an Opsgenie webhook carries an alert object")
        action = text(payload, "action", 100, required=True) or ""
        state = STATES.get(action)
        if state is None:
            return Reading(ignored=f"action {action}")
        key = text(payload, "alert.alias", 1000) or text(payload, "alert.alertId", 1000)
        if not key:
            raise Unreadable("alert.alias", "neither alert.alias nor alert.alertId is given: one names the incident")
        report = IncidentReport(
            key=key_of(key),
            state=state,  # type: ignore[arg-type]
            service=_service(field(payload, "alert.tags")),
            at=_at(payload, action),
            title=(text(payload, "alert.message", TITLE_CHARS) or "").strip() or None,
        )
        return Reading(reports=(report,))
