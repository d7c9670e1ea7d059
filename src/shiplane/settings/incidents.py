"""Incidents from outside: PagerDuty and Opsgenie webhooks (``[incidents.*]``)."""

from __future__ import annotations

from pydantic import SecretStr, field_validator

from shiplane.settings.values import Section, Slug


class PagerDutyConfig(Section):
    webhook_secret: SecretStr  # the v3 webhook subscription's signing secret
    environment: Slug | None = None  # None: the production environment
    services: dict[str, Slug] = {}  # PagerDuty service id → Shiplane service slug

    @field_validator("webhook_secret")
    @classmethod
    def _secret(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value():
            raise ValueError("must not be empty: every delivery is checked against it")
        return value


class OpsgenieConfig(Section):
    token: SecretStr  # sent by the Opsgenie webhook integration as "Authorization: Bearer <token>"
    environment: Slug | None = None  # None: the production environment

    @field_validator("token")
    @classmethod
    def _token(cls, value: SecretStr) -> SecretStr:
        if len(value.get_secret_value()) < 16:
            raise ValueError("must be at least 16 characters: it is the only thing that authenticates Opsgenie")
        return value


class IncidentsConfig(Section):
    pagerduty: PagerDutyConfig | None = None
    opsgenie: OpsgenieConfig | None = None
