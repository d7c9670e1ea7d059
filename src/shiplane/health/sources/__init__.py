"""Metric sources, one module each, behind the Source protocol in base.py and the registry that picks them."""
