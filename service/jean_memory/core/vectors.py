"""Vector delivery: from a queued text to a searchable vector and a stored one.

The write path never waits for the model: it queues each memory's text with the embedding worker
and returns. When a vector is ready it goes where it belongs: into the user's index (if the user is
still resident and the memory not replaced or deleted meanwhile), and to the `VectorSink`, which
stores it: onto the memory's journal row in embedded mode (so the shuttle ships it with the
memory; a memory promoted from the store without a vector of this model is backfilled), or onto
the memory's row in PostgreSQL in cluster mode.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import time
from collections.abc import Sequence
from typing import Protocol

import numpy as np

from jean_memory.embedding.worker import EmbeddingWorker
from jean_memory.memory import Memory, same_version
from jean_memory.storage.stm import ShortTermTier, UserSpace
from jean_memory.telemetry.metrics import WriteMetrics

_Ready = tuple[UserSpace | None, Memory, int, np.ndarray, float]


class VectorSink(Protocol):
    """Where computed vectors are stored. `seq` is the memory's journal row (embedded mode) or its
    content version (cluster mode); 0 for a memory that came from the store without a vector."""

    def store(self, items: Sequence[tuple[Memory, int, np.ndarray]]) -> None: ...

    def backfill(self, memories: Sequence[Memory]) -> None: ...


class VectorDelivery:
    def __init__(self, worker: EmbeddingWorker, sink: VectorSink, stm: ShortTermTier, metrics: WriteMetrics) -> None:
        self._worker = worker
        self._sink = sink
        self._stm = stm
        self._time_to_searchable = metrics.time_to_searchable
        self.model_id = worker.embedder.model_id
        self._ready: list[_Ready] = []

    def schedule(self, space: UserSpace, memories: list[Memory], seqs: list[int]) -> None:
        """Queue vectors for memories (`seqs`: their journal rows, 0 when not journaled)."""
        acked = time.perf_counter()
        for memory, seq in zip(memories, seqs, strict=True):
            key, fut = self._worker.enqueue(memory.content)
            space.pending[memory.id] = (key, fut)
            fut.add_done_callback(functools.partial(self._vector_ready, space, memory, seq, acked=acked))

    def deliver(self, space: UserSpace, memories: list[Memory], seqs: list[int], vectors: Sequence[np.ndarray]) -> None:
        """Vectors computed already (a deduplicated add embedded its content on the write path): the
        memories become searchable and their vectors are stored as if the worker had made them."""
        acked = time.perf_counter()
        for memory, seq, vector in zip(memories, seqs, vectors, strict=True):
            self._ready.append((space, memory, seq, vector, acked))
        if self._ready and len(self._ready) == len(memories):
            asyncio.get_running_loop().call_soon(self._flush)

    def schedule_detached(self, memory: Memory, seq: int) -> None:
        """Embed and store a memory whose user is not resident here (a journal row that lost its pending
        embedding in a crash; in cluster mode, a write for a user this replica does not hold)."""
        _, fut = self._worker.enqueue(memory.content)
        fut.add_done_callback(functools.partial(self._vector_ready, None, memory, seq, acked=0.0))

    def _vector_ready(
        self, space: UserSpace | None, memory: Memory, seq: int, fut: asyncio.Future[np.ndarray], *, acked: float
    ) -> None:
        """Collect a finished vector; one flush per embedding batch handles them all.

        A batch resolves its futures together, so their callbacks run back to back; the flush is
        queued behind them (`call_soon`) and indexes the whole batch with one FAISS add per user and
        one journal update, instead of one of each per memory. It still runs before any reader that
        waited on these futures resumes (the reader's wake-up is queued after it).
        """
        if fut.cancelled() or fut.exception() is not None:
            if space is not None and space.pending.pop(memory.id, None) is not None and memory.id in space.records:
                space.unembedded.add(memory.id)  # still findable, lexically, until a vector lands
            return
        self._ready.append((space, memory, seq, fut.result(), acked))
        if len(self._ready) == 1:
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        ready, self._ready = self._ready, []
        now = time.perf_counter()
        stored: list[tuple[Memory, int, np.ndarray]] = []
        backfill: list[Memory] = []
        per_space: dict[int, tuple[UserSpace, dict[str, np.ndarray]]] = {}
        for space, memory, seq, vector, acked in ready:
            if space is None:
                stored.append((memory, seq, vector))
                continue
            current = same_version(space.records.get(memory.id), memory)
            if seq:
                stored.append((memory, seq, vector))
            elif current:
                # It came from the store without a vector (or with another model's): give the store this one.
                backfill.append(dataclasses.replace(memory, embedding=vector.tobytes(), model=self.model_id))
            if current and self._stm.is_current(space):
                per_space.setdefault(id(space), (space, {}))[1][memory.id] = vector  # the last vector wins
                self._time_to_searchable.observe(now - acked)
            elif (entry := space.pending.get(memory.id)) is not None and entry[1].done():
                # Superseded: only a finished computation leaves; a newer text's, still running, stays
                # pending, or the memory would be unfindable by search until that one lands.
                space.pending.pop(memory.id, None)
        if stored:
            self._sink.store(stored)
        self._sink.backfill(backfill)
        for space, vectors in per_space.values():
            self._stm.set_vectors(space, list(vectors), np.vstack(list(vectors.values())))
