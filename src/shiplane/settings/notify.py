"""Who hears about it: notification channels and Slack."""

from __future__ import annotations

from typing import Literal

from pydantic import SecretStr, field_validator

from shiplane.settings.values import Scoped, Section


class NotifyConfig(Scoped):
    kind: Literal["slack", "webhook", "teams", "discord"]
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
    # Where a button click's reply may go: Slack's own host. Anything else in a (signed)
    # payload's response_url is refused, so a reply is never sent elsewhere.
    response_url_prefixes: list[str] = ["https://hooks.slack.com/"]

    @field_validator("response_url_prefixes")
    @classmethod
    def _prefixes(cls, value: list[str]) -> list[str]:
        for prefix in value:
            # Without the path's slash, "https://hooks.slack.com" would also admit hooks.slack.com.evil.example.
            if not prefix.startswith(("https://", "http://")) or prefix.count("/") < 3 or not prefix.endswith("/"):
                raise ValueError(f"must be a URL prefix ending in '/', like 'https://hooks.slack.com/': {prefix!r}")
        return value
