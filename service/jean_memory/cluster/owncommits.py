"""A replica's own commits, applied to its copies of their users: only ever forward, a group at a time.

The coherence invariant (docs/cluster.md): a replica's copy of a user is exactly PostgreSQL's state at
the copy's version, and that version only moves forward. A group commit takes each of its users from
version v - 1 to v in one transaction, so its results may go into a copy only when the copy is at
v - 1, and all of that user's changes in the group go in together, with the version. A copy already
at v or later got them (and maybe later changes over them) from a catch-up: writing the group's
older results over it would hide newer writes for good, since the copy's version says it is current.
A copy further behind misses other replicas' changes in between: the group's results alone would
not make it v, so it is left as it is and the next catch-up (the commit's own notification, or a
read's version check) brings all of it.

A large group goes in a slice at a time (`OwnCommits._apply`): while it does, the copy's
`applying` is set, and new reads and catch-ups of that user wait for it; the committer answers the
group's requests only once it is in, so a read after an acknowledgement sees the write.

Either way the new texts are embedded here, since their claims are this replica's: into the copy's
index when the copy took them, otherwise only stored in PostgreSQL (where a vector is bound to the
text it was computed from), and the copy gets it with the next catch-up.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import numpy as np

from jean_memory.cluster.committer import Committed, Op, Outcome
from jean_memory.cluster.embedqueue import SharedEmbeddingQueue
from jean_memory.cooperative import Slices
from jean_memory.core.vectors import VectorDelivery
from jean_memory.memory import Memory, Scope
from jean_memory.storage.records import WholeRecords
from jean_memory.storage.stm import ShortTermTier, UserSpace
from jean_memory.telemetry.metrics import ClusterMetrics

#: New texts handed to the embedder or indexed per slice of the event loop.
_VECTORS_PER_SLICE = 128

#: Statuses that changed a row; every other outcome left the user's memories as they were.
_CHANGED = frozenset({"inserted", "updated", "deleted", "forgotten"})


class OwnCommits:
    def __init__(
        self, stm: ShortTermTier, vectors: VectorDelivery, queue: SharedEmbeddingQueue, metrics: ClusterMetrics
    ) -> None:
        self._stm = stm
        self._vectors = vectors
        self._queue = queue
        self._outcomes = {o: metrics.local_applies.labels(o) for o in ("applied", "newer", "behind")}

    async def committed(self, group: list[Committed]) -> None:
        """A group commit's results, in commit order: each user's changes go into its copy, or nowhere.
        The committer awaits it before answering any request of the group."""
        slices = Slices()
        per_user: dict[str, tuple[int, list[tuple[Op, Outcome]]]] = {}
        for user_id, ops, outcomes in group:
            for op, outcome in zip(ops, outcomes, strict=True):
                if outcome.version:  # a request refused as a conflict has none (its user's version moved all the same)
                    _, changes = per_user.setdefault(user_id, (outcome.version, []))
                    if outcome.status in _CHANGED:
                        changes.append((op, outcome))
            await slices.pause()
        for user_id, (version, changes) in per_user.items():
            await self._user(user_id, version, changes, slices)

    async def _user(self, user_id: str, version: int, changes: list[tuple[Op, Outcome]], slices: Slices) -> None:
        forgets = [n for n, (op, outcome) in enumerate(changes) if outcome.status == "forgotten" and not _scope(op)]
        if forgets:
            # The copy is dropped (a later read loads the user afresh); only what was written after the
            # forget still exists to embed.
            self._stm.drop(user_id)
            await self._embed_detached(
                await _new_texts(user_id, changes[forgets[-1] + 1 :], {}, slices), version, slices
            )
            return
        space = self._stm.peek(user_id)
        if space is None or not space.loaded:
            await self._embed_detached(await _new_texts(user_id, changes, {}, slices), version, slices)
            return
        if space.cluster_version != version - 1:
            # Without the copy as it was before the commit, every text an update set is embedded again
            # (storing the vector of an unchanged text is harmless: it is bound to that same text).
            self._outcomes["newer" if space.cluster_version >= version else "behind"].inc()
            await self._embed_detached(await _new_texts(user_id, changes, {}, slices), version, slices)
            return
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        space.applying = done
        try:
            taken = await self._apply(space, version, changes, slices)
        finally:
            space.applying = None
            done.set_result(None)
        if not taken:  # the copy was let go meanwhile: the next read loads the user afresh
            await self._embed_detached(await _new_texts(user_id, changes, {}, slices), version, slices)

    async def _apply(self, space: UserSpace, version: int, changes: list[tuple[Op, Outcome]], slices: Slices) -> bool:
        """The changes into a loaded copy at the group's previous version, in order, then its new texts to
        embed, a slice at a time (a 1,000-item group applied at once held the event loop for 5 to 16 ms of
        CPU, its 1,000 known vectors indexed at once 6 to 8 ms more). The caller sets `space.applying`
        meanwhile: new reads (`ClusterTiers.current`) and catch-ups wait for it, so none starts on a copy
        half way between two versions, and no catch-up writes older rows over the group's. False when the
        copy was let go of before the changes were in."""
        before: dict[str, Memory | None] = {}
        built: list[Memory | None] = []
        for op, outcome in changes:
            if op.id not in before:
                before[op.id] = space.records.get(op.id)
            if outcome.status == "deleted":
                self._stm.remove(space, op.id)
                built.append(None)
            elif outcome.status == "forgotten":  # a scope forgotten: its memories go, as deletes
                scope = _scope(op)
                records = space.records  # a replica's copies are whole (no partial residency in cluster mode)
                assert isinstance(records, WholeRecords)
                for memory_id in [i for i, m in records.items() if m.in_scope(scope)]:
                    self._stm.remove(space, memory_id)
                built.append(None)
            else:
                built.append(memory := _memory(space.user_id, op, outcome))
                self._stm.put(space, memory)
            if slices.due():
                await slices.next_slice()
                if not self._stm.is_current(space):
                    return False
        space.cluster_version = version
        self._outcomes["applied"].inc()
        texts = await _new_texts(space.user_id, changes, before, slices, built)
        if texts:
            self._queue.claimed(len(texts))
        for start in range(0, len(texts), _VECTORS_PER_SLICE):
            if start:
                # The slice's known vectors are indexed (`VectorDelivery` flushes them next) before it goes on.
                await slices.next_slice()
            part = texts[start : start + _VECTORS_PER_SLICE]
            known = [(m, v) for m, v in part if v is not None]
            queued = [m for m, v in part if v is None]
            if known:
                self._vectors.deliver(space, [m for m, _ in known], [version] * len(known), [v for _, v in known])
            if queued:
                self._vectors.schedule(space, queued, [version] * len(queued))
        return True

    async def _embed_detached(
        self, texts: list[tuple[Memory, np.ndarray | None]], version: int, slices: Slices
    ) -> None:
        """Embed and store texts whose copy did not take them (the copy gets the vectors from PostgreSQL),
        a slice at a time (1,000 of them queued at once held the event loop for about 5 ms of CPU)."""
        if texts:
            self._queue.claimed(len(texts))
        for memory, _ in texts:
            self._vectors.schedule_detached(memory, version)
            await slices.pause()


def _scope(op: Op) -> Scope:
    return Scope(op.agent_id, op.run_id)


async def _new_texts(
    user_id: str,
    changes: Sequence[tuple[Op, Outcome]],
    before: dict[str, Memory | None],
    slices: Slices,
    built: Sequence[Memory | None] | None = None,
) -> list[tuple[Memory, np.ndarray | None]]:
    """The memories whose text this group set (their last state in it), with a vector computed already
    (`built`: each change's memory, when the caller made them already)."""
    last: dict[str, tuple[Memory, np.ndarray | None] | None] = {}
    for n, (op, outcome) in enumerate(changes):
        await slices.pause()
        if outcome.status == "deleted":
            last[op.id] = None
            continue
        memory = built[n] if built is not None else None
        if outcome.status == "inserted" or (op.content is not None and _text_changed(op.id, outcome, before, last)):
            last[op.id] = (memory or _memory(user_id, op, outcome), op.vector if outcome.status == "inserted" else None)
        elif op.id in last and last[op.id] is not None:
            previous = last[op.id]
            assert previous is not None
            # metadata only: the text still needs its vector
            last[op.id] = (memory or _memory(user_id, op, outcome), previous[1])
    return [t for t in last.values() if t is not None]


def _text_changed(
    memory_id: str,
    outcome: Outcome,
    before: dict[str, Memory | None],
    last: dict[str, tuple[Memory, np.ndarray | None] | None],
) -> bool:
    seen = last.get(memory_id)
    previous = seen[0] if seen is not None else before.get(memory_id)
    return previous is None or previous.content != outcome.content


def _memory(user_id: str, op: Op, outcome: Outcome) -> Memory:
    """The memory as this commit stored it (an add's own fields; an update's row as the commit returned it)."""
    if outcome.status == "inserted":
        return Memory(
            op.id, user_id, op.content or "", op.metadata or {}, op.salience or 0.0, op.time,
            revision=1, expires_at=op.expires_at, agent_id=op.agent_id, run_id=op.run_id,
        )  # fmt: skip
    return Memory(
        op.id, user_id, outcome.content or "", outcome.metadata or {}, outcome.salience or 0.0,
        outcome.created_at or 0.0, revision=outcome.revision or 1, updated_at=outcome.updated_at,
        expires_at=outcome.expires_at, agent_id=outcome.agent_id, run_id=outcome.run_id,
    )  # fmt: skip
