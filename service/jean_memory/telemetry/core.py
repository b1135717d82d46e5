"""The Telemetry object: every signal's machinery, built once from Settings, injectable in tests.

Tests pass their own `Metrics` (a fresh registry), a span processor with the SDK's in-memory
exporter, or a metric exporter; the app builds the real ones. With `JM_TELEMETRY=off` the tracer is a no-op
and no middleware runs.
"""

from __future__ import annotations

from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.metrics.export import MetricExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider

from jean_memory import __version__
from jean_memory.config import Settings, TelemetryMode
from jean_memory.telemetry.logs import PerfLog
from jean_memory.telemetry.metrics import Metrics
from jean_memory.telemetry.otlp_logs import OtlpLogs, Scrubber
from jean_memory.telemetry.otlp_metrics import OtlpMetricsBridge
from jean_memory.telemetry.spans import RootSampler
from jean_memory.telemetry.tracing import CountingSpanExporter, make_provider
from jean_memory.telemetry.window import SlidingWindow


def current_exemplar() -> dict[str, str] | None:
    """The current span's ids, if it is sampled: the exemplar attached to a latency observation."""
    ctx = trace.get_current_span().get_span_context()
    if not (ctx.is_valid and ctx.trace_flags.sampled):
        return None
    return {"trace_id": format(ctx.trace_id, "032x"), "span_id": format(ctx.span_id, "016x")}


class Telemetry:
    def __init__(
        self,
        settings: Settings,
        metrics: Metrics | None = None,
        span_processor: SpanProcessor | None = None,
        metric_exporter: MetricExporter | None = None,
    ) -> None:
        self.settings = settings
        self.mode = settings.telemetry
        self.metrics = metrics or Metrics(mode="cluster" if settings.cluster else "embedded")
        self.window = SlidingWindow(settings.dashboard_window_s)
        self.perf = PerfLog(settings.slow_op_ms, settings.pseudonym_key.get_secret_value())
        self.resource = Resource.create({"service.name": settings.otel_service_name, "service.version": __version__})
        self.provider: TracerProvider | None = None
        self.span_exporter: CountingSpanExporter | None = None
        if self.mode is not TelemetryMode.OFF:
            inner = self._span_exporter()
            self.span_exporter = CountingSpanExporter(inner, self.metrics.pipeline) if inner is not None else None
            self.provider = make_provider(
                self.resource,
                settings.trace_sample_ratio,
                self.span_exporter,
                self.metrics.pipeline,
                trust_parent=settings.trace_trust_parent,
            )
            if span_processor is not None:  # tests: the SDK's in-memory exporter
                self.provider.add_span_processor(span_processor)
        self.tracer: Any = self.provider.get_tracer("jean_memory", __version__) if self.provider else trace.NoOpTracer()
        self.roots = RootSampler(self.tracer, settings.trace_sample_ratio if self.provider else 0.0)
        self.bridge: OtlpMetricsBridge | None = None
        metrics_exporter = metric_exporter or self._metric_exporter()
        if metrics_exporter is not None and self.mode is not TelemetryMode.OFF:
            interval = settings.metric_export_interval_ms / 1000
            self.bridge = OtlpMetricsBridge(self.metrics, metrics_exporter, self.resource, interval)
        self.logs: OtlpLogs | None = None
        if settings.logs_endpoint and self.mode is not TelemetryMode.OFF:
            from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter

            exporter = OTLPLogExporter(endpoint=settings.logs_endpoint, timeout=5)
            self.logs = OtlpLogs(self.resource, exporter, self.metrics.pipeline, Scrubber(settings.log_secrets))

    def _span_exporter(self) -> Any:
        if not self.settings.traces_endpoint:
            return None
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        return OTLPSpanExporter(endpoint=self.settings.traces_endpoint, timeout=5)

    def _metric_exporter(self) -> MetricExporter | None:
        if not self.settings.metrics_endpoint:
            return None
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter

        return OTLPMetricExporter(endpoint=self.settings.metrics_endpoint, timeout=5)

    def block_exports(self, blocked: bool) -> None:
        """The fire drill's `collector_unreachable` fault: every OTLP export fails while set."""
        if self.span_exporter is not None:
            self.span_exporter.blocked = blocked
        if self.bridge is not None:
            self.bridge.blocked = blocked
        if self.logs is not None:
            self.logs.exporter.blocked = blocked

    def start(self) -> None:
        if self.bridge:
            self.bridge.start()
        if self.logs:
            self.logs.install()

    def shutdown(self) -> None:
        if self.bridge:
            self.bridge.shutdown()
        if self.logs:
            self.logs.shutdown()
        if self.provider:
            self.provider.shutdown()
