"""The short-term tier: hot users' memories and vectors in RAM, within a byte budget.

A user's space holds their records (for get and list) and their FAISS index (for search). A space is
`loaded` once it holds everything the long-term store and the journal know of that user; before
that it is an overlay of the writes made since it was created, and readers first await the
promotion (`MemoryShuttle.promote`). When the tier is over budget the least recently used users
are dropped whole: everything they hold is already durable in the journal or the long-term store,
so eviction loses nothing and the next access promotes them back.

A user too big to hold (`JM_STM_PARTIAL_USER_VECTORS`) is *partially resident* (`storage/large/residency.py`):
its vectors are searched through a memory-mapped snapshot and a RAM delta, and its records are read
from the store on demand (`PartialRecords`), so its RAM cost stays small whatever its size and it
never evicts every other user. Its mapped bytes are reported apart (`jm_stm_mapped_bytes`).
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Iterable

import numpy as np

from jean_memory.config import Settings
from jean_memory.filters import Filter
from jean_memory.memory import ALL, Memory, Scope
from jean_memory.storage.large.layered import LayeredIndex
from jean_memory.storage.large.selection import Selection
from jean_memory.storage.lexical import LexicalIndex
from jean_memory.storage.records import Records, WholeRecords
from jean_memory.storage.vector_index import UserIndex
from jean_memory.telemetry.metrics import StmMetrics


class UserSpace:
    """One user's slice of the short-term tier."""

    __slots__ = (
        "applying",
        "cluster_version",
        "deleted",
        "index",
        "loaded",
        "loading",
        "pending",
        "records",
        "text_index",
        "unembedded",
        "user_id",
        "version",
    )

    def __init__(self, user_id: str, index: UserIndex) -> None:
        self.user_id = user_id
        #: Whole (`WholeRecords`), or read from the store on demand for a partially resident user.
        self.records: Records = WholeRecords()
        self.index: UserIndex | LayeredIndex = index
        #: id -> (embedding-worker key, future), for memories whose vector is not in the index yet.
        self.pending: dict[str, tuple[int, asyncio.Future[np.ndarray]]] = {}
        #: BM25 over the user's texts (a partially resident user's: over its overlay), beside `index`.
        self.text_index = LexicalIndex()
        self.loaded = False
        self.loading: asyncio.Future[None] | None = None
        #: Cluster mode: this replica's own committed group going into the copy, a slice at a time
        #: (`cluster.owncommits`); readers and catch-ups wait for it.
        self.applying: asyncio.Future[None] | None = None
        #: ids deleted while a promotion was in flight, so the promotion does not resurrect them.
        self.deleted: set[str] = set()
        self.version = 0
        #: Ids with no vector and no computation in flight here: another replica is computing it (cluster
        #: mode), or the model failed on it; searches score them lexically until a vector lands.
        self.unembedded: set[str] = set()
        #: Cluster mode: the user's version in PostgreSQL this copy reflects (see `cluster.tiers`).
        self.cluster_version = 0

    @property
    def partial(self) -> bool:
        return self.records.partial

    @property
    def nbytes(self) -> int:
        """RAM this space costs (a partially resident user's mapped snapshot is counted apart)."""
        return self.records.nbytes + self.index.nbytes + self.text_index.nbytes + 200

    @property
    def mapped_bytes(self) -> int:
        return self.index.mapped_bytes if isinstance(self.index, LayeredIndex) else 0


class ShortTermTier:
    def __init__(self, settings: Settings, dim: int, metrics: StmMetrics) -> None:
        self._settings = settings
        self.dim = dim
        self._users: OrderedDict[str, UserSpace] = OrderedDict()
        self._metrics = metrics
        self.budget = settings.stm_budget_bytes
        metrics.budget_bytes.set(self.budget)
        metrics.bytes.set_function(lambda: self.nbytes)
        metrics.vectors.set_function(lambda: self.vectors)
        metrics.users.set_function(lambda: len(self._users))
        metrics.mapped_bytes.set_function(lambda: sum(s.mapped_bytes for s in tuple(self._users.values())))
        self._nbytes_cache = (0.0, 0)
        #: One counter for every space's `version`: a space made again (after an eviction or a forget)
        #: never repeats a version an older space had, so a result cached under it cannot match.
        self._versions = itertools.count(1)

    # ---- spaces ----------------------------------------------------------------------------
    def space(self, user_id: str) -> UserSpace:
        """The user's space (created empty and unloaded if absent), marked most recently used."""
        space = self._users.get(user_id)
        if space is None:
            s = self._settings
            index = UserIndex(
                self.dim,
                s.stm_index,
                large_kind=s.stm_large_index,
                large_threshold=s.stm_large_user_vectors,
                hnsw_m=s.hnsw_m,
                ef_search=s.hnsw_ef_search,
            )
            space = self._users[user_id] = UserSpace(user_id, index)
            space.version = next(self._versions)
        else:
            self._users.move_to_end(user_id)
        return space

    def next_version(self) -> int:
        return next(self._versions)

    def drop(self, user_id: str) -> None:
        """Forget the user's space entirely (the user was forgotten); the next access starts afresh."""
        if self._users.pop(user_id, None) is not None:
            self._nbytes_cache = (0.0, 0)

    def peek(self, user_id: str) -> UserSpace | None:
        return self._users.get(user_id)

    def is_current(self, space: UserSpace) -> bool:
        return self._users.get(space.user_id) is space

    def users(self) -> list[str]:
        return list(self._users)

    @property
    def vectors(self) -> int:
        # tuple(): one atomic copy, so a reader on another thread never iterates a changing dict.
        return sum(len(s.index) for s in tuple(self._users.values()))

    @property
    def nbytes(self) -> int:
        # Summing every space is O(users); scrapes and eviction checks reuse it for 100 ms.
        now = time.monotonic()
        at, value = self._nbytes_cache
        if now - at > 0.1:
            value = sum(s.nbytes for s in tuple(self._users.values()))
            self._nbytes_cache = (now, value)
        return value

    def evict_over_budget(self) -> int:
        """Drop least recently used spaces (never one being promoted) until within budget."""
        self._nbytes_cache = (0.0, 0)
        total = self.nbytes
        evicted = 0
        if total <= self.budget:
            return 0
        for user_id in list(self._users):
            if total <= self.budget * 0.9 or len(self._users) <= 1:
                break
            space = self._users[user_id]
            if (space.loading is not None and not space.loading.done()) or space.applying is not None:
                continue
            total -= space.nbytes
            del self._users[user_id]
            evicted += 1
        if evicted:
            self._metrics.evictions.inc(evicted)
            self._nbytes_cache = (0.0, 0)
        return evicted

    # ---- records ---------------------------------------------------------------------------
    def put(self, space: UserSpace, memory: Memory) -> None:
        """Insert or replace a record (its vector arrives later through `set_vectors`)."""
        old = space.records.put(memory)
        space.deleted.discard(memory.id)
        if old is None or old.content != memory.content or old.created_at != memory.created_at:
            space.text_index.changed(memory.id)
        if old is not None and old.content != memory.content:
            # A new text: the old text's vector must not rank it; until the new one lands it is pending.
            space.index.remove(memory.id)
        space.version = next(self._versions)

    def clear(self, space: UserSpace) -> None:
        """Empty a space before it is loaded again from scratch (cluster mode's full reload)."""
        records = space.records
        if not isinstance(records, WholeRecords):
            raise TypeError("a partially resident space is reloaded by replacing it, not cleared")
        for memory_id in list(records):
            self.remove(space, memory_id)
        space.unembedded.clear()

    def remove(self, space: UserSpace, memory_id: str) -> Memory | None:
        memory = space.records.pop(memory_id, None)
        space.index.remove(memory_id)
        space.pending.pop(memory_id, None)
        space.unembedded.discard(memory_id)
        if memory is not None:
            space.text_index.changed(memory_id)
        if not space.loaded:
            space.deleted.add(memory_id)
        space.version = next(self._versions)
        return memory

    def set_vectors(self, space: UserSpace, ids: list[str], vectors: np.ndarray) -> None:
        """Make memories searchable; ids deleted meanwhile are skipped."""
        keep = [i for i, mid in enumerate(ids) if mid in space.records]
        if not keep:
            return
        kept_ids = [ids[i] for i in keep]
        space.index.add(kept_ids, vectors[keep] if len(keep) != len(ids) else vectors)
        for mid in kept_ids:
            space.pending.pop(mid, None)
            space.unembedded.discard(mid)
        space.version = next(self._versions)

    # ---- reads -----------------------------------------------------------------------------
    @staticmethod
    async def page(
        space: UserSpace, limit: int, before: tuple[float, str] | None, now: float, scope: Scope = ALL
    ) -> list[Memory]:
        """Newest first, strictly older than the cursor `before`, expired memories and those outside `scope`
        left out."""
        return await space.records.page(limit, before, now, scope)

    @staticmethod
    async def expired(space: UserSpace, now: float) -> list[Memory]:
        """The user's memories whose expiry has come (never holding the event loop for a big user)."""
        return await space.records.expired(now)

    @staticmethod
    async def count(space: UserSpace, now: float) -> int:
        """The user's memories, expired ones left out."""
        return await space.records.live_count(now)

    @staticmethod
    async def ascending(space: UserSpace) -> AsyncIterator[list[Memory]]:
        """Every record, oldest first, in chunks (records removed meanwhile are skipped); a partially resident
        user's are read from the store off the event loop."""
        async for memories in space.records.ascending():
            yield memories

    @staticmethod
    async def matching(space: UserSpace, filters: Filter | None, scope: Scope = ALL, exact: bool = False) -> list[str]:
        """Ids of the user's memories in `scope` (with `exact`: of exactly that scope) that the filter selects;
        a big user's found off the event loop."""
        return await space.records.matching(filters, scope, exact)

    async def search(
        self, space: UserSpace, query: np.ndarray, k: int, allowed: list[str] | Selection | None, now: float
    ) -> list[tuple[Memory, float]]:
        """Top-k by cosine among the user's indexed memories (among `allowed` ids when given: `matching`'s
        answer to a filter, applied before ranking), expired memories never returned (asked again for more
        when some in the first k had expired). A partially resident user's snapshot is searched, and its
        records read from the store, in worker threads."""
        want = k
        while True:
            hits = await index_search(space.index, query, want, allowed)
            records = await space.records.read_many([m for m, _ in hits])  # the top-k's records, in one lookup
            out = [(records[m], s) for m, s in hits if m in records and not records[m].expired(now)]
            if len(out) >= k or len(hits) < want:
                return out[:k]
            want *= 2

    def all_spaces(self) -> Iterable[UserSpace]:
        return self._users.values()


async def index_search(
    index: UserIndex | LayeredIndex, query: np.ndarray, k: int, allowed: list[str] | Selection | None
) -> list[tuple[str, float]]:
    """The best `k` ids of a user's index by cosine (among `allowed`): a partially resident user's snapshot
    scanned in a worker thread, a resident user's index in RAM here."""
    if isinstance(index, LayeredIndex):
        return await index.search_off_loop(query, k, allowed)
    if isinstance(allowed, Selection):
        raise TypeError("a selection is of a partially resident user's snapshot")
    return index.search(query, k, allowed)
