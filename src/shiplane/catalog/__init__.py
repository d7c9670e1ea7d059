"""Services and environments: lookup by slug, auto-creation and sync from the config file."""
