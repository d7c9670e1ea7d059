"""The HTTP side of the client commands: a client for ``--url``/``--token``,
requests that fail cleanly when the server is down, and error lines from the
API's answers."""

from __future__ import annotations

from typing import Any

from shiplane.cli.common import fail


def connect(url: str, token: str):
    import httpx

    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.Client(base_url=url.rstrip("/"), headers=headers, timeout=30.0)


def call(client: Any, method: str, path: str, **kwargs: Any) -> Any:
    import httpx

    try:
        return client.request(method, path, **kwargs)
    except httpx.HTTPError as exc:
        fail(f"cannot reach {client.base_url}: {exc}")


def error_line(response: Any) -> str:
    try:
        body = response.json()
    except ValueError:
        return f"HTTP {response.status_code}: {response.text.strip()[:300]}"
    if isinstance(body, dict):
        return f"{body.get('error', response.status_code)}: {body.get('detail', '')}"
    return f"HTTP {response.status_code}"


def blocker_line(b: dict[str, Any]) -> str:
    parts = [b.get("kind", "?"), b.get("reason") or ""]
    if b.get("by"):
        parts.append(f"by {b['by']}")
    if b.get("until"):
        parts.append(f"until {b['until']}")
    return " — ".join(p for p in parts if p)


def from_iso(value: str):
    from shiplane.clock import parse_iso

    return parse_iso(value)
