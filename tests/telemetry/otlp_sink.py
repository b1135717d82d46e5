"""A loopback OTLP/HTTP receiver for tests, and Prometheus's OTLP name translation, ported.

Debian's Prometheus 2.53 ships with its OTLP endpoint patched out (changelog: "Disable OTLP Ingestion
endpoint ... until golang-opentelemetry-collector is in Debian"), and no collector binary installs
here. So the OTLP path is checked by receiving exactly what the service sends and translating names
with the rules of prometheus/storage/remote/otlptranslator/prometheus/normalize_name.go
(`normalizeName`, used when suffixes are added, the default): split the name on non-alphanumerics,
append the unit's Prometheus word unless it is already a token, append `total` for monotonic sums,
`ratio` for gauges of unit "1".
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.metrics.v1 import metrics_pb2

_UNITS = {
    "s": "seconds",
    "ms": "milliseconds",
    "By": "bytes",
    "KiBy": "kibibytes",
    "MiBy": "mebibytes",
    "1": "",
    "%": "percent",
}


def prometheus_name(metric: metrics_pb2.Metric) -> str:
    tokens = [t for t in "".join(c if c.isalnum() else " " for c in metric.name).split()]
    unit = metric.unit.split("/", 1)[0].strip()
    if unit and "{" not in unit and "}" not in unit:
        word = _UNITS.get(unit, unit)
        if word and word not in tokens:
            tokens.append(word)
    kind = metric.WhichOneof("data")
    if kind == "sum" and metric.sum.is_monotonic:
        tokens = [t for t in tokens if t != "total"] + ["total"]
    if metric.unit == "1" and kind == "gauge":
        tokens = [t for t in tokens if t != "ratio"] + ["ratio"]
    return "_".join(tokens)


def series_names(metric: metrics_pb2.Metric) -> set[str]:
    """The series names Prometheus stores for one OTLP metric."""
    name = prometheus_name(metric)
    if metric.WhichOneof("data") == "histogram":
        return {f"{name}_bucket", f"{name}_count", f"{name}_sum"}
    return {name}


class OtlpSink:
    """Accepts OTLP/HTTP protobuf on /v1/metrics, /v1/traces and /v1/logs and keeps the decoded requests."""

    def __init__(self) -> None:
        self.metrics: list[ExportMetricsServiceRequest] = []
        self.traces: list[ExportTraceServiceRequest] = []
        self.logs: list[ExportLogsServiceRequest] = []
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                if self.path.endswith("/v1/metrics"):
                    sink.metrics.append(ExportMetricsServiceRequest.FromString(body))
                elif self.path.endswith("/v1/traces"):
                    sink.traces.append(ExportTraceServiceRequest.FromString(body))
                elif self.path.endswith("/v1/logs"):
                    sink.logs.append(ExportLogsServiceRequest.FromString(body))
                self.send_response(200)
                self.send_header("content-type", "application/x-protobuf")
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
