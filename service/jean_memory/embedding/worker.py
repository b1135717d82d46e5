"""Background micro-batching of embeddings, with a priority lane for reads.

Adds never wait for the model: their texts queue in the background lane. Searches put their query
(and the searching user's own still-pending memories, for read-your-writes) in the priority lane,
which the worker always drains first. The background lane is bounded: `backlog` tells admission
control when to refuse new adds with 429 instead of queueing without limit.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict, deque
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from opentelemetry import trace
from prometheus_client import Counter

from jean_memory import cooperative
from jean_memory.embedding.base import Embedder
from jean_memory.telemetry.metrics import EmbeddingMetrics
from jean_memory.telemetry.spans import RootSampler

log = logging.getLogger(__name__)


#: Characters of text an inline embedder (one that runs on the event loop) is given per call: the loop
#: is given back between calls, so this bounds how long one holds it.
INLINE_CHARS = 8192


def inline_slices(lengths: Sequence[int]) -> list[tuple[int, int]]:
    """[start, end) ranges of consecutive texts of at most `INLINE_CHARS` in all (at least one text each)."""
    out: list[tuple[int, int]] = []
    start = chars = 0
    for i, length in enumerate(lengths):
        if i > start and chars + length > INLINE_CHARS:
            out.append((start, i))
            start, chars = i, 0
        chars += length
    if start < len(lengths):
        out.append((start, len(lengths)))
    return out


@dataclass(slots=True)
class EmbedJob:
    """One text to embed; `future` resolves to its vector."""

    text: str
    future: asyncio.Future[np.ndarray]
    enqueued_at: float = field(default_factory=time.perf_counter)


class EmbeddingWorker:
    def __init__(
        self,
        embedder: Embedder,
        metrics: EmbeddingMetrics,
        errors: Counter,
        *,
        batch_size: int,
        max_wait_ms: float,
        roots: Any = None,
    ) -> None:
        self.embedder = embedder
        self._metrics = metrics
        self._errors = errors
        metrics.backlog.set_function(lambda: self.backlog)
        self._roots = roots or RootSampler(trace.NoOpTracer(), 0.0)
        self._batch_size = batch_size
        self._max_wait = max_wait_ms / 1000.0
        self._priority: deque[EmbedJob] = deque()
        self._background: OrderedDict[int, EmbedJob] = OrderedDict()
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        # One thread: model calls never overlap. Not niced: a low-priority thread holding the GIL would
        # stall the event loop (priority inversion); the model is kept to one core by JM_TORCH_THREADS.
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="embed")
        self._next_key = 0

    async def warm_up(self) -> None:
        """Load and run the model once on the worker's thread, so the first request does not pay for it."""
        await asyncio.get_running_loop().run_in_executor(self._executor, self.embedder.warm_up)

    @property
    def backlog(self) -> int:
        return len(self._background)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="embedding-worker")

    async def close(self) -> None:
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        self._executor.shutdown(wait=False, cancel_futures=True)
        self.embedder.close()

    def enqueue(self, text: str) -> tuple[int, asyncio.Future[np.ndarray]]:
        """Queue a memory's text in the background lane; the key lets a reader promote it."""
        fut: asyncio.Future[np.ndarray] = asyncio.get_running_loop().create_future()
        key = self._next_key
        self._next_key += 1
        self._background[key] = EmbedJob(text, fut)
        self._wakeup.set()
        return key, fut

    def prioritise(self, keys: Sequence[int]) -> None:
        """Move queued background jobs to the priority lane (a reader is waiting on them)."""
        for key in keys:
            job = self._background.pop(key, None)
            if job is not None:
                self._priority.append(job)
        self._wakeup.set()

    async def embed_now(self, texts: Sequence[str]) -> np.ndarray:
        """Embed on the priority lane and wait: for queries (and a deduplicated add's contents)."""
        if self.embedder.inline:
            parts: list[np.ndarray] = []
            for start, end in inline_slices([len(t) for t in texts]):
                if parts:
                    await cooperative.turn()  # the event loop between slices of a long list
                parts.append(await self._inline(list(texts[start:end]), "query"))
            return np.vstack(parts) if parts else np.zeros((0, self.embedder.dim), dtype=np.float32)
        loop = asyncio.get_running_loop()
        futures = []
        for text in texts:
            fut: asyncio.Future[np.ndarray] = loop.create_future()
            self._priority.append(EmbedJob(text, fut))
            futures.append(fut)
        self._wakeup.set()
        return np.vstack(await asyncio.gather(*futures))

    def _take_batch(self) -> list[EmbedJob]:
        """The next micro-batch; for an inline embedder, no more than `INLINE_CHARS` of text (or one job)."""
        batch: list[EmbedJob] = []
        room = INLINE_CHARS if self.embedder.inline else float("inf")

        def fits(job: EmbedJob) -> bool:
            return len(batch) < self._batch_size and (not batch or len(job.text) <= room)

        while self._priority and fits(self._priority[0]):
            batch.append(job := self._priority.popleft())
            room -= len(job.text)
        while self._background and fits(next(iter(self._background.values()))):
            batch.append(job := self._background.popitem(last=False)[1])
            room -= len(job.text)
        return [job for job in batch if not job.future.done()]

    async def _inline(self, texts: list[str], lane: str) -> np.ndarray:
        """An inline embedder's call: on the event loop, unless one text alone is longer than a slice (a
        text cannot be split across calls): that one goes to the worker's thread."""
        if len(texts) == 1 and len(texts[0]) > INLINE_CHARS:
            return await asyncio.get_running_loop().run_in_executor(self._executor, self._timed, texts, lane)
        return self._timed(texts, lane)

    def _timed(self, texts: list[str], lane: str) -> np.ndarray:
        start = time.perf_counter()
        vectors = self.embedder.embed(texts)
        self._metrics.duration.observe(time.perf_counter() - start)
        self._metrics.batch_size.observe(len(texts))
        return vectors

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            if not self._priority and not self._background:
                self._wakeup.clear()
                await self._wakeup.wait()
            if (
                self._max_wait > 0
                and not self._priority
                and len(self._background) < self._batch_size
                and not self.embedder.inline
            ):
                await asyncio.sleep(self._max_wait)
            batch = self._take_batch()
            if not batch:
                continue
            texts = [job.text for job in batch]
            try:
                with self._roots.root_span("embedding.batch") as span:
                    span.set_attribute("jm.batch_size", len(texts))
                    if self.embedder.inline:
                        vectors = await self._inline(texts, "background")
                    else:
                        vectors = await loop.run_in_executor(self._executor, self._timed, texts, "background")
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a model failure must not kill the worker
                log.exception("embedding batch failed")
                self._errors.labels("embedder", "embed", type(exc).__name__).inc()
                for job in batch:
                    if not job.future.done():
                        job.future.set_exception(exc)
                continue
            for job, vector in zip(batch, vectors, strict=True):
                if not job.future.done():
                    job.future.set_result(vector)
            if self.embedder.inline:
                await cooperative.turn()  # let request handlers run between inline batches
