"""OTLP export: a dead endpoint changes nothing for clients; both paths give Prometheus the same series.

The second test checks the OTLP path against Prometheus's translation rules on the exact payload the
service sends (see otlp_sink.py for why no Prometheus receives it here)."""

from __future__ import annotations

import time

import httpx
import pytest
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_openmetrics

from jean_memory_dev.processes import free_port
from tests.conftest import StartService
from tests.helpers import metric, wait_until
from tests.telemetry.otlp_sink import OtlpSink, series_names

OPENMETRICS = "application/openmetrics-text; version=1.0.0"


def traffic(url: str, n: int) -> None:
    with httpx.Client(base_url=url, timeout=10) as c:
        for i in range(n):
            assert c.post("/v1/memories", json={"user_id": f"u{i % 7}", "content": f"memo {i}"}).status_code == 201
            assert c.post("/v1/search", json={"user_id": f"u{i % 7}", "query": f"memo {i}"}).status_code == 200


@pytest.mark.slow
def test_dead_collector_changes_nothing_for_clients(start_service: StartService) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    svc = start_service(
        {"OTEL_EXPORTER_OTLP_ENDPOINT": dead, "JM_TRACE_SAMPLE_RATIO": "1.0", "OTEL_METRIC_EXPORT_INTERVAL": "200"}
    )
    start = time.monotonic()
    traffic(svc.url, 300)
    elapsed = time.monotonic() - start
    wait_until(
        lambda: metric(svc.url, "jm_telemetry_exports_total", signal="traces", result="failure") > 0,
        30,
        "a failed span export to be counted",
    )
    wait_until(
        lambda: metric(svc.url, "jm_telemetry_exports_total", signal="metrics", result="failure") > 0,
        30,
        "a failed metric export to be counted",
    )
    assert metric(svc.url, "jm_telemetry_exports_total", result="success") == 0
    assert httpx.get(f"{svc.url}/readyz").status_code == 200
    assert elapsed < 60, "600 requests must not wait on exports"


@pytest.mark.slow
def test_otlp_and_scrape_yield_the_same_series_and_exemplars(start_service: StartService) -> None:
    sink = OtlpSink()
    try:
        svc = start_service(
            {
                "OTEL_EXPORTER_OTLP_ENDPOINT": sink.url,
                "OTEL_SERVICE_NAME": "jean-memory",
                "OTEL_METRIC_EXPORT_INTERVAL": "300",
                "JM_TRACE_SAMPLE_RATIO": "1.0",
            }
        )
        traffic(svc.url, 50)
        time.sleep(0.5)  # one more export after the traffic
        scraped_text = httpx.get(f"{svc.url}/metrics", headers={"Accept": OPENMETRICS}).text
        wait_until(lambda: len(sink.metrics) >= 2 and sink.traces, 30, "OTLP exports to arrive")
        request = sink.metrics[-1]
        (resource_metrics,) = request.resource_metrics
        attrs = {a.key: a.value.string_value for a in resource_metrics.resource.attributes}
        assert attrs["service.name"] == "jean-memory", "the Prometheus job label over OTLP"
        otlp = {m.name: m for sm in resource_metrics.scope_metrics for m in sm.metrics}
        otlp_series = set().union(*(series_names(m) for m in otlp.values()))
        scraped_series = {s.name for f in parse_openmetrics(scraped_text) for s in f.samples}
        assert otlp_series == scraped_series
        hist = otlp["http_server_request_duration_seconds"].histogram
        assert hist.aggregation_temporality == 2  # cumulative, as a scrape
        exemplars = [e for p in hist.data_points for e in p.exemplars]
        assert exemplars and all(len(e.trace_id) == 16 and len(e.span_id) == 8 for e in exemplars)
        search = next(
            p
            for p in hist.data_points
            if {a.key: a.value.string_value for a in p.attributes}.get("http_route") == "/v1/search"
        )
        assert search.count == 50
        assert sum(search.bucket_counts) == search.count
        spans = [s for r in sink.traces for rs in r.resource_spans for ss in rs.scope_spans for s in ss.spans]
        assert any(s.name == "POST /v1/search" for s in spans)
    finally:
        sink.close()
