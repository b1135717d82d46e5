"""Embedded mode's tiers: a user's space, complete, before a read answers from it.

The first read of a user who is not resident loads their memories from the store and their unshipped
journal rows, merges them under the writes made meanwhile, and indexes the vectors (re-embedding those
made by another model or kept by a store without vectors). A big user on a SQLite store is loaded in
part (`storage/large/residency.py`). One process is the only writer, so a resident space is current.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

import numpy as np
from opentelemetry import trace
from prometheus_client import Counter

from jean_memory.errors import LtmError, Unavailable
from jean_memory.memory import Memory
from jean_memory.storage.journal import Journal
from jean_memory.storage.large.residency import PartialResidency
from jean_memory.storage.ltm.base import LongTermStore
from jean_memory.storage.stm import ShortTermTier, UserSpace
from jean_memory.storage.storehealth import StoreHealth
from jean_memory.telemetry.metrics import LtmMetrics
from jean_memory.telemetry.spans import child_span

log = logging.getLogger(__name__)

#: Called with memories whose vectors must be (re)computed, and their journal seqs (0: not journaled).
ScheduleEmbedding = Callable[[UserSpace, list[Memory], list[int]], None]


class EmbeddedTiers:
    def __init__(
        self,
        *,
        journal: Journal,
        store: LongTermStore,
        stm: ShortTermTier,
        health: StoreHealth,
        promotions: Counter,
        ltm_metrics: LtmMetrics,
        errors: Counter,
        model_id: str,
        schedule_embedding: ScheduleEmbedding,
        tracer: trace.Tracer | None = None,
        residency: PartialResidency | None = None,
    ) -> None:
        self._journal = journal
        self._store = store
        self._stm = stm
        self._health = health
        self._promotions = promotions
        self._read_hist = ltm_metrics.read_duration.labels(store.kind)
        self._errors = errors
        self._model_id = model_id
        self._schedule_embedding = schedule_embedding
        self._tracer = tracer or trace.NoOpTracer()
        #: Where big users may be partially resident (a SQLite store): loads them in part (`_load`).
        self.residency = residency

    #: The journal and this tier are the only writers: a resident record is current (see `core.tiers`).
    authoritative = True

    async def current(self, user_id: str) -> tuple[UserSpace, bool]:
        """The user's space, complete: promoted from the store first if it is not (most recently used)."""
        space = self._stm.space(user_id)
        if space.loaded:
            return space, False
        with child_span(self._tracer, "stm.promote"):
            cold = await self.promote(space)
        return space, cold

    async def hot(self, user_id: str) -> UserSpace:
        space, _ = await self.current(user_id)
        return space

    async def promote(self, space: UserSpace) -> bool:
        """Make the space complete; True when this call had to wait for a load (a cold read)."""
        if space.loaded:
            return False
        if space.loading is None or (space.loading.done() and space.loading.exception() is not None):
            space.loading = asyncio.ensure_future(self._load(space))
        await asyncio.shield(space.loading)
        return True

    async def _load(self, space: UserSpace) -> None:
        # The journal's ops first, then the store (which a batch may be shipping to meanwhile): an op
        # shipped in between is in both, applied twice to the same result; the other way round, it
        # could be in neither (read from the store before it landed, from the journal after it left).
        journal_ops = await self._journal.for_user(space.user_id)
        residency = self.residency
        if (
            residency is not None
            and not any(op.kind == "forget" for op in journal_ops)  # the store still holds what is forgotten
            and await residency.is_big(space.user_id)
        ):
            start = time.perf_counter()
            try:
                await residency.load(space, journal_ops, self._schedule_embedding)
            except Exception:
                log.exception("partial residency failed for a user; loading the user whole")
            else:
                self._read_hist.observe(time.perf_counter() - start)
                self._promotions.inc()
                self._stm.evict_over_budget()
                return
        start = time.perf_counter()
        try:
            stored = await self._store.load_user(space.user_id)
        except LtmError as exc:
            self._health.mark(False)
            self._errors.labels("ltm", "promote", "unavailable").inc()
            raise Unavailable(f"long-term store unavailable: {exc}") from exc
        self._read_hist.observe(time.perf_counter() - start)
        self._health.mark(True)
        merged: dict[str, Memory] = {m.id: m for m in stored}
        seq_of: dict[str, int] = {}
        for op in journal_ops:  # applied as the store will apply them when they ship
            if op.kind in ("delete", "expire"):
                merged.pop(op.memory.id, None)
                seq_of.pop(op.memory.id, None)
            elif op.kind == "forget":
                merged.clear()
                seq_of.clear()
            elif op.kind == "vector":
                current = merged.get(op.memory.id)
                if current is not None and current.revision == op.memory.revision:  # update-only, as in the store
                    current.embedding = op.memory.embedding
                    current.model = op.memory.model
            else:
                previous = merged.get(op.memory.id)
                if op.memory.embedding is None and previous is not None and previous.content == op.memory.content:
                    op.memory.embedding, op.memory.model = previous.embedding, previous.model  # same text, same vector
                merged[op.memory.id] = op.memory
                seq_of[op.memory.id] = op.seq
        if not self._stm.is_current(space):
            return  # evicted while loading; the next access starts again
        ids: list[str] = []
        vectors: list[np.ndarray] = []
        without: list[Memory] = []
        for mid, memory in merged.items():
            if mid in space.records or mid in space.deleted:
                continue  # a write made since the space was created wins
            if memory.embedding is not None and memory.model == self._model_id:
                ids.append(mid)
                vectors.append(np.frombuffer(memory.embedding, dtype=np.float32))
            else:
                without.append(memory)
            memory.embedding = None  # the index holds the vector; do not keep a second copy
            self._stm.put(space, memory)
        if ids:
            self._stm.set_vectors(space, ids, np.vstack(vectors))
        if without:
            self._schedule_embedding(space, without, [seq_of.get(m.id, 0) for m in without])
        space.loaded = True
        space.deleted.clear()
        self._promotions.inc()
        self._stm.evict_over_budget()
