"""Embedded mode: one process over a SQLite journal and long-term store (the default)."""
