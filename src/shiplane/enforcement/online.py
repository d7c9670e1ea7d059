"""``shiplane config check --online``: can Shiplane do its merge blocking, as configured?

For every service with a repo it asks the forge what merge blocking needs, with reads only: the
open pull requests (statuses), and for ``merge_freeze = "branch" | "both"`` the freeze as the
forge has it (GitLab and Bitbucket refuse those reads without the rights a freeze needs; a GitHub
App's installation says whether it has Administration). Then it reports the freezes that failed for
good, as recorded in the database (the 403 of a token without Administration shows there, since
only a write tells). Each problem is ``key: reason``.
"""

from __future__ import annotations

import os
from datetime import datetime
from typing import Any

import httpx
from sqlalchemy import inspect, select

from shiplane import http
from shiplane.clock import iso
from shiplane.db import Database
from shiplane.enforcement import targets as targets_mod
from shiplane.enforcement.forges.base import FreezeSpec
from shiplane.enforcement.forges.registry import FORGES
from shiplane.settings import Settings
from shiplane.tables.enforcement import branch_freezes


async def problems(settings: Settings, *, transport: httpx.AsyncBaseTransport | None = None) -> list[str]:
    config = settings.config
    index = {svc.slug: i for i, svc in enumerate(config.services)}
    found: list[str] = []
    async with http.make_client(transport=transport) as client:
        forges: dict[str, Any] = {}
        for name, kind in FORGES.items():
            cfg = getattr(config.forges, name)
            if cfg is not None:
                forges[name] = kind.client(cfg, client)
        for svc in config.services:
            forge_name = svc.repo.partition(":")[0]
            if svc.repo and forge_name not in forges:
                found.append(f"services[{index[svc.slug]}].repo: [forges.{forge_name}] is not configured, so nothing reaches its merge button")
        for target in targets_mod.targets(config):
            key = f"services[{index[target.service]}]"
            forge = forges[target.forge]
            try:
                if target.freezes:
                    await forge.observe_freeze(target.repo, target.branch, FreezeSpec(target.freeze_name))
                    check = getattr(forge, "freeze_permission_problem", None)
                    if check is not None and (problem := await check()):
                        found.append(f"{key}.merge_freeze: {problem}")
                else:
                    await forge.open_pull_requests(target.repo, target.branch)
            except (http.PermanentError, http.TransientError) as exc:
                field = "merge_freeze" if target.freezes else "repo"
                found.append(f"{key}.{field}: {exc}")
    found += recorded(settings, index)
    return found


def recorded(settings: Settings, index: dict[str, int]) -> list[str]:
    """Freezes that failed for good, as the worker recorded them (when there is a database to read)."""
    url = settings.database_url
    if url.startswith("sqlite") and not os.path.exists(url.split("///", 1)[-1].split("?", 1)[0]):
        return []  # no database yet: nothing recorded, and reading must not create one
    db = Database(url, pool_size=1)
    try:
        with db.read() as conn:
            if not inspect(conn).has_table("branch_freezes"):
                return []
            rows = conn.execute(select(branch_freezes).where(branch_freezes.c.failed.is_(True))).all()
    except Exception as exc:  # noqa: BLE001 - an unreachable database is one more thing to report
        return [f"database: cannot read recorded freeze errors: {type(exc).__name__}: {str(exc)[:200]}"]
    finally:
        db.engine.dispose()
    return [
        f"services[{index[r.service]}].merge_freeze: the branch freeze has failed since {_when(r.last_error_at)}, "
        f"statuses take over: {r.last_error}"
        for r in rows
        if r.service in index
    ]


def _when(value: datetime | None) -> str:
    return iso(value) or "an unknown time"
