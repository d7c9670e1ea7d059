"""Deploys: intake and registration, the status transition table, listing, rollback detection."""
