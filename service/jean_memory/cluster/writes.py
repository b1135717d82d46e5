"""The write use cases in cluster mode: durable means committed in PostgreSQL.

An add is validated and deduplicated within its request as in embedded mode, then handed to the group
commit, which decides idempotency against the store of record itself (the same id with the same
content is a repeat, with other content a conflict), whichever replica handled the first attempt.
Only after the commit is the request acknowledged. Before that, the committer hands the whole group
to `OwnCommits`, which puts its changes into this replica's copies of their users when that moves a
copy exactly one version forward (otherwise a catch-up brings them) and embeds the new texts, whose
claims this replica took in the commit.

Updates, deletes and forgetting a user are operations of the same group commit: one transaction
with every other write waiting, ordered after the user's earlier writes by the user's version row
(so an add is wholly before or wholly after a forget of its user, on every replica).
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np

from jean_memory.cluster.committer import GroupCommitter, Op, Outcome
from jean_memory.cluster.tiers import ClusterTiers
from jean_memory.cooperative import Slices
from jean_memory.core.admission import BacklogAdmission, ConcurrencyLimit
from jean_memory.core.dedupe import Deduplicator
from jean_memory.core.ids import new_ids
from jean_memory.core.writes import (
    NewMemory,
    Patch,
    Stored,
    dedupe_outcomes,
    id_field,
    not_found,
    observe_creation,
)
from jean_memory.errors import Conflict
from jean_memory.filters import Filter
from jean_memory.memory import ALL, Memory, Scope
from jean_memory.storage.stm import ShortTermTier
from jean_memory.telemetry.core import Telemetry
from jean_memory.telemetry.spans import child_span

#: Deletes of one bulk delete committed per transaction (a group commit takes at most JM_CLUSTER_COMMIT_MAX
#: operations; smaller chunks let other requests' writes share the commits in between).
DELETE_CHUNK = 256


class ClusterWrites:
    def __init__(
        self,
        committer: GroupCommitter,
        tiers: ClusterTiers,
        dedupe: Deduplicator,
        backlogs: BacklogAdmission,
        limit: ConcurrencyLimit,
        telemetry: Telemetry,
    ) -> None:
        self._committer = committer
        self._tiers = tiers
        self._dedupe = dedupe
        self._backlogs = backlogs
        self._limit = limit
        self._telemetry = telemetry
        self._tracer = telemetry.tracer
        self._lifecycle = telemetry.metrics.lifecycle

    async def add(
        self, user_id: str, items: Sequence[NewMemory], mode: str = "single", dedupe: bool = False
    ) -> list[Stored]:
        start = time.perf_counter()
        with self._limit.slot(), self._backlogs.admit(len(items)):
            out = await self._add(user_id, items, mode, dedupe)
        observe_creation(self._telemetry, mode, start, user_id, items)
        return out

    async def _add(self, user_id: str, items: Sequence[NewMemory], mode: str, dedupe: bool) -> list[Stored]:
        first: dict[str, int] = {}
        unique: list[Memory] = []
        position: list[int] = []  # item index -> index in `unique`
        now = time.time()
        minted = new_ids(sum(1 for item in items if not item.id))
        slices = Slices()
        for i, item in enumerate(items):
            memory = item.memory(item.id or next(minted), user_id, now)
            await slices.pause()
            if item.id is not None and item.id in first:
                if unique[first[item.id]].fingerprint() != memory.fingerprint():
                    raise Conflict("repeated in this batch with different content", field=id_field(mode, i))
                position.append(first[item.id])
                continue
            if item.id is not None:
                first[item.id] = len(unique)
            position.append(len(unique))
            unique.append(memory)
        results: dict[int, Stored] = {}
        vectors: dict[int, np.ndarray] = {}
        create = list(range(len(unique)))
        if dedupe:
            space = await self._tiers.hot(user_id)
            verdicts = await self._dedupe.judge(space, [m.content for m in unique], now, [m.scope for m in unique])
            create, results = dedupe_outcomes(unique, verdicts)
            self._lifecycle.deduplicated.inc(len(results))
            vectors = {n: verdicts[n].vector for n in create}
        ops = [
            Op(
                "add",
                m.id,
                m.content,
                m.metadata,
                m.salience,
                m.created_at,
                m.expires_at,
                vector=vectors.get(n),
                agent_id=m.agent_id,
                run_id=m.run_id,
            )
            for n, m in ((n, unique[n]) for n in create)
        ]
        outcomes: list[Outcome] = []
        if ops:
            with child_span(self._tracer, "pg.commit") as span:
                span.set_attribute("jm.memories", len(ops))
                outcomes = await self._committer.submit(user_id, ops)
        for n, outcome in zip(create, outcomes, strict=True):
            if outcome.status == "conflict":
                raise Conflict(
                    f"{unique[n].id} already exists with different content", field=id_field(mode, position.index(n))
                )
        for n, outcome in zip(create, outcomes, strict=True):
            results[n] = Stored(self._stored(unique[n], outcome))
        return [results[p] for p in position]

    @staticmethod
    def _stored(memory: Memory, outcome: Outcome) -> Memory:
        """The memory as PostgreSQL holds it: ours, or the one an earlier attempt stored (a repeat)."""
        if outcome.status != "existing":
            return memory
        return _from_outcome(memory.id, memory.user_id, outcome, fallback=memory)

    async def update(self, user_id: str, memory_id: str, patch: Patch) -> Memory:
        op = Op(
            "update", memory_id, patch.content, patch.metadata, patch.salience, time.time(), patch.expires_at,
            patch.set_expiry,
        )  # fmt: skip
        with self._limit.slot():
            (outcome,) = await self._committer.submit(user_id, [op])
        if outcome.status == "missing":
            raise not_found(memory_id)
        memory = _from_outcome(memory_id, user_id, outcome)
        if outcome.status == "updated":
            self._lifecycle.updates.inc()
        return memory

    async def delete(self, user_id: str, memory_id: str) -> None:
        with self._limit.slot():
            (outcome,) = await self._committer.submit(user_id, [Op("delete", memory_id)])
        if outcome.status == "missing":
            raise not_found(memory_id)

    async def forget(self, user_id: str, scope: Scope = ALL) -> int:
        with self._limit.slot():
            op = Op("forget", agent_id=scope.agent_id, run_id=scope.run_id)
            (outcome,) = await self._committer.submit(user_id, [op])
        count = outcome.count or 0
        if not scope:  # the metric counts whole users forgotten; a scope's memories go as deletes
            self._lifecycle.forgotten.inc(count)
        return count

    async def delete_matching(self, user_id: str, filters: Filter | None, scope: Scope = ALL) -> int:
        """Delete the memories in `scope` the filter selects in this replica's copy (at least as new as PostgreSQL was
        when the call began): their deletes committed `DELETE_CHUNK` to a transaction, each chunk durable
        before the next; how many were deleted (one deleted meanwhile by another request is not counted).
        A memory another replica updates during the call is deleted as a plain delete racing it would be."""
        with self._limit.slot():
            space = await self._tiers.hot(user_id)
            now = time.time()
            ids = await ShortTermTier.matching(space, filters, scope)
            doomed = [i for i in ids if (m := space.records.get(i)) is not None and not m.expired(now)]
            deleted = 0
            for start in range(0, len(doomed), DELETE_CHUNK):
                ops = [Op("delete", memory_id) for memory_id in doomed[start : start + DELETE_CHUNK]]
                outcomes = await self._committer.submit(user_id, ops)
                deleted += sum(1 for o in outcomes if o.status == "deleted")
        return deleted


def _from_outcome(memory_id: str, user_id: str, outcome: Outcome, fallback: Memory | None = None) -> Memory:
    base = fallback
    return Memory(
        memory_id,
        user_id,
        outcome.content if outcome.content is not None else (base.content if base else ""),
        outcome.metadata if outcome.metadata is not None else (base.metadata if base else {}),
        outcome.salience if outcome.salience is not None else (base.salience if base else 0.0),
        outcome.created_at if outcome.created_at is not None else (base.created_at if base else 0.0),
        revision=outcome.revision or 1,
        updated_at=outcome.updated_at,
        expires_at=outcome.expires_at,
        agent_id=outcome.agent_id if outcome.agent_id is not None or base is None else base.agent_id,
        run_id=outcome.run_id if outcome.run_id is not None or base is None else base.run_id,
    )
