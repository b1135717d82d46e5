"""Child spans that cost nothing when their request is not sampled.

With a parent-based sampler, a child of an unsampled span is dropped anyway; the SDK still builds
it, asks the sampler and swaps the context (about 8 us a span here). Checking the parent first gives
the same traces for a fraction of the cost on the 90 % of requests that are not sampled.
"""

from __future__ import annotations

import contextlib
import random
from typing import Any

from opentelemetry import trace

_NOT_RECORDING = contextlib.nullcontext(trace.INVALID_SPAN)


def child_span(tracer: Any, name: str) -> Any:
    """`tracer.start_as_current_span(name)` if the current span is recorded, else a no-op context."""
    if trace.get_current_span().is_recording():
        return tracer.start_as_current_span(name)
    return _NOT_RECORDING


class RootSampler:
    """The root sampling decision taken before the SDK is asked, so an unsampled root costs ~1 us.

    New traces are sampled with probability `ratio` (as `TraceIdRatioBased` does, on a random draw
    instead of trace-id bits: this service is the root of the traces it starts); requests that carry
    a `traceparent` go through the SDK's sampler (`tracing.make_sampler`: the caller's decision is
    followed only with JM_TRACE_TRUST_PARENT).
    """

    def __init__(self, tracer: Any, ratio: float) -> None:
        self.tracer = tracer
        self.ratio = ratio

    def sampled(self) -> bool:
        return self.ratio >= 1.0 or (self.ratio > 0.0 and random.random() < self.ratio)

    def unsampled_span(self) -> trace.NonRecordingSpan:
        """A valid, unsampled span context: logs and callers still get a trace id."""
        ctx = trace.SpanContext(
            random.getrandbits(128) or 1,
            random.getrandbits(64) or 1,
            is_remote=False,
            trace_flags=trace.TraceFlags(trace.TraceFlags.DEFAULT),
        )
        return trace.NonRecordingSpan(ctx)

    def root_span(self, name: str) -> Any:
        """A background root span (`shuttle.batch`, `embedding.batch`), sampled at the ratio."""
        if self.sampled():
            return self.tracer.start_as_current_span(name)
        return _NOT_RECORDING
