"""Admission control: per-operation concurrency limits that refuse instead of queueing.

A request takes a slot or is refused at once with 503 and Retry-After; nothing waits in an unbounded
queue. The embedding backlog and the journal's shuttle backlog are bounded the same way (see
`MemoryService`), answering 429 when the model is the limit.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from jean_memory.errors import Overloaded
from jean_memory.telemetry.metrics import Metrics


class ConcurrencyLimit:
    def __init__(self, operation: str, limit: int, retry_after_s: int, metrics: Metrics) -> None:
        self.operation = operation
        self.limit = limit
        self.inflight = 0
        self._retry_after = retry_after_s
        self._gauge = metrics.admission_inflight.labels(operation)
        self._rejected = metrics.admission_rejected.labels(operation, "concurrency")

    @contextmanager
    def slot(self) -> Iterator[None]:
        if self.inflight >= self.limit:
            self._rejected.inc()
            raise Overloaded(
                f"too many concurrent {self.operation} requests (limit {self.limit})",
                retry_after_s=self._retry_after,
            )
        self.inflight += 1
        self._gauge.inc()
        try:
            yield
        finally:
            self.inflight -= 1
            self._gauge.dec()
