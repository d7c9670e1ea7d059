"""``X-Shiplane-Signature`` for the webhooks Shiplane sends (notifications, rollback)."""

from __future__ import annotations

import hashlib
import hmac

HEADER = "X-Shiplane-Signature"


def signature(secret: str, body: bytes) -> str:
    """``sha256=<hex HMAC-SHA256 of the exact body bytes>``, keyed with ``secret``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
