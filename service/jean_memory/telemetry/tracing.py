"""Tracing with the OpenTelemetry SDK: a provider, a sampler, an exporter only when asked for.

Export is configured by the standard variables (`OTEL_EXPORTER_OTLP_ENDPOINT`,
`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, `OTEL_EXPORTER_OTLP_HEADERS`, `OTEL_SERVICE_NAME`, ...); with no
endpoint set, spans are made (their trace ids feed the exemplars and the logs) but never exported.
The batch processor's queue is bounded, so with the collector down, spans are dropped and counted,
requests never wait, and memory stays flat.

A client's `traceparent` is continued (its trace id, its span as the parent) but its sampled flag is not
obeyed unless `JM_TRACE_TRUST_PARENT` says the callers are trusted: any client could otherwise set `-01`
and have every request traced and exported. An untrusted remote parent gets the ratio of a new trace, drawn
here (`LocalRatio`), not read from the trace id's bits as `TraceIdRatioBased` does, since the client chose
those bits too.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.sampling import (
    Decision,
    ParentBased,
    Sampler,
    SamplingResult,
    TraceIdRatioBased,
)
from opentelemetry.trace import Link, SpanKind, TraceState
from opentelemetry.util.types import Attributes

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


class LocalRatio(Sampler):
    """Samples `ratio` of the spans it is asked about on a draw of its own: what a caller sent (its sampled
    flag, its trace id) has no say. Used for remote parents the service does not trust."""

    def __init__(self, ratio: float) -> None:
        self._ratio = ratio

    def should_sample(
        self,
        parent_context: Context | None,
        trace_id: int,
        name: str,
        kind: SpanKind | None = None,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
        trace_state: TraceState | None = None,
    ) -> SamplingResult:
        sampled = self._ratio >= 1.0 or (self._ratio > 0.0 and random.random() < self._ratio)
        parent = trace.get_current_span(parent_context).get_span_context()
        state = parent.trace_state if parent.is_valid else None
        if sampled:
            return SamplingResult(Decision.RECORD_AND_SAMPLE, attributes, state)
        return SamplingResult(Decision.DROP, None, state)

    def get_description(self) -> str:
        return f"LocalRatio{{{self._ratio}}}"


def make_sampler(ratio: float, trust_parent: bool) -> Sampler:
    """New traces at `ratio`; a local parent's decision followed; a remote parent's followed only when
    `trust_parent`, otherwise decided here at `ratio` as for a new trace."""
    if trust_parent:
        return ParentBased(TraceIdRatioBased(ratio))
    untrusted = LocalRatio(ratio)
    return ParentBased(TraceIdRatioBased(ratio), remote_parent_sampled=untrusted, remote_parent_not_sampled=untrusted)


def make_provider(
    resource: Resource,
    sample_ratio: float,
    exporter: SpanExporter | None,
    metrics: PipelineMetrics,
    trust_parent: bool = False,
) -> TracerProvider:
    provider = TracerProvider(resource=resource, sampler=make_sampler(sample_ratio, trust_parent))
    if exporter is not None:
        provider.add_span_processor(BoundedBatchSpanProcessor(exporter, metrics))
    return provider
