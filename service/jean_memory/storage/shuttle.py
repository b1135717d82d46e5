"""The memory shuttle: journal -> long-term store in batches (the way back, store -> short-term tier on a
user's first access, is `embedded/tiers.py`).

Shipping: read the journal in sequence order, take the prefix that is ready (deletes, memories with
their vector, or memories that waited `shuttle_embed_wait_s` for one), write it to the store in one
call, then delete it from the journal. While the store fails, retry the same batch with exponential
backoff and jitter (tenacity), forever: the journal on disk is the queue and nothing is dropped.
Writes the store refuses for good are retried one by one and parked in the dead-letter table.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence
from typing import Any

from opentelemetry import trace
from prometheus_client import Counter
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_never, wait_exponential_jitter

from jean_memory.config import Settings
from jean_memory.errors import LtmError
from jean_memory.memory import WriteOp
from jean_memory.storage.journal import Journal
from jean_memory.storage.ltm.base import LongTermStore
from jean_memory.storage.storehealth import StoreHealth
from jean_memory.telemetry.metrics import LtmMetrics, ShuttleMetrics
from jean_memory.telemetry.spans import RootSampler, child_span

log = logging.getLogger(__name__)


def _retryable(exc: BaseException) -> bool:
    return isinstance(exc, LtmError) and exc.retryable


class MemoryShuttle:
    def __init__(
        self,
        settings: Settings,
        journal: Journal,
        store: LongTermStore,
        health: StoreHealth,
        metrics: ShuttleMetrics,
        ltm_metrics: LtmMetrics,
        errors: Counter,
        roots: Any = None,
    ) -> None:
        self._s = settings
        self._journal = journal
        self._store = store
        self._health = health
        self._m = metrics
        self._errors = errors
        self._roots = roots or RootSampler(trace.NoOpTracer(), 0.0)
        self._tracer = self._roots.tracer
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._write_hist = ltm_metrics.write_duration.labels(store.kind)
        self.shipped = 0
        self.oldest_pending_at: float | None = None
        self._draining = False
        metrics.pending.set_function(lambda: self._journal.pending)
        metrics.oldest_age.set_function(self._oldest_pending_age)
        self._drained = asyncio.Event()
        # Exponential backoff with jitter, forever, for retryable failures only.
        self._retrying = AsyncRetrying(
            retry=retry_if_exception(_retryable),
            wait=wait_exponential_jitter(
                multiplier=settings.shuttle_backoff_initial_s,
                max=settings.shuttle_backoff_max_s,
                jitter=settings.shuttle_backoff_initial_s,
            ),
            stop=stop_never,
            before_sleep=self._before_sleep,
            reraise=True,
        )

    # ---- lifecycle -------------------------------------------------------------------------
    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="memory-shuttle")

    async def close(self, drain_timeout_s: float = 0.0) -> None:
        """Stop; first try for up to `drain_timeout_s` to ship what the journal holds (graceful shutdown).

        Whatever is not shipped stays in the journal and ships after the next start.
        """
        if self._task and drain_timeout_s > 0 and self._journal.pending:
            self._draining = True
            self.wake()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._drained.wait(), drain_timeout_s)
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    def _oldest_pending_age(self) -> float:
        at = self.oldest_pending_at
        return max(0.0, time.time() - at) if at and self._journal.pending else 0.0

    def wake(self) -> None:
        self._wake.set()

    # ---- shipping --------------------------------------------------------------------------
    def _ready_prefix(self, ops: list[WriteOp]) -> list[WriteOp]:
        if self._draining:
            return ops
        deadline = time.time() - self._s.shuttle_embed_wait_s
        for i, op in enumerate(ops):
            if op.kind == "upsert" and op.memory.embedding is None and op.journaled_at > deadline:
                return ops[:i]
        return ops

    async def _run(self) -> None:
        after = 0
        max_wait = self._s.shuttle_max_wait_ms / 1000.0
        while True:
            try:
                ops = await self._journal.read_after(after, self._s.shuttle_batch_size)
                self.oldest_pending_at = ops[0].journaled_at if ops else None
                ready = self._ready_prefix(ops)
                if not ready:
                    self._wake.clear()
                    timeout = 1.0 if not ops else 0.05
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), timeout)
                    if max_wait:
                        await asyncio.sleep(max_wait)  # let a batch fill
                    continue
                await self._ship(ready)
                after = ready[-1].seq
            except asyncio.CancelledError:
                raise
            except Exception:  # never let the shuttle die; the journal keeps everything
                log.exception("shuttle loop error")
                self._errors.labels("shuttle", "ship", "internal").inc()
                await asyncio.sleep(1.0)

    def _before_sleep(self, state: RetryCallState) -> None:
        self._m.retries.inc()
        exc = state.outcome.exception() if state.outcome else None
        log.warning("long-term store write failed (attempt %d), retrying: %s", state.attempt_number, exc)

    async def _write(self, ops: Sequence[WriteOp]) -> None:
        start = time.perf_counter()
        try:
            with child_span(self._tracer, "ltm.write") as span:
                span.set_attribute("jm.store", self._store.kind)
                span.set_attribute("jm.batch_size", len(ops))
                await self._store.apply(ops)
        except LtmError as exc:
            self._health.mark(False)
            self._m.failures.labels("true" if exc.retryable else "false").inc()
            self._errors.labels("ltm", "write", "retryable" if exc.retryable else "rejected").inc()
            raise
        self._write_hist.observe(time.perf_counter() - start)
        self._health.mark(True)

    async def _write_retrying(self, ops: Sequence[WriteOp]) -> None:
        """Write, retrying with backoff while the failure is retryable.

        The first attempt runs outside tenacity: its per-call retry state is a web of reference
        cycles (about 20 objects per batch) that only the cyclic garbage collector can free, and
        the healthy path, dozens of batches a second, should leave none behind (see gcpolicy).
        """
        try:
            await self._write(ops)
            return
        except LtmError as exc:
            if not exc.retryable:
                raise
            self._m.retries.inc()
            log.warning("long-term store write failed (attempt 1), retrying: %s", exc)
        await asyncio.sleep(self._s.shuttle_backoff_initial_s)
        async for attempt in self._retrying.copy():
            with attempt:
                await self._write(ops)

    async def _ship(self, ops: list[WriteOp]) -> None:
        with self._roots.root_span("shuttle.batch") as span:
            span.set_attribute("jm.batch_size", len(ops))
            await self._ship_batch(ops)

    async def _ship_batch(self, ops: list[WriteOp]) -> None:
        try:
            await self._write_retrying(ops)
        except LtmError as exc:  # refused for good: find the culprits one by one
            for op in ops:
                try:
                    await self._write_retrying([op])
                except LtmError as one:
                    log.error("long-term store refused write %s for good: %s", op.memory.id, one)
                    await self._journal.park([op], str(one))
                    self._m.dead_letters.inc()
            log.warning("batch refused (%s); shipped one by one", exc)
        self._m.batch_size.observe(len(ops))
        self._m.batches.inc()
        await self._journal.mark_shipped(ops[-1].seq, len(ops))
        self.shipped += len(ops)
        if self._draining and not self._journal.pending:
            self._drained.set()
