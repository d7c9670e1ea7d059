"""What status every open pull request should carry, given a gate (pure)."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from shiplane.text import visible_bidi

MAX_DESCRIPTION = 140  # GitHub's limit; Bitbucket and GitLab accept it too

# A deploy in progress is a reason to wait before *deploying*, not before
# *merging*: mirroring it would flip every open PR twice per deploy and burn
# the forge's write budget (GitHub.com: 500 an hour) for nothing.
NOT_MIRRORED = frozenset({"in_progress", "cooldown"})  # §8.1: a cooldown is a reason to wait before deploying, not merging


@dataclass(frozen=True)
class DesiredStatus:
    state: str  # success | pending | failure
    description: str
    context: str
    target_url: str

    @property
    def signature(self) -> str:
        raw = f"{self.state}\x1f{self.description}\x1f{self.context}\x1f{self.target_url}"
        return hashlib.sha256(raw.encode()).hexdigest()[:32]

    def to_dict(self) -> dict[str, str]:
        return {
            "state": self.state,
            "description": self.description,
            "context": self.context,
            "target_url": self.target_url,
        }


def truncate(text: str, limit: int = MAX_DESCRIPTION) -> str:
    """Cut to ``limit`` characters on a character boundary, marking the cut."""
    text = visible_bidi(" ".join(text.split()))  # forges render one line; an RLO must not reverse the reason
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def environment_title(slug: str, name: str | None = None) -> str:
    if name and name != slug:
        return name
    return slug[:1].upper() + slug[1:]


def desired(
    *,
    blockers: Sequence[Mapping[str, Any]],
    environment: str,
    context: str,
    target_url: str,
    blocked_state: str = "pending",
) -> DesiredStatus:
    mirrored = [b for b in blockers if b["kind"] not in NOT_MIRRORED]
    if not mirrored:
        return DesiredStatus("success", truncate(f"{environment} open for deploys"), context, target_url)
    first = mirrored[0]
    text = f"{environment} locked: {first['reason']}"
    if first.get("by"):
        text += f" ({first['by']})"
    if len(mirrored) > 1:
        text += f" (+{len(mirrored) - 1} more)"
    return DesiredStatus(blocked_state, truncate(text), context, target_url)


def blocked(status: DesiredStatus) -> bool:
    return status.state != "success"


def exempt_label(labels: Sequence[str], exempt_labels: Sequence[str]) -> str | None:
    """The first configured exempt label that the pull request carries (label names compare case-insensitively)."""
    carried = {label.lower() for label in labels}
    return next((label for label in exempt_labels if label.lower() in carried), None)


def for_pull(
    base: DesiredStatus,
    labels: Sequence[str],
    exempt_labels: Sequence[str],
    environment: str,
    *,
    branch_frozen: bool = False,
) -> DesiredStatus:
    """The status of one pull request: the gate's, unless the gate is closed and an exempt label lets it through.

    With the branch frozen as well (merge_freeze = "both"), an exempt pull request still needs a
    bypass actor to merge, and its description says so.
    """
    if not blocked(base) or not exempt_labels:
        return base
    label = exempt_label(labels, exempt_labels)
    if label is None:
        return base
    text = f"Exempt from {environment} lock: label {label}"
    if branch_frozen:
        text += " (branch frozen: merging needs a bypass actor)"
    return DesiredStatus("success", truncate(text), base.context, base.target_url)
