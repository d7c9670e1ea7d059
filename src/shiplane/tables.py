"""Imports every table so that ``metadata`` is complete (Alembic, tests)."""

from shiplane.auth.models import api_tokens, users  # noqa: F401
from shiplane.catalog.models import environments, services  # noqa: F401
from shiplane.db import metadata  # noqa: F401
from shiplane.deploys.models import deploy_commits, deploys  # noqa: F401
from shiplane.dora.models import dora_days, dora_marks, dora_state  # noqa: F401
from shiplane.events.models import events  # noqa: F401
from shiplane.health.models import incidents, metric_samples  # noqa: F401
from shiplane.jobs.models import jobs  # noqa: F401
from shiplane.locks.models import gate_watch, locks  # noqa: F401
from shiplane.enforcement.models import (  # noqa: F401
    commit_statuses,
    merge_sync,
    pull_requests,
    pushed_commits,
    webhook_deliveries,
)
from shiplane.web.models import web_sessions  # noqa: F401
from shiplane.notify.models import notify_cursor  # noqa: F401
