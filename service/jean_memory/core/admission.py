"""Admission control: refuse work the service cannot take, instead of queueing it without bound.

Two kinds of limit. A `ConcurrencyLimit` per operation class (reads, writes): a request takes a slot
or is refused at once with 503 and Retry-After. `BacklogAdmission` for writes: the embedding
model's backlog (429: the model is the limit, slow down) and the journal's backlog towards the
store of record (503: the store is the limit: the journal's unshipped rows in embedded mode, the
writes waiting for a group commit in cluster mode) are bounded, and room is reserved for admitted writes
until they are queued, so concurrent writes cannot overshoot either bound.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from jean_memory.config import Settings
from jean_memory.embedding.worker import EmbeddingWorker
from jean_memory.errors import Overloaded
from jean_memory.telemetry.metrics import AdmissionMetrics


class ConcurrencyLimit:
    def __init__(self, operation: str, limit: int, retry_after_s: int, metrics: AdmissionMetrics) -> None:
        self.operation = operation
        self.limit = limit
        self.inflight = 0
        self._retry_after = retry_after_s
        self._gauge = metrics.inflight.labels(operation)
        self._rejected = metrics.rejected.labels(operation, "concurrency")

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


class BacklogAdmission:
    """Bounds the embedding and shipping backlogs that writes feed."""

    def __init__(
        self,
        settings: Settings,
        worker: EmbeddingWorker,
        store_backlog: Callable[[], int],
        max_store_backlog: int,
        metrics: AdmissionMetrics,
    ) -> None:
        self._max_embedding = settings.embed_max_backlog
        self._max_pending = max_store_backlog
        self._retry_after = settings.retry_after_s
        self._worker = worker
        self._store_backlog = store_backlog
        self._embedding_rejected = metrics.rejected.labels("write", "embedding_backlog")
        self._shuttle_rejected = metrics.rejected.labels("write", "shuttle_backlog")
        self._reserved = 0  # writes admitted but not yet queued for embedding

    @contextmanager
    def admit(self, n: int) -> Iterator[None]:
        """Refuse `n` writes the backlogs cannot take; reserve room for them until they are queued.

        Without the reservation, concurrent adds that all passed the check before any of them had
        queued its embedding overshot the bound by up to the number of adds in flight.
        """
        backlog = self._worker.backlog
        if backlog + self._reserved + n > self._max_embedding:
            self._embedding_rejected.inc()
            raise Overloaded(
                f"embedding backlog full ({backlog} memories waiting for the model)",
                retry_after_s=self._retry_after,
                status=429,
            )
        pending = self._store_backlog()
        if pending + self._reserved + n > self._max_pending:
            self._shuttle_rejected.inc()
            raise Overloaded(
                f"long-term store backlog full ({pending} writes not yet stored)", retry_after_s=self._retry_after
            )
        self._reserved += n
        try:
            yield
        finally:
            self._reserved -= n
