"""/metrics/dashboard agrees with the requests made."""

from __future__ import annotations

import httpx

from jean_memory.telemetry.thresholds import THRESHOLDS
from tests.conftest import StartService


def test_dashboard_counts_what_was_done(start_service: StartService) -> None:
    svc = start_service()
    with httpx.Client(base_url=svc.url, timeout=30) as c:
        empty = c.get("/metrics/dashboard").json()
        assert empty["performance"]["operations"] == 0
        assert empty["performance"]["cache_hit_rate"] is None
        # Before it, only the start-up's readiness probes: a 503 for each that came while the warm-up task
        # ran (a failed request, as Prometheus' error ratio counts it), then the 200 the fixture waited for.
        start = empty["errors"]
        assert start["requests"] >= 1 and start["failed_operations"] == start["requests"] - 1
        for i in range(20):
            assert c.post("/v1/memories", json={"user_id": "d", "content": f"note {i}"}).status_code == 201
        c.post("/v1/memories/batch", json={"user_id": "d", "items": [{"content": "x"}, {"content": "y"}]})
        for _ in range(4):  # the same query: first misses both caches, the repeats hit L1
            c.post("/v1/search", json={"user_id": "d", "query": "note 3"})
        c.post("/v1/memories", json={"user_id": "d", "content": ""})  # a 4xx is not a failed operation
        d = c.get("/metrics/dashboard").json()
    perf = d["performance"]
    assert perf["operations"] == 25
    assert perf["memory_creation_avg_ms"] > 0 and perf["memory_creation_p99_ms"] >= perf["memory_creation_p95_ms"]
    assert perf["search_avg_ms"] > 0
    assert perf["cache_hit_rate"] == 0.75
    assert perf["throughput_ops_per_sec"] > 0
    # requests since: the first dashboard, 20 + 1 adds, 4 searches, 1 bad add; none of them failed
    requests = start["requests"] + 27
    assert d["errors"] == {
        "error_rate_percent": round(100 * start["failed_operations"] / requests, 4),
        "failed_operations": start["failed_operations"],
        "failed_operations_total": start["failed_operations"],
        "requests": requests,
    }
    assert d["resources"]["memory_usage_mb"] > 10
    alerts = d["alerts"]
    assert alerts["high_error_rate"]["breached"] is False
    assert alerts["low_cache_hit_rate"] == {
        "breached": True,
        "value": 0.75,
        "threshold": THRESHOLDS["thresholds"]["cache_hit_ratio_min"],
    }
    assert alerts["stm_memory_near_budget"]["threshold"] == THRESHOLDS["targets"]["stm_bytes"] * 0.9
