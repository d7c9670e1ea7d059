"""Notifications: the outbox relay from events to Slack and webhook jobs, messages, and Slack slash commands."""
