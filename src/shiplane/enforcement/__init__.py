"""Enforcement at the merge button: desired statuses (pure), forge integrations, sync jobs and forge webhooks."""
