"""Locks and the gate: manual locks, the pure gate and calendar, scope watching and the scheduler."""
