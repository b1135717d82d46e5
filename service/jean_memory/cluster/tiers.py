"""The short-term tier of a replica, kept current against PostgreSQL before every read.

`current(user_id)` checks the user's version (batched, see `coherence`), then loads the user (not
resident, or older than the tombstones kept) or applies the changes since the replica's copy
(`version > v`: new and changed rows, tombstones, vectors that landed). One load or catch-up per
user runs at a time; readers that need a newer version than the one in flight wait for it and run
another. A snapshot never moves a copy backwards: it is applied only when it is newer.

Rows still waiting for a vector are embedded by the replica that claimed them; here they are
"pending elsewhere" and scored lexically by searches until their vector arrives with a later change.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import NamedTuple

import asyncpg
import numpy as np

from jean_memory import jsonutil
from jean_memory.cluster.coherence import VersionCheck
from jean_memory.cluster.pg import Pg
from jean_memory.cluster.schema import CHANGES_SINCE, LOAD_USER
from jean_memory.cooperative import Slices
from jean_memory.memory import Memory
from jean_memory.storage.stm import ShortTermTier, UserSpace
from jean_memory.telemetry.metrics import ClusterMetrics, LtmMetrics

#: A cold load indexes the stored vectors it read this many at a time (FAISS adds in one go).
_VECTORS_PER_SLICE = 256


class _Change(NamedTuple):
    """One row of a load or catch-up: a memory (None: deleted) and its stored vector, if any."""

    id: str
    memory: Memory | None
    embedding: bytes | None
    model: str | None


class ClusterTiers:
    #: Other replicas write too: a resident record proves nothing until the version check says so.
    authoritative = False

    def __init__(
        self, pg: Pg, stm: ShortTermTier, versions: VersionCheck, metrics: ClusterMetrics, ltm: LtmMetrics,
        model_id: str,
    ) -> None:  # fmt: skip
        self._pg = pg
        self._stm = stm
        self._versions = versions
        self._metrics = metrics
        self._read_hist = ltm.read_duration.labels("postgres")
        self._model_id = model_id
        self._checks = {r: metrics.version_checks.labels(r) for r in ("current", "behind", "cold")}

    async def current(self, user_id: str) -> tuple[UserSpace, bool]:
        """The user's space, at least as new as PostgreSQL was when this call began; True when it had
        to be loaded (a cold read)."""
        target = await self._versions.version_of(user_id)
        space = self._stm.space(user_id)
        cold = not space.loaded
        self._checks["cold" if cold else "current" if space.cluster_version >= target else "behind"].inc()
        while not space.loaded or space.cluster_version < target or space.applying is not None:
            if space.applying is not None:  # this replica's own commit going in: read it whole
                await asyncio.shield(space.applying)
            else:
                if space.loading is None or space.loading.done():
                    space.loading = asyncio.ensure_future(self._refresh(space))
                await asyncio.shield(space.loading)
            if not self._stm.is_current(space):  # evicted meanwhile: start over with a fresh space
                space = self._stm.space(user_id)
        return space, cold

    async def hot(self, user_id: str) -> UserSpace:
        space, _ = await self.current(user_id)
        return space

    def advance(self, user_id: str, version: int, ids: list[str]) -> None:
        """This replica stored vectors it had already indexed: its copy moves to `version` without
        reading them back, when it was exactly one version behind and holds every one of them."""
        space = self._stm.peek(user_id)
        if (
            space is not None
            and space.loaded
            and space.applying is None
            and space.cluster_version == version - 1
            and all(mid in space.index or mid not in space.records for mid in ids)
        ):
            space.cluster_version = version

    def on_change(self, user_id: str, version: int) -> None:
        """A change notification: a resident user behind it is brought up to date before its next read."""
        space = self._stm.peek(user_id)
        if space is None or not space.loaded or space.cluster_version >= version:
            return
        self._metrics.invalidations.inc()
        if space.loading is None or space.loading.done():
            space.loading = asyncio.ensure_future(self._refresh(space))
            space.loading.add_done_callback(lambda f: f.cancelled() or f.exception())  # retried on the next read

    async def _refresh(self, space: UserSpace) -> None:
        start = time.perf_counter()
        full = not space.loaded
        rows = await self._pg.run(lambda c: self._fetch(c, space.user_id, None if full else space.cluster_version))
        if rows and not full and int(rows[0][1] or 0) > space.cluster_version:  # tombstones purged since
            full = True
            rows = await self._pg.run(lambda c: self._fetch(c, space.user_id, None))
        self._read_hist.observe(time.perf_counter() - start)
        version = int(rows[0][0] or 0) if rows else 0
        changes = await self._parse(space.user_id, rows)
        while space.applying is not None:  # an own commit going in: this snapshot may be older than it
            await asyncio.shield(space.applying)
        if not self._stm.is_current(space):
            return
        if space.loaded and version <= space.cluster_version:
            return  # an older snapshot than this copy: nothing new
        if space.loaded:
            self._apply(space, changes, full)
        elif not await self._load(space, changes):
            return  # evicted while it loaded
        space.cluster_version = version
        self._metrics.catchups.labels("full" if full else "incremental").inc()
        if full:
            self._stm.evict_over_budget()

    @staticmethod
    async def _fetch(conn: asyncpg.Connection, user_id: str, since: int | None) -> Sequence[asyncpg.Record]:
        if since is None:
            rows: Sequence[asyncpg.Record] = await conn.fetch(LOAD_USER, user_id)
        else:
            rows = await conn.fetch(CHANGES_SINCE, user_id, since)
        return rows

    @staticmethod
    async def _parse(user_id: str, rows: Sequence[asyncpg.Record]) -> list[_Change]:
        """The rows as memories (or tombstones) and their stored vectors, a slice at a time: a large user's
        rows parsed in one go held the event loop for tens of milliseconds. Nothing is applied yet."""
        slices = Slices()
        out: list[_Change] = []
        for row in rows:
            mid, content, metadata, salience, created_at, embedding, model, deleted = row[2:10]
            revision, updated_at, expires_at, agent_id, run_id = row[11:16]
            if mid is None:
                continue  # the user exists with no (changed) memories
            memory = None
            if not deleted:
                memory = Memory(
                    mid, user_id, content, jsonutil.loads(metadata), salience, created_at,
                    revision=revision, updated_at=updated_at, expires_at=expires_at, agent_id=agent_id, run_id=run_id,
                )  # fmt: skip
            out.append(_Change(mid, memory, embedding, model))
            await slices.pause()
        return out

    def _apply(self, space: UserSpace, changes: list[_Change], full: bool) -> None:
        """The parsed changes into a loaded copy, at once (no await: a reader never sees half of them)."""
        if full:
            self._stm.clear(space)
        ids: list[str] = []
        vectors: list[np.ndarray] = []
        for change in changes:
            self._change(space, change, ids, vectors)
        if ids:
            self._stm.set_vectors(space, ids, np.vstack(vectors))
        space.loaded = True
        space.deleted.clear()

    async def _load(self, space: UserSpace, changes: list[_Change]) -> bool:
        """A copy's first load, a slice at a time (applied at once, 3,000 rows held the event loop for
        14 ms). No reader sees it half done: every read waits in `current` until `loaded` and the version,
        set last, and nothing else writes into a copy that is not loaded (`OwnCommits` and `advance` leave
        it to the load; a change notification finds the load in flight). False when it was evicted meanwhile."""
        self._stm.clear(space)  # what a load that failed half way left
        slices = Slices()
        ids: list[str] = []
        vectors: list[np.ndarray] = []
        for change in changes:
            self._change(space, change, ids, vectors)
            if len(ids) >= _VECTORS_PER_SLICE or slices.due():
                if ids:
                    self._stm.set_vectors(space, ids, np.vstack(vectors))
                    ids, vectors = [], []
                await slices.next_slice()
                if not self._stm.is_current(space):
                    return False
        if ids:
            self._stm.set_vectors(space, ids, np.vstack(vectors))
        space.loaded = True
        space.deleted.clear()
        return True

    def _change(self, space: UserSpace, change: _Change, ids: list[str], vectors: list[np.ndarray]) -> None:
        """One row into the copy; its stored vector, if it is this model's and new here, into `ids`/`vectors`."""
        mid, memory, embedding, model = change
        if memory is None:
            self._stm.remove(space, mid)
            return
        old = space.records.get(mid)
        if old is None or old.revision != memory.revision or old.created_at != memory.created_at:
            self._stm.put(space, memory)
            if old is not None and old.content != memory.content:
                # A vector this replica is still computing is for a text the copy no longer holds:
                # until the new text's vector lands the memory is scored lexically, not left unfindable.
                space.pending.pop(mid, None)
        if embedding is not None and model == self._model_id:
            if mid not in space.index:
                ids.append(mid)
                vectors.append(np.frombuffer(embedding, dtype=np.float32))
        elif mid not in space.index and mid not in space.pending:
            space.unembedded.add(mid)  # a live replica holds its claim and will store the vector
