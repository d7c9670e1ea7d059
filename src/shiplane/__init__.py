"""Shiplane: self-hosted deployment mission control."""

__version__ = "0.1.0"
