"""Where deploy intake asks the gate. Filled in by the locks package."""

from __future__ import annotations

from shiplane.context import AppContext
from shiplane.deploys.service import BlockerCheck


def blocker_check_for(ctx: AppContext) -> BlockerCheck | None:
    return None
