"""The records of a user too big to hold whole: what changed recently in RAM, the rest read on demand.

A partially resident user (past `JM_STM_PARTIAL_USER_VECTORS`) keeps its vectors searchable (a
memory-mapped snapshot plus a RAM delta, `storage/large/snapshot.py`) but not its million records. Its space's
`records` is this mapping instead of a dict:

- the **overlay** holds every change not yet known to be in the store (writes of this process and the
  journal's unshipped rows at promotion; `None` marks a delete) and wins over the store;
- a bounded **cache** (LRU) keeps recently read records, so a hot memory is read once;
- anything else is read from the SQLite store with a primary-key lookup (`SqliteRecordReader`).

Beside them, `since` keeps every memory changed since the user's snapshot was built (None: deleted), as
last written, without its vector: the texts the snapshot's lexical index does not hold, ranked in RAM. It
is not pruned: it goes when a new snapshot holds it (compaction), so it is bounded as the snapshot's delta.

Housekeeping prunes the overlay: an entry the store now holds as it is (same revision and content), or
a delete the store has applied, is dropped. A get, the top-k of a search and a page of a list therefore
cost a few lookups, whatever the user's size; only rare operations (forget, export) walk the store.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections import OrderedDict
from collections.abc import AsyncIterator, Sequence

from jean_memory.filters import Filter
from jean_memory.memory import ALL, Memory, Scope, same_version
from jean_memory.storage.ltm.sqlite_reader import SqliteRecordReader

#: Recently read records kept per partially resident user.
CACHE_SIZE = 4096


def _without_vector(memory: Memory) -> Memory:
    """`since` keeps a memory without its vector (the delta holds it, or the model will)."""
    return dataclasses.replace(memory, embedding=None) if memory.embedding is not None else memory


class PartialRecords:
    """A partially resident user's `Records` (`storage/records.py`)."""

    partial = True

    def __init__(self, owner: str, reader: SqliteRecordReader, cache_size: int = CACHE_SIZE) -> None:
        self.owner = owner
        self._reader = reader
        self.overlay: dict[str, Memory | None] = {}
        self._cache: OrderedDict[str, Memory] = OrderedDict()
        self._cache_size = cache_size
        self._cache_bytes = 0
        self.since: dict[str, Memory | None] = {}
        #: `since`'s ids in the order they first changed (appended only, until the next snapshot).
        self.since_ids: list[str] = []
        self._since_bytes = 0
        self._since_version = 0
        self._view: tuple[int, list[tuple[float, str]], dict[str, Memory]] = (0, [], {})
        #: For each `read_many` reading the store now, the ids written meanwhile (`written`).
        self._reading: list[set[str]] = []

    # ---- the mapping the short-term tier and the use cases use ---------------------------------------
    def get(self, memory_id: str, default: Memory | None = None) -> Memory | None:
        found = self.get_many([memory_id]).get(memory_id)
        return found if found is not None else default

    def get_many(self, ids: Sequence[str]) -> dict[str, Memory]:
        out: dict[str, Memory] = {}
        missing: list[str] = []
        for memory_id in ids:
            if memory_id in self.overlay:
                memory = self.overlay[memory_id]
                if memory is not None:
                    out[memory_id] = memory
            elif memory_id in self._cache:
                self._cache.move_to_end(memory_id)
                out[memory_id] = self._cache[memory_id]
            else:
                missing.append(memory_id)
        if missing:
            for memory_id, memory in self._reader.get_many(self.owner, missing).items():
                self._remember(memory)
                out[memory_id] = memory
        return out

    async def read_many(self, ids: Sequence[str]) -> dict[str, Memory]:
        """`get_many` with the store's rows read in a worker thread (a search's top k: about a millisecond of
        SQLite on the event loop). A row read there is older than a write made meanwhile, which the
        shuttle may even have shipped and housekeeping pruned from the overlay by the time it arrives:
        such ids are answered afresh, never cached from that read."""
        missing = [i for i in ids if i not in self.overlay and i not in self._cache]
        if not missing:
            return self.get_many(ids)
        written: set[str] = set()
        self._reading.append(written)
        try:
            rows = await asyncio.to_thread(self._reader.get_many, self.owner, missing)
        finally:
            self._reading.remove(written)
        if len(rows) <= self._cache_size // 4:  # a bulk read (a delete by filter) would flush the cache
            for memory_id, memory in rows.items():
                if memory_id not in written and memory_id not in self._cache:
                    self._remember(memory)
        asked = set(missing)
        out = self.get_many([i for i in ids if i not in asked or i in written])  # held here, or written: afresh
        out.update((i, m) for i, m in rows.items() if i not in written)
        return out

    def _remember(self, memory: Memory) -> None:
        old = self._cache.pop(memory.id, None)
        self._cache[memory.id] = memory
        self._cache_bytes += memory.approx_bytes() - (old.approx_bytes() if old is not None else 0)
        if len(self._cache) > self._cache_size:
            self._cache_bytes -= self._cache.popitem(last=False)[1].approx_bytes()

    def __contains__(self, memory_id: object) -> bool:
        return isinstance(memory_id, str) and self.get(memory_id) is not None

    def __getitem__(self, memory_id: str) -> Memory:
        memory = self.get(memory_id)
        if memory is None:
            raise KeyError(memory_id)
        return memory

    def __setitem__(self, memory_id: str, memory: Memory) -> None:
        self.written(memory_id, memory)

    def put(self, memory: Memory) -> Memory | None:
        old = self.get(memory.id)
        self.written(memory.id, memory)
        return old

    def pop(self, memory_id: str, default: Memory | None = None) -> Memory | None:
        old = self.get(memory_id)
        self.written(memory_id, None)
        return old if old is not None else default

    def written(self, memory_id: str, memory: Memory | None) -> None:
        """A write not in the store yet (None: a delete): it wins over the store, and is a change since the
        snapshot."""
        self.overlay[memory_id] = memory
        for written in self._reading:
            written.add(memory_id)
        cached = self._cache.pop(memory_id, None)
        if cached is not None:
            self._cache_bytes -= cached.approx_bytes()
        self._changed(memory_id, memory)

    def _changed(self, memory_id: str, memory: Memory | None) -> None:
        if memory is not None:
            memory = _without_vector(memory)
        old = self.since.get(memory_id)
        if memory_id not in self.since:
            self.since_ids.append(memory_id)
        self._since_bytes += (memory.approx_bytes() if memory is not None else 64) - (
            old.approx_bytes() if old is not None else 64 if memory_id in self.since else 0
        )
        self.since[memory_id] = memory
        self._since_version += 1

    @staticmethod
    def since_of(stored: Sequence[Memory]) -> tuple[dict[str, Memory | None], int]:
        """`since` for the changes the store holds after a snapshot (`stored`), without their vectors, and
        its size: made in a worker thread (a bulk import leaves hundreds of thousands)."""
        since: dict[str, Memory | None] = {m.id: _without_vector(m) for m in stored}
        return since, sum(m.approx_bytes() for m in since.values() if m is not None)

    def changed_since_snapshot(self, since: dict[str, Memory | None], nbytes: int) -> None:
        """A new snapshot (or the first): `since` becomes what the store changed after it (`since_of`) with
        this process's writes not in the store yet on top."""
        before = self.since
        self.since, self.since_ids, self._since_bytes = since, list(since), nbytes
        self._since_version += 1
        for memory_id, latest in self.overlay.items():  # the vector-less copy `before` holds, where it has one
            kept = before.get(memory_id)
            self._changed(memory_id, kept if kept is not None and latest is not None else latest)

    def lexical_view(self) -> tuple[list[tuple[float, str]], dict[str, Memory]]:
        """The live memories of `since` and their (created_at, id) order: what the user's in-RAM lexical
        index ranks (made again only after a change)."""
        version, order, live = self._view
        if version != self._since_version:
            live = {i: m for i, m in self.since.items() if m is not None}
            order = sorted((m.created_at, i) for i, m in live.items())
            self._view = (self._since_version, order, live)
        return order, live

    @property
    def nbytes(self) -> int:
        """RAM: `since`'s records (the overlay's are among them) and the cache's, kept as running counts: every
        scrape and eviction check reads it on the event loop, and summing a bulk import's overlay there
        stalled the service for seconds."""
        return self._since_bytes + self._cache_bytes + 64 * len(self.overlay)

    # ---- reads that walk the user --------------------------------------------------------------------
    async def page(self, limit: int, before: tuple[float, str] | None, now: float, scope: Scope = ALL) -> list[Memory]:
        """Newest first, strictly older than `before`, expired and out of `scope` left out: the store's page of
        the scope (read and parsed in a worker thread) with the overlay applied (asked for enough more to make
        up for the overlay's deletes and the expired)."""
        want = limit + len(self.overlay) + 16
        while True:
            stored = await asyncio.to_thread(self._reader.page, self.owner, want, before, scope)
            rows: dict[str, Memory] = {m.id: m for m in stored}
            for memory_id, memory in self.overlay.items():
                if memory is None or not memory.in_scope(scope):
                    rows.pop(memory_id, None)
                elif before is None or (memory.created_at, memory.id) < before:
                    rows[memory_id] = memory
            ordered = sorted(rows.values(), key=lambda m: (m.created_at, m.id), reverse=True)
            if len(stored) == want and ordered:  # the store may hold more: only what precedes its last row is final
                floor = (stored[-1].created_at, stored[-1].id)
                ordered = [m for m in ordered if (m.created_at, m.id) >= floor]
            page = [m for m in ordered if not m.expired(now)][:limit]
            if len(page) == limit or len(stored) < want:
                return page
            want *= 2

    async def matching(self, filters: Filter | None, scope: Scope = ALL, exact: bool = False) -> list[str]:
        """Ids in `scope` (with `exact`, exactly that scope) that the filter selects: the store's scan in a
        worker thread (it reads every row of the user the scope's columns and the filter's SQL pre-filter
        let through and checks each with the filter's predicate: on the event loop it stalled every other
        request, a filtered search of a 30,000-memory user at 3/s starved a fire drill's service into
        timeouts), then the overlay applied here, on the loop, with the same predicate."""
        ids = set(await asyncio.to_thread(self._reader.matching, self.owner, filters, scope, exact))
        for memory_id, memory in self.overlay.items():
            ids.discard(memory_id)
            if (
                memory is not None
                and (memory.scope == scope if exact else memory.in_scope(scope))
                and (filters is None or filters.matches(memory))
            ):
                ids.add(memory_id)
        return sorted(ids)

    async def select(self, ids: Sequence[str], filters: Filter, scope: Scope, now: float) -> set[str]:
        """Which of `ids` are live, unexpired, in `scope` and selected by the filter: those changed since the
        snapshot (`since`, which holds every write the store may not have yet) or cached checked here, the
        others by the store in a worker thread."""
        out: set[str] = set()
        stored: list[str] = []
        for memory_id in ids:
            if memory_id in self.since or memory_id in self._cache:
                memory = self.since[memory_id] if memory_id in self.since else self._cache[memory_id]
                if (
                    memory is not None
                    and not memory.expired(now)
                    and memory.in_scope(scope)
                    and filters.matches(memory)
                ):
                    out.add(memory_id)
            else:
                stored.append(memory_id)
        if stored:
            out.update(await asyncio.to_thread(self._reader.select, self.owner, stored, filters, scope, now))
        return out

    def has_scoped(self) -> bool:
        """Whether any memory of the user has an agent or a run (the store's answer from its indexes)."""
        live = [m for m in self.overlay.values() if m is not None]
        return any(m.scope for m in live) or self._reader.has_scoped(self.owner)

    async def expired(self, now: float) -> list[Memory]:
        """The memories whose expiry has come: the store's found in a worker thread (a scan of the user)."""
        stored = await asyncio.to_thread(self._reader.expired, self.owner, now)
        found = {m.id: m for m in stored if m.id not in self.overlay}
        found.update((i, m) for i, m in self.overlay.items() if m is not None and m.expired(now))
        return list(found.values())

    async def live_count(self, now: float) -> int:
        """How many memories the user has, expired ones left out. The store's part is counted in a worker
        thread (it scans the user's rows), against a copy of the overlay taken here on the event loop."""
        overlay = dict(self.overlay)

        def count() -> int:
            stored = set(self._reader.get_many(self.owner, list(overlay))) if overlay else set()
            added = sum(1 for i, m in overlay.items() if m is not None and i not in stored)
            removed = sum(1 for i, m in overlay.items() if m is None and i in stored)
            expired = {m.id for m in self._reader.expired(self.owner, now) if m.id not in overlay}
            expired |= {i for i, m in overlay.items() if m is not None and m.expired(now)}
            return self._reader.count(self.owner) + added - removed - len(expired)

        return await asyncio.to_thread(count)

    async def ascending(self) -> AsyncIterator[list[Memory]]:
        """Every memory, oldest first, in chunks (for export): the store's, each chunk read in a worker
        thread (on the event loop a chunk's read held it for tens of milliseconds), then the overlay's
        additions."""
        seen: set[str] = set()
        chunks = self._reader.ascending(self.owner)
        while (chunk := await asyncio.to_thread(next, chunks, None)) is not None:
            out: list[Memory] = []
            for stored in chunk:
                memory = self.overlay.get(stored.id, stored) if stored.id in self.overlay else stored
                seen.add(stored.id)
                if memory is not None:
                    out.append(memory)
            yield out
        extra = [m for i, m in self.overlay.items() if m is not None and i not in seen]
        yield sorted(extra, key=lambda m: (m.created_at, m.id))

    def prune(self, limit: int = 2000) -> int:
        """Drop overlay entries the store now holds as they are; how many went."""
        ids = list(self.overlay)[:limit]
        if not ids:
            return 0
        stored = self._reader.get_many(self.owner, ids)
        gone = 0
        for memory_id in ids:
            memory = self.overlay[memory_id]
            held = stored.get(memory_id)
            if (memory is None and held is None) or (memory is not None and same_version(memory, held)):
                del self.overlay[memory_id]
                gone += 1
        return gone
