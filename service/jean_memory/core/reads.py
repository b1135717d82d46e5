"""The read use cases: get, list and search, over the short-term tier and the read caches.

A read of a user who is not resident first promotes the user from the long-term store (a cold
read). A search looks in the L1 result cache (keyed by the user's version, so a write can never
hide behind it), then embeds the query (or takes it from the L2 cache), and ranks the user's
vectors. Read-your-writes: the searcher's own writes still waiting for a vector are moved to the
front of the model's queue and waited for briefly; whatever is still pending is scored lexically,
so a fresh write is never invisible to its writer.

An expired memory is never returned, from the moment it expires (the sweep removes it later). Every
search records the score of its best result (`jm_search_top_score`) or that it found nothing, so a
collapse in retrieval quality shows on the dashboards before agents complain.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from jean_memory import jsonutil
from jean_memory.cooperative import Slices
from jean_memory.core.admission import ConcurrencyLimit
from jean_memory.core.caches import IdFilter, LevelCache, SearchCacheWindow, digest
from jean_memory.core.tiers import Tiers
from jean_memory.core.writes import not_found
from jean_memory.embedding.base import Embedder
from jean_memory.embedding.hashing import HashEmbedder
from jean_memory.memory import TENANT_SEPARATOR, JsonObject, Memory, memory_key
from jean_memory.storage.stm import ShortTermTier, UserSpace
from jean_memory.telemetry.core import Telemetry, current_exemplar
from jean_memory.telemetry.spans import child_span

#: How long a search waits for the user's own pending embeddings before scoring them lexically.
READ_YOUR_WRITES_WAIT_S = 0.1
#: How many of the user's most recent pending memories a search moves to the front of the model's
#: queue: the writes an agent is most likely to look for; older ones are scored lexically meanwhile.
READ_YOUR_WRITES_PRIORITY = 16


@dataclass(slots=True)
class SearchHit:
    memory: Memory
    score: float
    tier: str


def hits_bytes(hits: list[SearchHit]) -> int:
    """An L1 entry's size, estimated: a cached result keeps its memories alive after an update or an
    eviction, so their text counts (metadata at a flat rate per key: exact sizes would cost a dump)."""
    return sum(120 + len(h.memory.content) + 100 * len(h.memory.metadata) for h in hits)


def vector_bytes(vector: np.ndarray) -> int:
    """An L2 entry's size: the vector and the array's header."""
    return int(vector.nbytes) + 112


def filters_digest(filters: JsonObject | None) -> bytes:
    """The filters' part of an L1 key: a digest of their canonical JSON (sorted keys), not the values."""
    return digest(jsonutil.dumps(filters, sort_keys=True)) if filters else b""


def tenant_of(owner: str) -> str:
    """The tenant part of an owner key ("" for the default tenant, whose users all share it)."""
    tenant, separator, _ = owner.partition(TENANT_SEPARATOR)
    return tenant if separator else ""


@dataclass(slots=True)
class SearchResult:
    hits: list[SearchHit]
    tier: str
    took_s: float


class QueryEmbedding(Protocol):
    """What a search needs of the embedding worker: its model, the priority lane, read-your-writes."""

    @property
    def embedder(self) -> Embedder: ...

    async def embed_now(self, texts: Sequence[str]) -> np.ndarray: ...

    def prioritise(self, keys: Sequence[int]) -> None: ...


class ReadOps(Protocol):
    """What the API calls to read (implemented by `Reads`, and by the fault-injecting wrapper)."""

    async def get(self, user_id: str, memory_id: str) -> Memory: ...

    async def list_page(self, user_id: str, limit: int, before: tuple[float, str] | None) -> list[Memory]: ...

    async def search(self, user_id: str, query: str, k: int, filters: JsonObject | None) -> SearchResult: ...

    def export(self, user_id: str) -> AsyncIterator[Memory]: ...


class Reads:
    def __init__(
        self,
        stm: ShortTermTier,
        tiers: Tiers,
        worker: QueryEmbedding,
        ids: IdFilter,
        results: LevelCache,
        query_vectors: LevelCache,
        search_window: SearchCacheWindow,
        limit: ConcurrencyLimit,
        telemetry: Telemetry,
    ) -> None:
        self._stm = stm
        self._tiers = tiers
        self._worker = worker
        self._model_id = worker.embedder.model_id
        self._ids = ids
        self._results = results
        self._query_vectors = query_vectors
        self._search_window = search_window
        self._limit = limit
        self._telemetry = telemetry
        self._tracer = telemetry.tracer
        self._duration = telemetry.metrics.search.duration
        self._top_score = telemetry.metrics.retrieval.top_score
        self._empty = telemetry.metrics.retrieval.empty
        self._lexical = HashEmbedder(256)

    async def get(self, user_id: str, memory_id: str) -> Memory:
        with self._limit.slot():
            space = self._stm.peek(user_id) if self._tiers.authoritative else None
            memory = space.records.get(memory_id) if space is not None else None
            if memory is None:
                if not self._ids.may_exist(memory_key(user_id, memory_id)):
                    raise not_found(memory_id)
                space, _ = await self._tiers.current(user_id)
                memory = space.records.get(memory_id)
            else:
                self._stm.space(user_id)  # touch: most recently used
            if memory is None or memory.expired(time.time()):
                raise not_found(memory_id)
            return memory

    async def list_page(self, user_id: str, limit: int, before: tuple[float, str] | None) -> list[Memory]:
        """Newest first, strictly older than the position `before` (created_at, id)."""
        with self._limit.slot():
            space, _ = await self._tiers.current(user_id)
            return await self._stm.page(space, limit, before, time.time())

    async def export(self, user_id: str) -> AsyncIterator[Memory]:
        """Every memory of the user, oldest first, as a stream: the ids are taken once (a snapshot of the
        order), each record is read as the stream reaches it, so the response is never held whole."""
        with self._limit.slot():
            space, _ = await self._tiers.current(user_id)
        slices = Slices()
        async for chunk in self._stm.ascending(space):
            for memory in chunk:
                if not memory.expired(time.time()):
                    yield memory
                await slices.pause()

    async def search(self, user_id: str, query: str, k: int, filters: JsonObject | None) -> SearchResult:
        start = time.perf_counter()
        with self._limit.slot():
            space, cold = await self._tiers.current(user_id)
            query_key = digest(query)
            cache_key = (user_id, space.version, query_key, k, filters_digest(filters))
            # Always consulted, so L1 lookups count every search (the hit-rate rule relies on it); an entry
            # for the current version cannot exist while writes are pending (each write bumps the version).
            cached = self._results.get(cache_key)
            if cached is not None:
                self._search_window.record(True)
                return self._finish(cached, "cache", start, user_id, query)
            vector_key = (tenant_of(user_id), self._model_id, query_key)
            qvec = self._query_vectors.get(vector_key)
            hit_l2 = qvec is not None
            pending = self._await_pending(space)
            if qvec is None:
                with child_span(self._tracer, "embedding.query"):
                    qvec = (await self._worker.embed_now([query]))[0]
                self._query_vectors.put(vector_key, qvec)
            self._search_window.record(hit_l2)
            await pending
            allowed = await self._stm.matching(space, filters) if filters else None
            with child_span(self._tracer, "stm.search") as span:
                span.set_attribute("jm.k", k)
                span.set_attribute("jm.index", space.index.kind.value)
                hits = [SearchHit(m, s, "stm") for m, s in self._stm.search(space, qvec, k, allowed, time.time())]
            if space.pending or space.unembedded:
                hits = self._merge_lexical(space, query, k, filters, hits)
            elif self._results.enabled:
                self._results.put(cache_key, hits)
            return self._finish(hits, "ltm" if cold else "stm", start, user_id, query, cache_hit=hit_l2)

    def _finish(self, hits: list[SearchHit], tier: str, start: float, user_id: str, query: str,
                cache_hit: bool = True) -> SearchResult:  # fmt: skip
        if tier == "cache":  # a result cached before it was returned may hold a memory expired since
            now = time.time()
            hits = [h for h in hits if not h.memory.expired(now)]
        scored = [h.score for h in hits if h.tier != "pending"]  # lexical scores are on another scale
        if scored:
            self._top_score.observe(max(0.0, min(1.0, scored[0])))
        elif not hits:
            self._empty.inc()
        took = time.perf_counter() - start
        self._duration.labels(tier).observe(took, current_exemplar())
        self._telemetry.window.record("search", took)
        self._telemetry.perf.maybe_log(f"search_{tier}", start, user_id, len(query), cache_hit)
        return SearchResult(hits, tier, took)

    async def _await_pending(self, space: UserSpace) -> None:
        """Read-your-writes: bring the user's own queued embeddings forward and wait a little for them."""
        if not space.pending:
            return
        waiting = list(space.pending.values())[-READ_YOUR_WRITES_PRIORITY:]
        self._worker.prioritise([key for key, _ in waiting])
        # The futures' own callbacks index the vectors before this wait returns (they were added first).
        await asyncio.wait([fut for _, fut in waiting], timeout=READ_YOUR_WRITES_WAIT_S)

    def _merge_lexical(
        self, space: UserSpace, query: str, k: int, filters: JsonObject | None, hits: list[SearchHit]
    ) -> list[SearchHit]:
        """Score memories still waiting for their vector lexically, so a fresh write is never invisible."""
        now = time.time()
        pending = [
            space.records[i]
            for i in (*space.pending, *space.unembedded)
            if i in space.records and not space.records[i].expired(now)
        ]
        if filters:
            pending = [m for m in pending if all(m.metadata.get(a) == b for a, b in filters.items())]
        if not pending:
            return hits
        # Each pending memory is hash-embedded once (cached on the space until its real vector lands),
        # so a user with thousands of pending writes costs one matrix product per search, not thousands
        # of embeddings on the event loop.
        cache = space.lexical
        missing = [m for m in pending if m.id not in cache]
        if missing:
            for m, v in zip(missing, self._lexical.embed([m.content for m in missing]), strict=True):
                cache[m.id] = v
        query_vector = self._lexical.embed([query])[0]
        scores = np.vstack([cache[m.id] for m in pending]) @ query_vector
        extra = [SearchHit(m, float(s), "pending") for m, s in zip(pending, scores, strict=True)]
        merged = sorted(hits + extra, key=lambda h: -h.score)
        return merged[:k]
