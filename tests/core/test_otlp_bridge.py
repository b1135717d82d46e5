"""The OTLP metrics bridge collects the registry on the event loop: exporting from its own thread while
requests churn the short-term tier never fails (it once did: a gauge iterated the tier's users while
the loop changed them, and the failed export fired the telemetry-pipeline alert under healthy load)."""

from __future__ import annotations

import sys
import threading
from pathlib import Path
from typing import Any

from opentelemetry.sdk.metrics.export import MetricExporter, MetricExportResult, MetricsData
from starlette.testclient import TestClient

from jean_memory.app import create_app
from jean_memory.telemetry.core import Telemetry
from tests.core.conftest import settings_for


class CountingExporter(MetricExporter):
    def __init__(self) -> None:
        super().__init__()
        self.exports = 0
        self.threads: set[str] = set()

    def export(self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any) -> MetricExportResult:
        self.exports += 1
        self.threads.add(threading.current_thread().name)
        return MetricExportResult.SUCCESS

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        return True

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        pass


def test_exports_never_fail_while_users_churn(tmp_path: Path) -> None:
    settings = settings_for(tmp_path / "data", stm_budget_bytes=1 << 20, metric_export_interval_ms=100)
    exporter = CountingExporter()
    app = create_app(settings, telemetry=Telemetry(settings, metric_exporter=exporter))
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads often, so a collection off the loop would overlap a change
    try:
        with TestClient(app) as c:
            for round_ in range(4):
                for user in range(300):  # many small users over a 1 MB budget: spaces are made and evicted
                    items = [{"content": f"user {user} round {round_} " + "x" * 300}]
                    r = c.post("/v1/memories/batch", json={"user_id": f"u{user}", "items": items})
                    assert r.status_code == 201
            text = c.get("/metrics").text
    finally:
        sys.setswitchinterval(interval)
    assert exporter.exports >= 3 and "otlp-metrics" in exporter.threads
    assert 'jm_telemetry_exports_total{result="failure",signal="metrics"} 0.0' in text
    assert "jm_stm_evictions_total 0.0" not in text
