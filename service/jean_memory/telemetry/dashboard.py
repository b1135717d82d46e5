"""`GET /metrics/dashboard`: the product plan's dashboard as one JSON snapshot.

Numbers come from the sliding window (the last `JM_DASHBOARD_WINDOW_S` seconds) and the process;
breach flags compare them with the thresholds generated from `alerts/thresholds.yaml`, the same
numbers the Prometheus alert rules use.
"""

from __future__ import annotations

from typing import Any

import psutil

from jean_memory.telemetry.metrics import HttpMetrics
from jean_memory.telemetry.thresholds import THRESHOLDS
from jean_memory.telemetry.window import SlidingWindow

_PROCESS = psutil.Process()
_PROCESS.cpu_percent(None)  # the first call only starts the measurement


def _breach(value: float | None, limit: float, above: bool) -> dict[str, Any]:
    breached = value is not None and (value > limit if above else value < limit)
    return {"breached": breached, "value": value, "threshold": limit}


def snapshot(
    window: SlidingWindow, metrics: HttpMetrics, cache_hit_rate: float | None, stm_bytes: int
) -> dict[str, Any]:
    creation = window.stats("creation")
    search = window.stats("search")
    requests, failed, covered = window.requests()
    ops = creation["count"] + search["count"]  # type: ignore[operator]
    error_rate = failed / requests if requests else 0.0
    rss = _PROCESS.memory_info().rss
    t, th = THRESHOLDS["targets"], THRESHOLDS["thresholds"]
    avg_response = None
    if ops:
        total_ms = (creation["avg_ms"] or 0) * creation["count"] + (search["avg_ms"] or 0) * search["count"]  # type: ignore[operator]
        avg_response = total_ms / ops / 1000
    return {
        "window_seconds": window.window_s,
        "performance": {
            "memory_creation_avg_ms": creation["avg_ms"],
            "memory_creation_p95_ms": creation["p95_ms"],
            "memory_creation_p99_ms": creation["p99_ms"],
            "search_avg_ms": search["avg_ms"],
            "search_p95_ms": search["p95_ms"],
            "search_p99_ms": search["p99_ms"],
            "cache_hit_rate": cache_hit_rate,
            "throughput_ops_per_sec": round(ops / covered, 3),
            "operations": ops,
        },
        "resources": {
            "memory_usage_mb": round(rss / 2**20, 1),
            "stm_memory_mb": round(stm_bytes / 2**20, 1),
            "cpu_usage_percent": _PROCESS.cpu_percent(None),
            "active_connections": int(metrics.active._value.get()),
        },
        "errors": {
            "error_rate_percent": round(error_rate * 100, 4),
            "failed_operations": failed,
            "failed_operations_total": window.failed_total,
            "requests": requests,
        },
        "alerts": {
            "high_latency": _breach(avg_response, th["avg_response_seconds"], above=True),
            "low_cache_hit_rate": _breach(cache_hit_rate, th["cache_hit_ratio_min"], above=False),
            "high_error_rate": _breach(error_rate if requests else None, th["error_ratio_max"], above=True),
            "creation_latency_target": _breach(
                creation["avg_ms"] / 1000 if creation["avg_ms"] is not None else None,
                t["creation_avg_seconds"],
                above=True,
            ),
            "hot_search_latency_target": _breach(
                search["p99_ms"] / 1000 if search["p99_ms"] is not None else None,
                t["hot_search_p99_seconds"],
                above=True,
            ),
            "stm_memory_near_budget": _breach(stm_bytes, t["stm_bytes"] * th["stm_budget_ratio"], above=True),
        },
    }
