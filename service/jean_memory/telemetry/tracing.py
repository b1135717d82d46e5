"""Tracing with the OpenTelemetry SDK: a provider, a sampler, an exporter only when asked for.

Export is configured by the standard variables (`OTEL_EXPORTER_OTLP_ENDPOINT`,
`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, `OTEL_EXPORTER_OTLP_HEADERS`, `OTEL_SERVICE_NAME`, ...); with no
endpoint set, spans are made (their trace ids feed the exemplars and the logs) but never exported.
The batch processor's queue is bounded, so with the collector down, spans are dropped and counted,
requests never wait, and memory stays flat.
"""

from __future__ import annotations

from collections.abc import Sequence

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased

from jean_memory.telemetry.metrics import PipelineMetrics

SPAN_QUEUE = 2048


class CountingSpanExporter(SpanExporter):
    """Counts export results and dropped spans, so a broken pipeline shows on /metrics."""

    def __init__(self, inner: SpanExporter, metrics: PipelineMetrics) -> None:
        self._inner = inner
        self._ok = metrics.exports.labels("traces", "success")
        self._failed = metrics.exports.labels("traces", "failure")
        self._dropped = metrics.dropped_spans
        self.blocked = False  # the fire drill's collector_unreachable fault

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        try:
            result = SpanExportResult.FAILURE if self.blocked else self._inner.export(spans)
        except Exception:
            result = SpanExportResult.FAILURE
        if result is SpanExportResult.SUCCESS:
            self._ok.inc()
        else:
            self._failed.inc()
            self._dropped.inc(len(spans))
        return result

    def shutdown(self) -> None:
        self._inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self._inner.force_flush(timeout_millis)


class BoundedBatchSpanProcessor(BatchSpanProcessor):
    """A BatchSpanProcessor that counts the spans it drops when its queue is full."""

    def __init__(self, exporter: SpanExporter, metrics: PipelineMetrics) -> None:
        super().__init__(
            exporter,
            max_queue_size=SPAN_QUEUE,
            schedule_delay_millis=1000,
            max_export_batch_size=512,
            export_timeout_millis=5000,
        )
        self._dropped = metrics.dropped_spans

    def on_end(self, span: ReadableSpan) -> None:
        queue = getattr(getattr(self, "_batch_processor", None), "_queue", None)  # the SDK's bounded deque
        if queue is not None and len(queue) >= SPAN_QUEUE and span.context and span.context.trace_flags.sampled:
            self._dropped.inc()
        super().on_end(span)


def make_provider(
    resource: Resource, sample_ratio: float, exporter: SpanExporter | None, metrics: PipelineMetrics
) -> TracerProvider:
    provider = TracerProvider(resource=resource, sampler=ParentBased(TraceIdRatioBased(sample_ratio)))
    if exporter is not None:
        provider.add_span_processor(BoundedBatchSpanProcessor(exporter, metrics))
    return provider
