"""Who hears about it: notification channels and Slack."""

from __future__ import annotations

from typing import Literal

from pydantic import SecretStr

from shiplane.settings.values import Scoped, Section


class NotifyConfig(Scoped):
    kind: Literal["slack", "webhook"]
    url: SecretStr
    events: list[Literal["lock", "window", "override", "health", "incident", "deploy"]] = [
        "lock",
        "window",
        "override",
        "health",
        "incident",
    ]
    secret: SecretStr | None = None  # HMAC key for generic webhooks (X-Shiplane-Signature)


class SlackConfig(Section):
    signing_secret: SecretStr | None = None
    allowed_users: list[str] = []
