"""Slack slash commands and interactive actions (``/hooks/slack/*``), verified with the signing secret."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["webhooks"])
