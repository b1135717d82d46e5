"""The write use cases: add (single and batch) and delete.

The acknowledgement path of an add is: admit (bounded backlogs), check idempotency, reserve the ids,
commit to the journal (group commit), insert into the short-term tier, queue the embedding. The
model never runs on it. A 201 therefore means: durable in the journal, visible to get and list at
once, and searchable as soon as the vector lands (lexically scored until then, see `reads`).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from jean_memory.core.admission import BacklogAdmission, ConcurrencyLimit
from jean_memory.core.caches import IdFilter
from jean_memory.core.vectors import VectorDelivery
from jean_memory.errors import Conflict, NotFound
from jean_memory.memory import JsonObject, Memory, memory_key
from jean_memory.storage.journal import Journal
from jean_memory.storage.shuttle import MemoryShuttle
from jean_memory.storage.stm import ShortTermTier
from jean_memory.telemetry.core import Telemetry, current_exemplar
from jean_memory.telemetry.spans import child_span


@dataclass(slots=True)
class NewMemory:
    """A validated write request item."""

    content: str
    metadata: JsonObject
    salience: float
    id: str | None = None
    created_at: float | None = None


class WriteOps(Protocol):
    """What the API calls to write (implemented by `Writes`, and by the fault-injecting wrapper)."""

    async def add(self, user_id: str, items: Sequence[NewMemory], mode: str = "single") -> list[Memory]: ...

    async def delete(self, user_id: str, memory_id: str) -> None: ...


def id_field(mode: str, index: int) -> str:
    """The field a write error names: `id` for a single add, `items[3].id` in a batch."""
    return "id" if mode == "single" else f"items[{index}].id"


class Writes:
    def __init__(
        self,
        journal: Journal,
        stm: ShortTermTier,
        shuttle: MemoryShuttle,
        ids: IdFilter,
        vectors: VectorDelivery,
        backlogs: BacklogAdmission,
        limit: ConcurrencyLimit,
        telemetry: Telemetry,
    ) -> None:
        self._journal = journal
        self._stm = stm
        self._shuttle = shuttle
        self._ids = ids
        self._vectors = vectors
        self._backlogs = backlogs
        self._limit = limit
        self._telemetry = telemetry
        self._tracer = telemetry.tracer
        self._creation = telemetry.metrics.writes.creation_duration
        #: Writes being journaled, by memory key: a concurrent write of the same id waits for this one.
        self._inflight: dict[str, tuple[str, asyncio.Future[Memory]]] = {}

    async def _existing(self, user_id: str, memory_id: str) -> Memory | None:
        """The memory already stored under this user's id, if any (for idempotent writes)."""
        key = memory_key(user_id, memory_id)
        if key in self._inflight:
            return await asyncio.shield(self._inflight[key][1])
        space = self._stm.peek(user_id)
        if space is not None and memory_id in space.records:
            return space.records[memory_id]
        if space is not None and space.loaded:
            return None
        if not self._ids.may_exist(key):
            return None
        space = await self._shuttle.hot(user_id)
        return space.records.get(memory_id)

    async def add(self, user_id: str, items: Sequence[NewMemory], mode: str = "single") -> list[Memory]:
        """Durably store memories; returns them (existing ones for idempotent repeats), in order."""
        start = time.perf_counter()
        with self._limit.slot(), self._backlogs.admit(len(items)):
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
                            raise Conflict("repeated in this batch with different content", field=id_field(mode, i))
                        continue
                    first[item.id] = len(candidates)
                candidates.append((i, memory))
            fresh: list[tuple[int, Memory]] = []
            for i, memory in candidates:
                existing = await self._existing(user_id, memory.id) if items[i].id is not None else None
                if existing is None:
                    fresh.append((i, memory))
                elif existing.fingerprint() != memory.fingerprint():
                    raise Conflict(f"{memory.id} already exists with different content", field=id_field(mode, i))
                else:
                    out[i] = existing
            with child_span(self._tracer, "journal.commit") as span:
                span.set_attribute("jm.memories", len(fresh))
                await self._commit(user_id, fresh, out, mode)
            for i, item in enumerate(items):
                if out[i] is None and item.id is not None:
                    out[i] = out[candidates[first[item.id]][0]]
        elapsed = time.perf_counter() - start
        self._creation.labels(mode).observe(elapsed, current_exemplar())
        self._telemetry.window.record("creation", elapsed)
        self._telemetry.perf.maybe_log(
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
            key = memory_key(user_id, memory.id)
            if key in self._inflight:
                contested.append((i, memory, self._inflight[key][1]))
                continue
            self._inflight[key] = (memory.fingerprint(), loop.create_future())
            reserved.append((key, memory))
            free.append((i, memory))
        if free:
            try:
                seqs = await self._journal.append([("upsert", m) for _, m in free])
            except BaseException as exc:
                for key, _ in reserved:
                    _, fut = self._inflight.pop(key)
                    fut.set_exception(exc)
                    fut.exception()  # mark retrieved: there may be no other waiter
                raise
            space = self._stm.space(user_id)
            memories = [m for _, m in free]
            for memory in memories:
                self._stm.put(space, memory)
                self._ids.add(memory_key(user_id, memory.id))
            self._vectors.schedule(space, memories, seqs)
            for i, memory in free:
                out[i] = memory
            for key, memory in reserved:
                _, fut = self._inflight.pop(key)
                fut.set_result(memory)
            self._shuttle.wake()
        for i, memory, fut in contested:
            winner = await asyncio.shield(fut)
            if winner.fingerprint() != memory.fingerprint():
                raise Conflict(f"{memory.id} already exists with different content", field=id_field(mode, i))
            out[i] = winner

    async def delete(self, user_id: str, memory_id: str) -> None:
        with self._limit.slot():
            if not self._ids.may_exist(memory_key(user_id, memory_id)):
                raise NotFound(f"id: no memory {memory_id} for this user", field="id")
            space = await self._shuttle.hot(user_id)
            memory = space.records.get(memory_id)
            if memory is None:
                raise NotFound(f"id: no memory {memory_id} for this user", field="id")
            await self._journal.append([("delete", memory)])
            if space.records.get(memory_id) is memory:
                self._stm.remove(space, memory_id)
            self._shuttle.wake()
