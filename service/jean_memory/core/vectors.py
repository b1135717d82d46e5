"""Vector delivery: from a queued text to a searchable vector, a journaled vector, a backfilled store.

The write path never waits for the model: it queues each memory's text with the embedding worker
and returns. When a vector is ready it goes where it belongs: into the user's index (if the user is
still resident and the memory not replaced or deleted meanwhile), onto the memory's journal row (so
the shuttle ships it with the memory), or, for a memory promoted from the store without a vector of
this model, back to the store as a backfill.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import time

import numpy as np

from jean_memory.embedding.worker import EmbeddingWorker
from jean_memory.memory import Memory
from jean_memory.storage.journal import Journal
from jean_memory.storage.stm import ShortTermTier, UserSpace
from jean_memory.telemetry.metrics import WriteMetrics

_Ready = tuple[UserSpace, Memory, int, np.ndarray, float]


class VectorDelivery:
    def __init__(
        self,
        worker: EmbeddingWorker,
        journal: Journal,
        stm: ShortTermTier,
        metrics: WriteMetrics,
        *,
        store_keeps_vectors: bool,
    ) -> None:
        self._worker = worker
        self._journal = journal
        self._stm = stm
        self._time_to_searchable = metrics.time_to_searchable
        self._backfill = store_keeps_vectors
        self.model_id = worker.embedder.model_id
        self._ready: list[_Ready] = []

    def schedule(self, space: UserSpace, memories: list[Memory], seqs: list[int]) -> None:
        """Queue vectors for memories (`seqs`: their journal rows, 0 when not journaled)."""
        acked = time.perf_counter()
        for memory, seq in zip(memories, seqs, strict=True):
            key, fut = self._worker.enqueue(memory.content)
            space.pending[memory.id] = (key, fut)
            fut.add_done_callback(functools.partial(self._vector_ready, space, memory, seq, acked=acked))

    def schedule_for_journal(self, memory: Memory, seq: int) -> None:
        """Embed a journal row that lost its pending embedding in a crash (its user is not resident)."""
        _, fut = self._worker.enqueue(memory.content)
        fut.add_done_callback(lambda f: self._attach(seq, f))

    def _attach(self, seq: int, fut: asyncio.Future[np.ndarray]) -> None:
        if not fut.cancelled() and fut.exception() is None:
            self._journal.attach_embeddings([(seq, fut.result().tobytes(), self.model_id)])

    def _vector_ready(
        self, space: UserSpace, memory: Memory, seq: int, fut: asyncio.Future[np.ndarray], *, acked: float
    ) -> None:
        """Collect a finished vector; one flush per embedding batch handles them all.

        A batch resolves its futures together, so their callbacks run back to back; the flush is
        queued behind them (`call_soon`) and indexes the whole batch with one FAISS add per user and
        one journal update, instead of one of each per memory. It still runs before any reader that
        waited on these futures resumes (the reader's wake-up is queued after it).
        """
        if fut.cancelled() or fut.exception() is not None:
            space.pending.pop(memory.id, None)
            return
        self._ready.append((space, memory, seq, fut.result(), acked))
        if len(self._ready) == 1:
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        ready, self._ready = self._ready, []
        now = time.perf_counter()
        attach: list[tuple[int, bytes, str]] = []
        backfill: list[Memory] = []
        per_space: dict[int, tuple[UserSpace, dict[str, np.ndarray]]] = {}
        for space, memory, seq, vector, acked in ready:
            current = space.records.get(memory.id) is memory
            if seq:
                attach.append((seq, vector.tobytes(), self.model_id))
            elif self._backfill and current:
                # It came from the store without a vector (or with another model's): give the store this one.
                backfill.append(dataclasses.replace(memory, embedding=vector.tobytes(), model=self.model_id))
            if current and self._stm.is_current(space):
                per_space.setdefault(id(space), (space, {}))[1][memory.id] = vector  # the last vector wins
                self._time_to_searchable.observe(now - acked)
            else:
                space.pending.pop(memory.id, None)
        self._journal.attach_embeddings(attach)
        if backfill:
            self._journal.backfill_vectors(backfill)
        for space, vectors in per_space.values():
            self._stm.set_vectors(space, list(vectors), np.vstack(list(vectors.values())))
