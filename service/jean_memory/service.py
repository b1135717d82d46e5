"""MemoryService: the domain operations (add, get, delete, list, search) over the two tiers.

The acknowledgement path of an add is: validate, reserve the id, commit to the journal (group
commit), insert into the short-term tier, queue the embedding. The model never runs on it. Reads of
a user who is not resident first promote the user from the long-term store (a cold read).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import logging
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from jean_memory.admission import ConcurrencyLimit
from jean_memory.caches import IdFilter, LevelCache, SearchCacheWindow
from jean_memory.config import Settings
from jean_memory.embedding.base import Embedder
from jean_memory.embedding.hashing import HashEmbedder
from jean_memory.embedding.worker import EmbeddingWorker
from jean_memory.errors import Conflict, NotFound, Overloaded
from jean_memory.faults import Faults, FaultyStore
from jean_memory.gcpolicy import GcPolicy
from jean_memory.journal import Journal
from jean_memory.ltm.base import LongTermStore
from jean_memory.memory import JsonObject, Memory
from jean_memory.shuttle import MemoryShuttle
from jean_memory.stm import ShortTermTier, UserSpace
from jean_memory.telemetry.core import Telemetry, current_exemplar
from jean_memory.telemetry.looplag import LoopLagMonitor
from jean_memory.telemetry.spans import child_span

log = logging.getLogger(__name__)

#: How long a search waits for the user's own pending embeddings before scoring them lexically.
READ_YOUR_WRITES_WAIT_S = 0.1
#: How many of the user's most recent pending memories a search moves to the front of the model's
#: queue: the writes an agent is most likely to look for; older ones are scored lexically meanwhile.
READ_YOUR_WRITES_PRIORITY = 16


@dataclass(slots=True)
class NewMemory:
    """A validated write request item."""

    content: str
    metadata: JsonObject
    salience: float
    id: str | None = None
    created_at: float | None = None


@dataclass(slots=True)
class SearchHit:
    memory: Memory
    score: float
    tier: str


@dataclass(slots=True)
class SearchResult:
    hits: list[SearchHit]
    tier: str
    took_s: float


def _id_field(mode: str, index: int) -> str:
    return "id" if mode == "single" else f"items[{index}].id"


def _key(user_id: str, memory_id: str) -> str:
    return f"{user_id}\x00{memory_id}"


class MemoryService:
    def __init__(self, settings: Settings, telemetry: Telemetry, embedder: Embedder, store: LongTermStore) -> None:
        self.settings = settings
        self.telemetry = telemetry
        self.tracer = telemetry.tracer
        metrics = self.metrics = telemetry.metrics
        self.embedder = embedder
        self.faults = Faults()
        self.store: LongTermStore = FaultyStore(store, self.faults) if settings.faults_enabled else store
        self.journal = Journal(settings.journal_path, settings.journal_sync)
        self.stm = ShortTermTier(settings, embedder.dim, metrics)
        self.worker = EmbeddingWorker(
            embedder,
            metrics,
            batch_size=settings.embed_batch_size,
            max_wait_ms=settings.embed_max_wait_ms,
            roots=telemetry.roots,
        )
        self.shuttle = MemoryShuttle(
            settings,
            self.journal,
            self.store,
            self.stm,
            metrics,
            embedder.model_id,
            self._schedule_embedding,
            telemetry.roots,
        )
        self.results = LevelCache("l1", settings.result_cache_size, metrics)
        self.query_vectors = LevelCache("l2", settings.embedding_cache_size, metrics)
        self.ids = IdFilter(settings.bloom_capacity, metrics, enabled=self.store.enumerable)
        self.search_window = SearchCacheWindow(metrics)
        self._lexical = HashEmbedder(256)
        self.loop_lag = LoopLagMonitor(metrics, settings.slow_callback_ms)
        self.gc = GcPolicy(metrics, settings.gc_freeze_interval_s, settings.gc_full_collect_interval_s)
        retry = settings.retry_after_s
        self.write_limit = ConcurrencyLimit("write", settings.max_inflight_writes, retry, metrics)
        self.read_limit = ConcurrencyLimit("read", settings.max_inflight_reads, retry, metrics)
        self._inflight: dict[str, tuple[str, asyncio.Future[Memory]]] = {}
        self._reserved = 0  # writes admitted but not yet queued for embedding
        self._ready_vectors: list[tuple[UserSpace, Memory, int, np.ndarray, float]] = []
        self._housekeeping: asyncio.Task[None] | None = None
        self._warmup: asyncio.Task[None] | None = None
        self.warm = False
        metrics.embedding_backlog.set_function(lambda: self.worker.backlog)
        metrics.shuttle_pending.set_function(lambda: self.journal.pending)
        metrics.shuttle_oldest_age.set_function(self._oldest_pending_age)

    # ---- lifecycle -------------------------------------------------------------------------
    async def start(self) -> None:
        self.gc.install()
        self.loop_lag.start()
        await self.journal.start()
        await self.store.start()
        await self.worker.warm_up()
        self.worker.start()
        self.shuttle.start()
        await self.shuttle.check_store()
        self._warmup = asyncio.create_task(self._warm_up(), name="warm-up")
        self._housekeeping = asyncio.create_task(self._housekeep(), name="housekeeping")

    async def close(self) -> None:
        for task in (self._warmup, self._housekeeping):
            if task:
                task.cancel()
        await asyncio.gather(*(t for t in (self._warmup, self._housekeeping) if t), return_exceptions=True)
        await self.shuttle.close(drain_timeout_s=self.settings.shutdown_drain_s)
        await self.worker.close()
        await self.journal.close()
        await self.store.close()
        await self.loop_lag.close()
        self.gc.uninstall()

    async def _warm_up(self) -> None:
        """Re-embed journal rows that lost their pending embedding in a crash, fill the Bloom filter
        and promote the most recently active users: the tiers rebuilt from disk."""
        try:
            unembedded = [
                op
                for op in await self.journal.read_after(0, 10_000_000)
                if op.kind == "upsert" and op.memory.embedding is None
            ]
            for op in unembedded:
                space = self.stm.peek(op.memory.user_id)
                if space is None or op.memory.id not in space.records:
                    self._embed_for_journal(op.memory, op.seq)
            if self.ids.enabled:
                self.ids.update(await self.journal.ids())
                async for chunk in self.store.iter_ids():
                    self.ids.update(chunk)
                self.ids.ready = True
            for user_id in await self.store.recent_users(self.settings.stm_warm_users):
                if self.stm.nbytes > 0.8 * self.stm.budget:
                    break
                await self.shuttle.promote(self.stm.space(user_id))
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("warm-up incomplete; users will be promoted on first access")
            self.metrics.errors.labels("stm", "warm_up", "internal").inc()
        self.warm = True

    def _oldest_pending_age(self) -> float:
        at = self.shuttle.oldest_pending_at
        return max(0.0, time.time() - at) if at and self.journal.pending else 0.0

    async def _housekeep(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            try:
                self.stm.evict_over_budget()
                self.gc.tick()
                if time.monotonic() - self.shuttle.last_store_ok > 5.0:
                    await self.shuttle.check_store()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("housekeeping failed")

    @property
    def ready(self) -> bool:
        return self.warm and self.shuttle.store_ok

    # ---- embedding -------------------------------------------------------------------------
    def _schedule_embedding(self, space: UserSpace, memories: list[Memory], seqs: list[int]) -> None:
        """Queue vectors for memories; each lands in the index (if still resident) and the journal."""
        acked = time.perf_counter()
        for memory, seq in zip(memories, seqs, strict=True):
            key, fut = self.worker.enqueue(memory.content)
            space.pending[memory.id] = (key, fut)
            fut.add_done_callback(functools.partial(self._vector_ready, space, memory, seq, acked=acked))

    def _embed_for_journal(self, memory: Memory, seq: int) -> None:
        _, fut = self.worker.enqueue(memory.content)
        fut.add_done_callback(lambda f: self._attach(seq, f))

    def _attach(self, seq: int, fut: asyncio.Future[np.ndarray]) -> None:
        if not fut.cancelled() and fut.exception() is None:
            self.journal.attach_embeddings([(seq, fut.result().tobytes(), self.embedder.model_id)])

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
        self._ready_vectors.append((space, memory, seq, fut.result(), acked))
        if len(self._ready_vectors) == 1:
            asyncio.get_running_loop().call_soon(self._flush_vectors)

    def _flush_vectors(self) -> None:
        ready, self._ready_vectors = self._ready_vectors, []
        now = time.perf_counter()
        attach: list[tuple[int, bytes, str]] = []
        backfill: list[Memory] = []
        per_space: dict[int, tuple[UserSpace, dict[str, np.ndarray]]] = {}
        for space, memory, seq, vector, acked in ready:
            current = space.records.get(memory.id) is memory
            if seq:
                attach.append((seq, vector.tobytes(), self.embedder.model_id))
            elif self.store.keeps_vectors and current:
                # It came from the store without a vector (or with another model's): give the store this one.
                backfill.append(dataclasses.replace(memory, embedding=vector.tobytes(), model=self.embedder.model_id))
            if current and self.stm.is_current(space):
                per_space.setdefault(id(space), (space, {}))[1][memory.id] = vector  # the last vector wins
                self.metrics.time_to_searchable.observe(now - acked)
            else:
                space.pending.pop(memory.id, None)
        self.journal.attach_embeddings(attach)
        if backfill:
            self.journal.backfill_vectors(backfill)
        for space, vectors in per_space.values():
            self.stm.set_vectors(space, list(vectors), np.vstack(list(vectors.values())))

    # ---- writes ----------------------------------------------------------------------------
    @contextlib.contextmanager
    def _admit_writes(self, n: int) -> Iterator[None]:
        """Refuse writes the backlogs cannot take; reserve room for those admitted until they are queued.

        Without the reservation, concurrent adds that all passed the check before any of them had
        queued its embedding overshot the bound by up to the number of adds in flight.
        """
        s = self.settings
        if self.worker.backlog + self._reserved + n > s.embed_max_backlog:
            self.metrics.admission_rejected.labels("write", "jm_embedding_backlog").inc()
            raise Overloaded(
                f"embedding backlog full ({self.worker.backlog} memories waiting for the model)",
                retry_after_s=s.retry_after_s,
                status=429,
            )
        if self.journal.pending + self._reserved + n > s.journal_max_pending:
            self.metrics.admission_rejected.labels("write", "shuttle_backlog").inc()
            raise Overloaded(
                f"long-term store backlog full ({self.journal.pending} writes not yet shipped)",
                retry_after_s=s.retry_after_s,
            )
        self._reserved += n
        try:
            yield
        finally:
            self._reserved -= n

    async def _existing(self, user_id: str, memory_id: str) -> Memory | None:
        """The memory already stored under this user's id, if any (for idempotent writes)."""
        key = _key(user_id, memory_id)
        if key in self._inflight:
            return await asyncio.shield(self._inflight[key][1])
        space = self.stm.peek(user_id)
        if space is not None and memory_id in space.records:
            return space.records[memory_id]
        if space is not None and space.loaded:
            return None
        if not self.ids.may_exist(key):
            return None
        space = await self._hot(user_id)
        return space.records.get(memory_id)

    async def add(self, user_id: str, items: Sequence[NewMemory], mode: str = "single") -> list[Memory]:
        """Durably store memories; returns them (existing ones for idempotent repeats), in order."""
        start = time.perf_counter()
        with self.write_limit.slot(), self._admit_writes(len(items)):
            await self.faults.before("add")
            out: list[Memory | None] = [None] * len(items)
            first: dict[str, int] = {}
            candidates: list[tuple[int, Memory]] = []
            now = time.time()
            for i, item in enumerate(items):
                memory = Memory(item.id or str(uuid.uuid4()), user_id, item.content, item.metadata, item.salience,
                                item.created_at or now)  # fmt: skip
                if item.id is not None:
                    if item.id in first:
                        if candidates[first[item.id]][1].fingerprint() != memory.fingerprint():
                            raise Conflict("repeated in this batch with different content", field=_id_field(mode, i))
                        continue
                    first[item.id] = len(candidates)
                candidates.append((i, memory))
            fresh: list[tuple[int, Memory]] = []
            for i, memory in candidates:
                existing = await self._existing(user_id, memory.id) if items[i].id is not None else None
                if existing is None:
                    fresh.append((i, memory))
                elif existing.fingerprint() != memory.fingerprint():
                    raise Conflict(f"{memory.id} already exists with different content", field=_id_field(mode, i))
                else:
                    out[i] = existing
            with child_span(self.tracer, "journal.commit") as span:
                span.set_attribute("jm.memories", len(fresh))
                await self._commit(user_id, fresh, out, mode)
            for i, item in enumerate(items):
                if out[i] is None and item.id is not None:
                    out[i] = out[candidates[first[item.id]][0]]
        elapsed = time.perf_counter() - start
        self.metrics.creation_duration.labels(mode).observe(elapsed, current_exemplar())
        self.telemetry.window.record("creation", elapsed)
        self.telemetry.perf.maybe_log(
            f"memory_creation_{mode}", start, user_id, sum(len(i.content) for i in items), cache_hit=False
        )
        return [m for m in out if m is not None]

    async def _commit(self, user_id: str, fresh: list[tuple[int, Memory]], out: list[Memory | None], mode: str) -> None:
        """Journal the fresh writes; an id a concurrent request reserved since our check is decided by it."""
        loop = asyncio.get_running_loop()
        reserved: list[tuple[str, Memory]] = []
        contested: list[tuple[int, Memory, asyncio.Future[Memory]]] = []
        free: list[tuple[int, Memory]] = []
        for i, memory in fresh:  # no await in this loop: checking and reserving is atomic
            key = _key(user_id, memory.id)
            if key in self._inflight:
                contested.append((i, memory, self._inflight[key][1]))
                continue
            self._inflight[key] = (memory.fingerprint(), loop.create_future())
            reserved.append((key, memory))
            free.append((i, memory))
        if free:
            try:
                seqs = await self.journal.append([("upsert", m) for _, m in free])
            except BaseException as exc:
                for key, _ in reserved:
                    _, fut = self._inflight.pop(key)
                    fut.set_exception(exc)
                    fut.exception()  # mark retrieved: there may be no other waiter
                raise
            space = self.stm.space(user_id)
            memories = [m for _, m in free]
            for memory in memories:
                self.stm.put(space, memory)
                self.ids.add(_key(user_id, memory.id))
            self._schedule_embedding(space, memories, seqs)
            for i, memory in free:
                out[i] = memory
            for key, memory in reserved:
                _, fut = self._inflight.pop(key)
                fut.set_result(memory)
            self.shuttle.wake()
        for i, memory, fut in contested:
            winner = await asyncio.shield(fut)
            if winner.fingerprint() != memory.fingerprint():
                raise Conflict(f"{memory.id} already exists with different content", field=_id_field(mode, i))
            out[i] = winner

    async def delete(self, user_id: str, memory_id: str) -> None:
        with self.write_limit.slot():
            await self.faults.before("delete")
            if not self.ids.may_exist(_key(user_id, memory_id)):
                raise NotFound(f"id: no memory {memory_id} for this user", field="id")
            space = await self._hot(user_id)
            memory = space.records.get(memory_id)
            if memory is None:
                raise NotFound(f"id: no memory {memory_id} for this user", field="id")
            await self.journal.append([("delete", memory)])
            if space.records.get(memory_id) is memory:
                self.stm.remove(space, memory_id)
            self.shuttle.wake()

    # ---- reads -----------------------------------------------------------------------------
    async def _hot(self, user_id: str) -> UserSpace:
        space = self.stm.space(user_id)
        await self.shuttle.promote(space)
        return space

    async def get(self, user_id: str, memory_id: str) -> Memory:
        with self.read_limit.slot():
            await self.faults.before("get")
            space = self.stm.peek(user_id)
            if space is not None and memory_id in space.records:
                self.stm.space(user_id)  # touch: most recently used
                return space.records[memory_id]
            if not self.ids.may_exist(_key(user_id, memory_id)):
                raise NotFound(f"id: no memory {memory_id} for this user", field="id")
            space = await self._hot(user_id)
            memory = space.records.get(memory_id)
            if memory is None:
                raise NotFound(f"id: no memory {memory_id} for this user", field="id")
            return memory

    async def list_page(self, user_id: str, limit: int, before: tuple[float, str] | None) -> list[Memory]:
        with self.read_limit.slot():
            await self.faults.before("list")
            space = await self._hot(user_id)
            return self.stm.page(space, limit, before)

    async def search(self, user_id: str, query: str, k: int, filters: JsonObject | None) -> SearchResult:
        start = time.perf_counter()
        with self.read_limit.slot():
            await self.faults.before("search")
            space = self.stm.space(user_id)
            if space.loaded:
                cold = False
            else:
                with child_span(self.tracer, "stm.promote"):
                    cold = await self.shuttle.promote(space)
            filter_key = tuple(sorted((k_, repr(v)) for k_, v in filters.items())) if filters else ()
            cache_key = (user_id, space.version, query, k, filter_key)
            # Always consulted, so L1 lookups count every search (the hit-rate rule relies on it); an entry
            # for the current version cannot exist while writes are pending (each write bumps the version).
            cached = self.results.get(cache_key)
            if cached is not None:
                self.search_window.record(True)
                return self._finish(cached, "cache", start, user_id, query)
            qvec = self.query_vectors.get((self.embedder.model_id, query))
            hit_l2 = qvec is not None
            pending = self._await_pending(space)
            if qvec is None:
                with child_span(self.tracer, "embedding.query"):
                    qvec = (await self.worker.embed_now([query]))[0]
                self.query_vectors.put((self.embedder.model_id, query), qvec)
            self.search_window.record(hit_l2)
            await pending
            with child_span(self.tracer, "stm.search") as span:
                span.set_attribute("jm.k", k)
                span.set_attribute("jm.index", space.index.kind.value)
                hits = [SearchHit(m, s, "stm") for m, s in self.stm.search(space, qvec, k, filters)]
            if space.pending:
                hits = self._merge_lexical(space, query, k, filters, hits)
            elif self.results.enabled:
                self.results.put((user_id, space.version, query, k, filter_key), hits)
            return self._finish(hits, "ltm" if cold else "stm", start, user_id, query, cache_hit=hit_l2)

    def _finish(self, hits: list[SearchHit], tier: str, start: float, user_id: str, query: str,
                cache_hit: bool = True) -> SearchResult:  # fmt: skip
        took = time.perf_counter() - start
        self.metrics.search_duration.labels(tier).observe(took, current_exemplar())
        self.telemetry.window.record("search", took)
        self.telemetry.perf.maybe_log(f"search_{tier}", start, user_id, len(query), cache_hit)
        return SearchResult(hits, tier, took)

    async def _await_pending(self, space: UserSpace) -> None:
        """Read-your-writes: bring the user's own queued embeddings forward and wait a little for them."""
        if not space.pending:
            return
        waiting = list(space.pending.values())[-READ_YOUR_WRITES_PRIORITY:]
        self.worker.prioritise([key for key, _ in waiting])
        # The futures' own callbacks index the vectors before this wait returns (they were added first).
        await asyncio.wait([fut for _, fut in waiting], timeout=READ_YOUR_WRITES_WAIT_S)

    def _merge_lexical(
        self, space: UserSpace, query: str, k: int, filters: JsonObject | None, hits: list[SearchHit]
    ) -> list[SearchHit]:
        """Score memories still waiting for their vector lexically, so a fresh write is never invisible."""
        pending = [space.records[i] for i in list(space.pending) if i in space.records]
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


#: A cursor is a position, `<created_at>_<id>`: every string matching this is a valid cursor.
CURSOR_PATTERN = r"^[0-9]+(\.[0-9]+)?(e[-+]?[0-9]+)?_[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"


def parse_cursor(cursor: str) -> tuple[float, str]:
    created_at, _, memory_id = cursor.partition("_")
    return float(created_at), memory_id


def make_cursor(memory: Memory) -> str:
    return f"{memory.created_at!r}_{memory.id}"
