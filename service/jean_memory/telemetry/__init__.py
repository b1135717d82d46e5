"""Metrics, traces and logs: defined once here, injectable in tests."""
