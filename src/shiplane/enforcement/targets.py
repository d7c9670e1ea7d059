"""Which services' merge buttons a gate reaches, and how (from the configuration); the one upsert helper."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Connection

from shiplane.db import conflict_insert
from shiplane.enforcement import statuses
from shiplane.enforcement.forges.registry import FORGES
from shiplane.settings import Config
from shiplane.settings.lookups import merge_gate_environment


@dataclass(frozen=True)
class Target:
    """A service whose open pull requests mirror the gate of its merge-gate environment."""

    service: str
    forge: str
    repo: str
    branch: str
    context: str
    environment: str
    blocked_state: str
    target_url: str
    merge_freeze: str = "statuses"  # statuses | branch | both
    exempt_labels: tuple[str, ...] = ()
    forge_title: str = ""  # as people write it: GitHub, GitLab, Bitbucket

    @property
    def environment_title(self) -> str:
        return statuses.environment_title(self.environment)

    @property
    def freezes(self) -> bool:
        """Does a closed gate freeze the branch itself (one forge write)?"""
        return self.merge_freeze in ("branch", "both")

    @property
    def freeze_name(self) -> str:
        """The GitHub ruleset's name; Shiplane recognises its own by this name and the stored id."""
        return f"shiplane: {self.service} merge freeze"

    def desired(self, blockers: Sequence[dict[str, Any]]) -> statuses.DesiredStatus:
        return statuses.desired(
            blockers=blockers,
            environment=self.environment_title,
            context=self.context,
            target_url=self.target_url,
            blocked_state=self.blocked_state,
        )

    def for_pull(self, base: statuses.DesiredStatus, labels: Sequence[str], mode: str) -> statuses.DesiredStatus:
        """One pull request's status under the effective mode (branch mode has no per-pull-request exemption)."""
        return statuses.for_pull(
            base,
            labels,
            self.exempt_labels if mode != "branch" else (),
            self.environment_title,
            branch_frozen=mode == "both",
        )


def targets(config: Config) -> list[Target]:
    out = []
    base_url = (config.server.public_url or "http://127.0.0.1:8700").rstrip("/")
    for svc in config.services:
        if not svc.repo:
            continue
        forge, _, repo = svc.repo.partition(":")
        forge_config = getattr(config.forges, forge)
        if forge_config is None:
            continue
        out.append(
            Target(
                service=svc.slug,
                forge=forge,
                repo=repo,
                branch=svc.branch,
                context=svc.status_context,
                environment=merge_gate_environment(config, svc.merge_gate),
                blocked_state=forge_config.blocked_state,
                target_url=f"{base_url}/",
                merge_freeze=svc.merge_freeze,
                exempt_labels=tuple(svc.exempt_labels),
                forge_title=getattr(FORGES[forge].client, "title", forge),
            )
        )
    return out


@functools.lru_cache(maxsize=64)
def _upsert_statement(dialect: str, table: Any, keys: tuple[str, ...], update_cols: tuple[str, ...]) -> Any:
    # Built once and executed with parameters: constructing an ON CONFLICT
    # statement costs about a millisecond, more than running it.
    ins = conflict_insert(dialect, table)
    return ins.on_conflict_do_update(index_elements=list(keys), set_={c: ins.excluded[c] for c in update_cols})


def upsert(conn: Connection, table: Any, values: Any, keys: list[str], update_cols: list[str]) -> None:
    """Insert or update one row (a dict) or many (a list of dicts with the same keys)."""
    if not values:
        return
    conn.execute(_upsert_statement(conn.dialect.name, table, tuple(keys), tuple(update_cols)), values)
