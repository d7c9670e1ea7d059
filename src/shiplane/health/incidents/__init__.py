"""Incidents from on-call tools: one module per vendor webhook (PagerDuty, Opsgenie), recorded like ``POST /api/v1/incidents``."""
