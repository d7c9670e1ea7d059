"""Compatibility with other tools' clients: the Sleuth-compatible intake and GraphQL subset."""
