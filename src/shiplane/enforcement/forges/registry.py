"""The one list of forges: name → client class and webhook parser. A new forge is one module plus a line here."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from shiplane.enforcement.forges import bitbucket, github, gitlab
from shiplane.enforcement.forges.base import Delivery, Forge


@dataclass(frozen=True)
class ForgeKind:
    client: Callable[[Any, Any], Forge]  # (its [forges.<name>] config, the shared httpx client) -> Forge
    parse_webhook: Callable[[Mapping[str, str], bytes], Delivery]


FORGES: dict[str, ForgeKind] = {
    "github": ForgeKind(github.GitHub, github.parse_webhook),
    "bitbucket": ForgeKind(bitbucket.Bitbucket, bitbucket.parse_webhook),
    "gitlab": ForgeKind(gitlab.GitLab, gitlab.parse_webhook),
}
