"""Embedded mode's writes: add (single and batch, optionally deduplicated), update, delete, forget a user,
journaled locally and shipped to the store by the shuttle.

An update journals the memory's next revision (the store keeps every revision in its history); a new
text is searchable by its new vector only, never by the old one. Forgetting a user journals one
`forget` and drops the user's space: the shuttle removes the user from the store, history included.
Forgetting a scope (an agent's or a run's memories) and a bulk delete by filter (`delete_matching`, of
a scope or of the whole user) are one operation: it journals a `delete` of each memory selected, so
every tier, the store and the history treat them as any delete (each keeps its history, ending in the
delete), and the user's other memories stay.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

import numpy as np

from jean_memory.cooperative import Slices
from jean_memory.core.admission import BacklogAdmission, ConcurrencyLimit
from jean_memory.core.caches import IdFilter
from jean_memory.core.dedupe import Deduplicator
from jean_memory.core.gate import UserGate
from jean_memory.core.ids import new_ids
from jean_memory.core.vectors import VectorDelivery
from jean_memory.core.writes import (
    NewMemory,
    Patch,
    Stored,
    dedupe_outcomes,
    id_field,
    not_found,
    observe_creation,
)
from jean_memory.embedded.tiers import EmbeddedTiers
from jean_memory.errors import Conflict
from jean_memory.filters import Filter
from jean_memory.memory import ALL, Memory, Scope, memory_key, same_version
from jean_memory.storage.journal import Journal
from jean_memory.storage.shuttle import MemoryShuttle
from jean_memory.storage.stm import ShortTermTier, UserSpace
from jean_memory.telemetry.core import Telemetry
from jean_memory.telemetry.spans import child_span

#: Most memories published into the tier per slice: a deduplicated batch's vectors, known already, are
#: indexed by one callback per slice (`VectorDelivery.deliver`), which this bounds.
PUBLISH_SLICE = 128


class Writes:
    def __init__(
        self,
        journal: Journal,
        stm: ShortTermTier,
        tiers: EmbeddedTiers,
        shuttle: MemoryShuttle,
        ids: IdFilter,
        vectors: VectorDelivery,
        dedupe: Deduplicator,
        gate: UserGate,
        backlogs: BacklogAdmission,
        limit: ConcurrencyLimit,
        telemetry: Telemetry,
    ) -> None:
        self._gate = gate
        self._journal = journal
        self._stm = stm
        self._tiers = tiers
        self._shuttle = shuttle
        self._ids = ids
        self._vectors = vectors
        self._dedupe = dedupe
        self._backlogs = backlogs
        self._limit = limit
        self._telemetry = telemetry
        self._tracer = telemetry.tracer
        self._lifecycle = telemetry.metrics.lifecycle
        #: Writes being journaled, by memory key: a concurrent write of the same id waits for this one. One
        #: future per append (it resolves to the append's memories by key), not one per memory.
        self._inflight: dict[str, asyncio.Future[dict[str, Memory]]] = {}

    async def _existing(self, user_id: str, memory_id: str) -> Memory | None:
        """The memory already stored under this user's id, if any (for idempotent writes)."""
        key = memory_key(user_id, memory_id)
        if key in self._inflight:
            return (await asyncio.shield(self._inflight[key]))[key]
        space = self._stm.peek(user_id)
        found = space.records.get(memory_id) if space is not None else None
        if found is not None:
            return found
        if space is not None and space.loaded:
            return None
        if not self._ids.may_exist(key):
            return None
        space = await self._tiers.hot(user_id)
        return space.records.get(memory_id)

    async def add(
        self, user_id: str, items: Sequence[NewMemory], mode: str = "single", dedupe: bool = False
    ) -> list[Stored]:
        """Durably store memories; returns them (existing ones for idempotent repeats and duplicates), in order."""
        start = time.perf_counter()
        with self._limit.slot(), self._backlogs.admit(len(items)):
            async with self._gate.shared(user_id):
                out = await self._add(user_id, items, mode, dedupe)
        observe_creation(self._telemetry, mode, start, user_id, items)
        return out

    async def _add(self, user_id: str, items: Sequence[NewMemory], mode: str, dedupe: bool) -> list[Stored]:
        out: list[Stored | None] = [None] * len(items)
        first: dict[str, int] = {}
        candidates: list[tuple[int, Memory]] = []
        now = time.time()
        minted = new_ids(sum(1 for item in items if not item.id))
        slices = Slices()
        for i, item in enumerate(items):
            memory = item.memory(item.id or next(minted), user_id, now)
            await slices.pause()
            if item.id is not None:
                if item.id in first:
                    if candidates[first[item.id]][1].fingerprint() != memory.fingerprint():
                        raise Conflict("repeated in this batch with different content", field=id_field(mode, i))
                    continue
                first[item.id] = len(candidates)
            candidates.append((i, memory))
        fresh: list[tuple[int, Memory]] = []
        for i, memory in candidates:
            await slices.pause()
            existing = await self._existing(user_id, memory.id) if items[i].id is not None else None
            if existing is None:
                fresh.append((i, memory))
            elif existing.fingerprint() != memory.fingerprint():
                raise Conflict(f"{memory.id} already exists with different content", field=id_field(mode, i))
            else:
                out[i] = Stored(existing)
        vectors: dict[str, np.ndarray] = {}
        if dedupe and fresh:
            fresh = await self._deduplicate(user_id, fresh, out, vectors, now)
        with child_span(self._tracer, "journal.commit") as span:
            span.set_attribute("jm.memories", len(fresh))
            await self._commit(user_id, fresh, out, mode, vectors)
        for i, item in enumerate(items):
            if out[i] is None and item.id is not None:
                out[i] = out[candidates[first[item.id]][0]]
        return [s for s in out if s is not None]

    async def _deduplicate(
        self, user_id: str, fresh: list[tuple[int, Memory]], out: list[Stored | None], vectors: dict[str, np.ndarray],
        now: float,
    ) -> list[tuple[int, Memory]]:  # fmt: skip
        """Drop the items that duplicate a memory (their outcome names it); keep the vectors of the rest."""
        space = await self._tiers.hot(user_id)
        verdicts = await self._dedupe.judge(space, [m.content for _, m in fresh], now, [m.scope for _, m in fresh])
        create, outcomes = dedupe_outcomes([m for _, m in fresh], verdicts)
        for n, stored in outcomes.items():
            out[fresh[n][0]] = stored
        self._lifecycle.deduplicated.inc(len(outcomes))
        for n in create:
            vectors[fresh[n][1].id] = verdicts[n].vector
        return [fresh[n] for n in create]

    async def _commit(
        self, user_id: str, fresh: list[tuple[int, Memory]], out: list[Stored | None], mode: str,
        vectors: dict[str, np.ndarray],
    ) -> None:  # fmt: skip
        """Journal the fresh writes; an id a concurrent request reserved since our check is decided by it."""
        reservation: asyncio.Future[dict[str, Memory]] = asyncio.get_running_loop().create_future()
        reserved: dict[str, Memory] = {}
        contested: list[tuple[int, Memory, str]] = []
        free: list[tuple[int, Memory]] = []
        for i, memory in fresh:  # no await in this loop: checking and reserving is atomic
            key = memory_key(user_id, memory.id)
            if key in self._inflight:
                contested.append((i, memory, key))
                continue
            self._inflight[key] = reservation
            reserved[key] = memory
            free.append((i, memory))
        waits = {key: self._inflight[key] for _, _, key in contested}
        if free:
            try:
                seqs = await self._journal.append([("upsert", m) for _, m in free])
            except BaseException as exc:
                for key in reserved:
                    del self._inflight[key]
                reservation.set_exception(exc)
                reservation.exception()  # mark retrieved: there may be no other waiter
                raise
            await self._publish(user_id, [m for _, m in free], seqs, vectors)
            for i, memory in free:
                out[i] = Stored(memory)
            for key in reserved:
                del self._inflight[key]
            reservation.set_result(reserved)
            self._shuttle.wake()
        for i, memory, key in contested:
            winner = (await asyncio.shield(waits[key]))[key]
            if winner.fingerprint() != memory.fingerprint():
                raise Conflict(f"{memory.id} already exists with different content", field=id_field(mode, i))
            out[i] = Stored(winner)

    async def _publish(
        self, user_id: str, memories: list[Memory], seqs: list[int], vectors: dict[str, np.ndarray]
    ) -> None:
        """Journaled memories into the short-term tier and the embedding queue, a slice at a time.

        Each memory lands whole and in order; a reader may see the first of a large batch before its
        last, as it sees any committed write (the batch is acknowledged once all are in). The tier may
        let the user go between slices, so each slice asks for the user's current space.
        """
        slices = Slices()
        start = 0
        while start < len(memories):
            space = self._stm.space(user_id)
            end = start
            while end < len(memories) and end - start < PUBLISH_SLICE:
                memory = memories[end]
                self._stm.put(space, memory)
                self._ids.add(memory_key(user_id, memory.id))
                end += 1
                if slices.due():
                    break
            self._embed(space, memories[start:end], seqs[start:end], vectors)
            start = end
            if start < len(memories) or len(memories) > PUBLISH_SLICE:
                # The slice's known vectors are indexed before the next slice; after a large batch's last
                # one, its bookkeeping and response (a loop over every item each) start a callback afresh.
                await slices.next_slice()

    def _embed(self, space: UserSpace, memories: list[Memory], seqs: list[int], vectors: dict[str, np.ndarray]) -> None:
        """Queue the vectors to compute; those computed on the write path (deduplication) land at once."""
        known = [(m, s) for m, s in zip(memories, seqs, strict=True) if m.id in vectors]
        queued = [(m, s) for m, s in zip(memories, seqs, strict=True) if m.id not in vectors]
        if known:
            self._vectors.deliver(
                space, [m for m, _ in known], [s for _, s in known], [vectors[m.id] for m, _ in known]
            )
        if queued:
            self._vectors.schedule(space, [m for m, _ in queued], [s for _, s in queued])

    async def update(self, user_id: str, memory_id: str, patch: Patch) -> Memory:
        """The memory's next revision (or the memory unchanged, when the patch changes nothing: a retry)."""
        with self._limit.slot():
            async with self._gate.exclusive(user_id):
                space = await self._tiers.hot(user_id)
                current = space.records.get(memory_id)
                now = time.time()
                if current is None or current.expired(now):
                    raise not_found(memory_id)
                updated = patch.apply(current, now)
                if updated is current:
                    return current
                (seq,) = await self._journal.append([("upsert", updated)])
                if same_version(space.records.get(memory_id), current) and self._stm.is_current(space):
                    self._stm.put(space, updated)
                    if updated.content != current.content:
                        self._vectors.schedule(space, [updated], [seq])
                self._shuttle.wake()
        self._lifecycle.updates.inc()
        return updated

    async def delete(self, user_id: str, memory_id: str) -> None:
        with self._limit.slot():
            if not self._ids.may_exist(memory_key(user_id, memory_id)):
                raise not_found(memory_id)
            # Exclusive, as an update: an update journaled between our read and our append would leave
            # its revision in the tier after the delete was acknowledged (issue 20, embedded mode).
            async with self._gate.exclusive(user_id):
                space = await self._tiers.hot(user_id)
                memory = space.records.get(memory_id)
                if memory is None or memory.expired(time.time()):
                    raise not_found(memory_id)
                await self._journal.append([("delete", memory)])
                if same_version(space.records.get(memory_id), memory):
                    self._stm.remove(space, memory_id)
                self._shuttle.wake()

    async def forget(self, user_id: str, scope: Scope = ALL) -> int:
        """Remove every memory of the user from every tier and the store (history too); how many there were.
        With a scope, only that scope's memories, each as a delete."""
        if scope:
            return await self.delete_matching(user_id, None, scope)
        with self._limit.slot():
            async with self._gate.exclusive(user_id):
                space = await self._tiers.hot(user_id)
                now = time.time()
                count = await self._stm.count(space, now)
                await self._journal.append([("forget", Memory("", user_id, "", {}, 0.0, now))])
                self._stm.drop(user_id)
                if self._tiers.residency is not None:
                    self._tiers.residency.forget(user_id)
                self._shuttle.wake()
        self._lifecycle.forgotten.inc(count)
        return count

    async def delete_matching(self, user_id: str, filters: Filter | None, scope: Scope = ALL) -> int:
        """Delete the user's memories in `scope` that the filter selects (None: all of the scope's): one
        journal append of their deletes, so the whole set is durable before the answer, then each leaves the
        tier, as a DELETE of each would (its history ends with the delete); how many live ones there were
        (expired ones that match go too, uncounted, as the sweep would take them). Exclusive, as a delete:
        no write of the user lands between the scan and the append."""
        with self._limit.slot():
            async with self._gate.exclusive(user_id):
                space = await self._tiers.hot(user_id)
                ids = await self._stm.matching(space, filters, scope)
                records = await space.records.read_many(ids)
                doomed = [m for i in ids if (m := records.get(i)) is not None]
                if not doomed:
                    return 0
                now = time.time()
                await self._journal.append([("delete", m) for m in doomed])
                slices = Slices()
                for memory in doomed:
                    if same_version(space.records.get(memory.id), memory):
                        self._stm.remove(space, memory.id)
                    await slices.pause()
                self._shuttle.wake()
        return sum(1 for m in doomed if not m.expired(now))
