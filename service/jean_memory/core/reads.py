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

from jean_memory.cooperative import Slices
from jean_memory.core import partial_search, resident_search
from jean_memory.core.admission import ConcurrencyLimit
from jean_memory.core.caches import IdFilter, LevelCache, SearchCacheWindow, digest
from jean_memory.core.fusion import DEFAULT, POOL, Legs, SearchOptions, boosts, fused
from jean_memory.core.lexical_rank import ranked
from jean_memory.core.tiers import Tiers
from jean_memory.core.writes import not_found
from jean_memory.embedding.base import Embedder
from jean_memory.filters import Filter
from jean_memory.memory import ALL, TENANT_SEPARATOR, Memory, Scope, memory_key
from jean_memory.storage.large.layered import LayeredIndex
from jean_memory.storage.large.records import PartialRecords
from jean_memory.storage.large.selection import Selection
from jean_memory.storage.records import WholeRecords
from jean_memory.storage.stm import ShortTermTier, UserSpace, index_search
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
    #: The vector leg's cosine (None: no vector yet, or a lexical search).
    vector: float | None = None
    #: Each leg's part of the score, when the search asked for `explain`.
    explain: dict[str, float | None] | None = None


def hits_bytes(hits: list[SearchHit]) -> int:
    """An L1 entry's size, estimated: a cached result keeps its memories alive after an update or an
    eviction, so their text counts (metadata at a flat rate per key: exact sizes would cost a dump)."""
    return sum(120 + len(h.memory.content) + 100 * len(h.memory.metadata) for h in hits)


def vector_bytes(vector: np.ndarray) -> int:
    """An L2 entry's size: the vector and the array's header."""
    return int(vector.nbytes) + 112


def filters_digest(filters: Filter | None) -> bytes:
    """The filters' part of an L1 key: a digest of their canonical JSON (sorted keys), not the values."""
    return digest(filters.canonical) if filters is not None else b""


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

    async def list_page(
        self, user_id: str, limit: int, before: tuple[float, str] | None, filters: Filter | None = None,
        scope: Scope = ...,
    ) -> list[Memory]: ...  # fmt: skip

    async def search(
        self, user_id: str, query: str, k: int, filters: Filter | None, options: SearchOptions = ...,
        scope: Scope = ...,
    ) -> SearchResult: ...  # fmt: skip

    def export(self, user_id: str, filters: Filter | None = None, scope: Scope = ...) -> AsyncIterator[Memory]: ...


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

    async def list_page(
        self, user_id: str, limit: int, before: tuple[float, str] | None, filters: Filter | None = None,
        scope: Scope = ALL,
    ) -> list[Memory]:  # fmt: skip
        """Newest first, strictly older than the position `before` (created_at, id), in `scope`; with
        `filters`, only the memories it selects: a partially resident user's from its snapshot's columns
        (`partial_search.page`), a resident user's by walking its order from the cursor where that fills
        the page soon (`resident_search.page`), else found by the same scan as a filtered search's, then
        ordered (a page costs a pass over the user)."""
        with self._limit.slot():
            space, _ = await self._tiers.current(user_id)
            now = time.time()
            if filters is None:
                return await self._stm.page(space, limit, before, now, scope)
            partial, index = space.records, space.index
            if isinstance(partial, PartialRecords) and isinstance(index, LayeredIndex):
                chosen = await partial_search.selection(partial, index, filters, scope, now)
                if chosen is not None:
                    return await partial_search.page(partial, index, chosen, filters, limit, before, now)
            if isinstance(partial, WholeRecords):
                walked = resident_search.page(partial, filters, limit, before, now, scope)
                if walked is not None:
                    return walked
            ids = await self._stm.matching(space, filters, scope)
            records = await space.records.read_many(ids)
            found = [
                m for i in ids
                if (m := records.get(i)) is not None and not m.expired(now)
                and (before is None or (m.created_at, m.id) < before) and m.in_scope(scope) and filters.matches(m)
            ]  # fmt: skip
            found.sort(key=lambda m: (m.created_at, m.id), reverse=True)
            return found[:limit]

    async def export(self, user_id: str, filters: Filter | None = None, scope: Scope = ALL) -> AsyncIterator[Memory]:
        """Every memory of the user in `scope` (with `filters`, those it selects), oldest first, as a stream:
        the ids are taken once (a snapshot of the order), each record is read as the stream reaches it, so
        the response is never held whole."""
        with self._limit.slot():
            space, _ = await self._tiers.current(user_id)
        slices = Slices()
        async for chunk in self._stm.ascending(space):
            for memory in chunk:
                selected = memory.in_scope(scope) and (filters is None or filters.matches(memory))
                if selected and not memory.expired(time.time()):
                    yield memory
                await slices.pause()

    async def search(
        self, user_id: str, query: str, k: int, filters: Filter | None, options: SearchOptions = DEFAULT,
        scope: Scope = ALL,
    ) -> SearchResult:  # fmt: skip
        """The user's best `k` memories for the query, among those in `scope` (all the user's scopes by
        default) that `filters` selects."""
        start = time.perf_counter()
        with self._limit.slot():
            space, cold = await self._tiers.current(user_id)
            query_key = digest(query)
            cache_key = (user_id, space.version, query_key, k, filters_digest(filters), options.key(), scope)
            # Always consulted, so L1 lookups count every search (the hit-rate rule relies on it); an entry
            # for the current version cannot exist while writes are pending (each write bumps the version).
            cached = self._results.get(cache_key)
            if cached is not None:
                self._search_window.record(True)
                return self._finish(cached, "cache", start, user_id, query)
            qvec: np.ndarray | None = None
            hit_l2 = True
            if options.mode != "lexical":
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
            allowed = await self._allowed(space, query, qvec, k, filters, scope, options)
            with child_span(self._tracer, "stm.search") as span:
                span.set_attribute("jm.k", k)
                span.set_attribute("jm.index", space.index.kind.value)
                span.set_attribute("jm.mode", options.mode)
                hits = await self._rank(space, query, qvec, k, allowed, options)
            if isinstance(allowed, Selection) and filters is not None:  # its strings were compared by digest
                hits = [h for h in hits if filters.matches(h.memory)]
            if not (space.pending or space.unembedded) and self._results.enabled:
                self._results.put(cache_key, hits)
            return self._finish(hits, "ltm" if cold else "stm", start, user_id, query, cache_hit=hit_l2)

    async def _allowed(
        self, space: UserSpace, query: str, qvec: np.ndarray | None, k: int, filters: Filter | None, scope: Scope,
        options: SearchOptions,
    ) -> list[str] | Selection | None:  # fmt: skip
        """The ids the legs may rank (None: all): those the filter and the scope select (`matching`). For a
        partially resident user, its selection from its snapshot's columns, else the selected among each
        leg's best candidates where they suffice (`core.partial_search`): no scan of the store. For a
        resident user, the selected among the legs' candidates where that is cheaper than the scan
        (`core.resident_search`)."""
        if filters is None and not scope:
            return None
        partial, index = space.records, space.index
        if filters is not None and isinstance(partial, PartialRecords) and isinstance(index, LayeredIndex):
            now = time.time()
            chosen = await partial_search.selection(partial, index, filters, scope, now)
            if chosen is not None:
                return chosen
            found = await partial_search.candidates(space, partial, index, query, qvec, k, filters, scope, options, now)
            if found is not None:
                return found
        if filters is not None and isinstance(partial, WholeRecords):
            now = time.time()
            found = await resident_search.candidates(space, partial, query, qvec, k, filters, scope, options, now)
            if found is not None:
                return found
        return await self._stm.matching(space, filters, scope)

    async def _rank(
        self, space: UserSpace, query: str, qvec: np.ndarray | None, k: int, allowed: list[str] | Selection | None,
        options: SearchOptions,
    ) -> list[SearchHit]:  # fmt: skip
        """The top k of the fused ranking (`core.fusion`): each leg's best `POOL` (or 2k) candidates, their
        union scored by both legs (a lexical candidate's cosine computed exactly), boosts, `min_score`."""
        now = time.time()
        pool = max(POOL, 2 * k)
        candidates: dict[str, tuple[Memory, Legs]] = {}
        waiting = bool(space.pending or space.unembedded)
        lexical_leg: asyncio.Task[tuple[list[tuple[Memory, float]], float]] | None = None
        if options.mode != "vector" or waiting:
            # Started first: where it scores in a worker thread (a big user), that runs beside the vector leg.
            lexical_leg = asyncio.ensure_future(self._lexical_leg(space, query, pool, allowed, now))
            await asyncio.sleep(0)
        try:
            if qvec is not None:
                for memory, score in await self._stm.search(space, qvec, pool, allowed, now):
                    candidates[memory.id] = (memory, Legs(score, 0.0))
        except BaseException:
            if lexical_leg is not None:
                lexical_leg.cancel()
            raise
        best_lexical = 0.0
        if lexical_leg is not None:
            lexical, best_lexical = await lexical_leg
            unscored: list[str] = []
            for memory, score in lexical:
                found = candidates.get(memory.id)
                if found is not None:
                    found[1].lexical = score
                elif options.mode != "vector" or memory.id not in space.index:
                    candidates[memory.id] = (memory, Legs(None, score))
                    if qvec is not None and memory.id in space.index:
                        unscored.append(memory.id)
            if unscored and qvec is not None:  # lexical finds: their cosine, exactly
                for memory_id, score in await index_search(space.index, qvec, len(unscored), unscored):
                    candidates[memory_id][1].vector = score
        hits: list[SearchHit] = []
        for memory, legs in candidates.values():
            relevance, lexical_part = fused(legs, best_lexical, options.mode)
            recency, salience = boosts(options, memory.created_at, memory.salience, now)
            score = relevance + recency + salience
            if options.min_score is not None and score < options.min_score:
                continue
            tier = "stm" if legs.vector is not None or memory.id in space.index else "pending"
            explain = None
            if options.explain:
                explain = {
                    "vector": legs.vector,
                    "lexical": legs.lexical,
                    "lexical_normalized": lexical_part,
                    "relevance": relevance,
                    "recency": recency,
                    "salience": salience,
                }
            hits.append(SearchHit(memory, score, tier, legs.vector, explain))
        hits.sort(key=lambda h: (-h.score, h.memory.id))  # ties by id: every path to a ranking orders them alike
        return hits[:k]

    async def _lexical_leg(
        self, space: UserSpace, query: str, pool: int, allowed: list[str] | Selection | None, now: float
    ) -> tuple[list[tuple[Memory, float]], float]:
        """The user's best `pool` memories by BM25 (expired and filtered-out ones left out), and the best
        BM25 among them (a partially resident user's: `partial_search.lexical`)."""
        if isinstance(space.records, PartialRecords):
            return await partial_search.lexical(space, space.records, query, pool, allowed, now)
        if isinstance(allowed, Selection):
            raise TypeError("a selection is of a partially resident user")
        order, records = space.records.lexical_view()
        built = await space.text_index.current(order, records)
        return await ranked(built, records, query, pool, allowed, now)

    def _finish(self, hits: list[SearchHit], tier: str, start: float, user_id: str, query: str,
                cache_hit: bool = True) -> SearchResult:  # fmt: skip
        if tier == "cache":  # a result cached before it was returned may hold a memory expired since
            now = time.time()
            hits = [h for h in hits if not h.memory.expired(now)]
        scored = [h.vector for h in hits if h.vector is not None]  # the quality metric reads cosines
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
