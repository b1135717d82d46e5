"""The write use cases in cluster mode: durable means committed in PostgreSQL.

An add is validated and deduplicated within its request as in embedded mode, then handed to the group
commit, which decides idempotency against the store of record itself (the same id with the same
content is a repeat, with other content a conflict), whichever replica handled the first attempt.
Only after the commit is the request acknowledged. The replica then updates its own copy of the
user when it holds one, and embeds the new memories, whose claims it took in the commit.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence

from jean_memory.cluster.committer import GroupCommitter, Op, Outcome
from jean_memory.cluster.embedqueue import SharedEmbeddingQueue
from jean_memory.core.admission import BacklogAdmission, ConcurrencyLimit
from jean_memory.core.vectors import VectorDelivery
from jean_memory.core.writes import NewMemory, id_field
from jean_memory.errors import Conflict, NotFound
from jean_memory.memory import Memory
from jean_memory.storage.stm import ShortTermTier
from jean_memory.telemetry.core import Telemetry, current_exemplar
from jean_memory.telemetry.spans import child_span


class ClusterWrites:
    def __init__(
        self,
        committer: GroupCommitter,
        stm: ShortTermTier,
        vectors: VectorDelivery,
        queue: SharedEmbeddingQueue,
        backlogs: BacklogAdmission,
        limit: ConcurrencyLimit,
        telemetry: Telemetry,
    ) -> None:
        self._committer = committer
        self._stm = stm
        self._vectors = vectors
        self._queue = queue
        self._backlogs = backlogs
        self._limit = limit
        self._telemetry = telemetry
        self._tracer = telemetry.tracer
        self._creation = telemetry.metrics.writes.creation_duration

    async def add(self, user_id: str, items: Sequence[NewMemory], mode: str = "single") -> list[Memory]:
        start = time.perf_counter()
        with self._limit.slot(), self._backlogs.admit(len(items)):
            first: dict[str, int] = {}
            unique: list[Memory] = []
            position: list[int] = []  # item index -> index in `unique`
            now = time.time()
            for i, item in enumerate(items):
                memory = Memory(item.id or str(uuid.uuid4()), user_id, item.content, item.metadata, item.salience,
                                item.created_at or now)  # fmt: skip
                if item.id is not None and item.id in first:
                    if unique[first[item.id]].fingerprint() != memory.fingerprint():
                        raise Conflict("repeated in this batch with different content", field=id_field(mode, i))
                    position.append(first[item.id])
                    continue
                if item.id is not None:
                    first[item.id] = len(unique)
                position.append(len(unique))
                unique.append(memory)
            ops = [Op("add", m.id, m.content, m.metadata, m.salience, m.created_at) for m in unique]
            with child_span(self._tracer, "pg.commit") as span:
                span.set_attribute("jm.memories", len(ops))
                outcomes = await self._committer.submit(user_id, ops)
            for n, outcome in enumerate(outcomes):
                if outcome.status == "conflict":
                    i = position.index(n)
                    raise Conflict(f"{unique[n].id} already exists with different content", field=id_field(mode, i))
            stored = [self._stored(memory, outcome) for memory, outcome in zip(unique, outcomes, strict=True)]
            self._apply(user_id, [(m, o) for m, o in zip(stored, outcomes, strict=True) if o.status == "inserted"])
        elapsed = time.perf_counter() - start
        self._creation.labels(mode).observe(elapsed, current_exemplar())
        self._telemetry.window.record("creation", elapsed)
        self._telemetry.perf.maybe_log(
            f"memory_creation_{mode}", start, user_id, sum(len(i.content) for i in items), cache_hit=False
        )
        return [stored[p] for p in position]

    @staticmethod
    def _stored(memory: Memory, outcome: Outcome) -> Memory:
        """The memory as PostgreSQL holds it: ours, or the one an earlier attempt stored (a repeat)."""
        if outcome.status != "existing":
            return memory
        return Memory(
            memory.id, memory.user_id, outcome.content or "", outcome.metadata or {}, outcome.salience or 0.0,
            outcome.created_at or memory.created_at,
        )  # fmt: skip

    def _apply(self, user_id: str, inserted: list[tuple[Memory, Outcome]]) -> None:
        """Our copy of the user takes the new memories at once (when it holds the user), and the model
        embeds them (their claims are ours)."""
        if not inserted:
            return
        self._queue.claimed(len(inserted))
        version = inserted[0][1].version
        memories = [m for m, _ in inserted]
        space = self._stm.peek(user_id)
        if space is not None and space.loaded:
            for memory in memories:
                self._stm.put(space, memory)
            if space.cluster_version == version - 1:
                space.cluster_version = version
            self._vectors.schedule(space, memories, [version] * len(memories))
        else:
            for memory in memories:
                self._vectors.schedule_detached(memory, version)

    async def delete(self, user_id: str, memory_id: str) -> None:
        with self._limit.slot():
            (outcome,) = await self._committer.submit(user_id, [Op("delete", memory_id)])
            if outcome.status == "missing":
                raise NotFound(f"id: no memory {memory_id} for this user", field="id")
            space = self._stm.peek(user_id)
            if space is not None and space.loaded:
                self._stm.remove(space, memory_id)
                if space.cluster_version == outcome.version - 1:
                    space.cluster_version = outcome.version
