"""Structured JSON logs, one line per event, carrying the current trace and span ids.

The performance log line of the product plan (operation, duration_ms, size in bytes, cache hit) is
written for operations slower than `JM_SLOW_OP_MS`; the user id in it is pseudonymised with a keyed
hash (`JM_PSEUDONYM_KEY`; a random key per process when unset), never logged raw.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import sys
import time
from typing import Any

import orjson
from opentelemetry import trace

_RESERVED = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {
            "ts": round(record.created, 6),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        ctx = trace.get_current_span().get_span_context()
        if ctx.is_valid:
            doc["trace_id"] = format(ctx.trace_id, "032x")
            doc["span_id"] = format(ctx.span_id, "016x")
        for key, value in record.__dict__.items():
            if key not in _RESERVED and not key.startswith("_"):
                doc[key] = value
        if record.exc_info:
            doc["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(doc, default=str).decode()


def configure_logging(level: str, fmt: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        JsonFormatter() if fmt == "json" else logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # A full span queue during a collector outage would log one warning per span; drops are counted
    # in telemetry_dropped_spans_total instead.
    logging.getLogger("opentelemetry.sdk._shared_internal").setLevel(logging.ERROR)
    logging.getLogger("httpx").setLevel(logging.WARNING)


class PerfLog:
    """Writes the performance line for slow operations."""

    def __init__(self, slow_ms: float, key: str) -> None:
        self.slow_s = slow_ms / 1000.0
        self._key = key.encode() if key else os.urandom(32)
        self._log = logging.getLogger("jean_memory.perf")

    def pseudonym(self, user_id: str) -> str:
        return hmac.new(self._key, user_id.encode(), hashlib.sha256).hexdigest()[:16]

    def maybe_log(self, operation: str, started: float, user_id: str, size_bytes: int, cache_hit: bool) -> None:
        duration = time.perf_counter() - started
        if duration < self.slow_s:
            return
        self._log.warning(
            "slow operation",
            extra={
                "metric_type": operation,
                "duration_ms": round(duration * 1000, 3),
                "user": self.pseudonym(user_id),
                "memory_size_bytes": size_bytes,
                "cache_hit": cache_hit,
            },
        )
