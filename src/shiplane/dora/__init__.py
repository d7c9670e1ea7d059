"""DORA metrics: the pure maths, exact daily roll-ups kept by triggers, reports and their routes."""
