"""The audit log: every state change records an event in its own transaction; notifications read them."""
