"""A user's records in the short-term tier: one interface, two implementations.

`Records` is what the short-term tier and the use cases ask of a user's records: lookups, writes, and the
reads that walk them (a page, the expired, a count, every record in order, a filter's matches).
`WholeRecords` holds a resident user's records in RAM with their creation order; `PartialRecords`
(`storage/large/records.py`) reads a user too big to hold from the store on demand. The tier delegates to
whichever the space holds instead of switching on its type.
"""

from __future__ import annotations

import asyncio
import bisect
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping, Sequence
from typing import Protocol

from jean_memory.cooperative import Slices
from jean_memory.filters import Filter
from jean_memory.memory import ALL, Memory, Scope

#: A resident user with this many memories or more has a filter scanned in a worker thread: each
#: memory costs one comparison per filter key, and the loop serves every other tenant meanwhile.
MATCH_ON_LOOP_BELOW = 2000

#: RAM counted per entry of the creation order (a tuple of a float and an id string shared with the record).
ORDER_ENTRY_BYTES = 16


class Records(Protocol):
    """A user's records, whole or partial."""

    #: Whether the records are read from the store on demand (a partially resident user).
    partial: bool

    def get(self, memory_id: str, default: Memory | None = None) -> Memory | None: ...

    def get_many(self, ids: Sequence[str]) -> Mapping[str, Memory]:
        """The records of `ids` that exist, in one lookup (a mapping that may hold others too)."""
        ...

    async def read_many(self, ids: Sequence[str]) -> Mapping[str, Memory]:
        """`get_many` where the records may be in the store: read there without the event loop waiting."""
        ...

    def __contains__(self, memory_id: object) -> bool: ...

    def put(self, memory: Memory) -> Memory | None:
        """Insert or replace a record; the one it replaced."""
        ...

    def pop(self, memory_id: str, default: Memory | None = None) -> Memory | None: ...

    @property
    def nbytes(self) -> int:
        """RAM the records cost."""
        ...

    def lexical_view(self) -> tuple[Sequence[tuple[float, str]], Mapping[str, Memory]]:
        """What the user's lexical index is built over: (created_at, id) ascending, and the records."""
        ...

    async def page(self, limit: int, before: tuple[float, str] | None, now: float, scope: Scope = ALL) -> list[Memory]:
        """Newest first, strictly older than the cursor `before`, expired ones and those outside `scope` left
        out."""
        ...

    async def expired(self, now: float) -> list[Memory]:
        """The records whose expiry has come."""
        ...

    async def live_count(self, now: float) -> int:
        """The records, expired ones left out."""
        ...

    def ascending(self) -> AsyncIterator[list[Memory]]:
        """Every record, oldest first, in chunks."""
        ...

    async def matching(self, filters: Filter | None, scope: Scope = ALL, exact: bool = False) -> list[str]:
        """Ids of the records in `scope` (with `exact`: of exactly that scope) the filter selects."""
        ...


def matching_ids(
    records: Iterable[tuple[str, Memory]], filters: Filter | None, scope: Scope = ALL, exact: bool = False
) -> list[str]:
    """Ids of the memories in `scope` (its parts that are set; with `exact`, both parts equal, None matching
    None) that the filter selects (`jean_memory.filters`: one predicate on every path; None selects all)."""
    matches = filters.matches if filters is not None else None
    return [
        mid
        for mid, m in records
        if (m.scope == scope if exact else m.in_scope(scope)) and (matches is None or matches(m))
    ]


class WholeRecords(Mapping[str, Memory]):
    """A resident user's records, all in RAM, with their creation order for pages and for the lexical index."""

    partial = False
    __slots__ = ("_by_id", "_bytes", "order")

    def __init__(self) -> None:
        self._by_id: dict[str, Memory] = {}
        #: (created_at, id), ascending.
        self.order: list[tuple[float, str]] = []
        self._bytes = 0

    # ---- the mapping ---------------------------------------------------------------------------------
    def __getitem__(self, memory_id: str) -> Memory:
        return self._by_id[memory_id]

    def __iter__(self) -> Iterator[str]:
        return iter(self._by_id)

    def __len__(self) -> int:
        return len(self._by_id)

    def __contains__(self, memory_id: object) -> bool:
        return memory_id in self._by_id

    def get(self, memory_id: str, default: Memory | None = None) -> Memory | None:  # type: ignore[override]
        return self._by_id.get(memory_id, default)

    def get_many(self, ids: Sequence[str]) -> Mapping[str, Memory]:
        return self._by_id  # every record is here: no copy

    async def read_many(self, ids: Sequence[str]) -> Mapping[str, Memory]:
        return self._by_id

    # ---- writes --------------------------------------------------------------------------------------
    def put(self, memory: Memory) -> Memory | None:
        old = self._by_id.get(memory.id)
        if old is not None:
            self._drop_order(old)
            self._bytes -= old.approx_bytes()
        bisect.insort(self.order, (memory.created_at, memory.id))
        self._bytes += memory.approx_bytes()
        self._by_id[memory.id] = memory
        return old

    def pop(self, memory_id: str, default: Memory | None = None) -> Memory | None:
        memory = self._by_id.pop(memory_id, None)
        if memory is None:
            return default
        self._drop_order(memory)
        self._bytes -= memory.approx_bytes()
        return memory

    def _drop_order(self, memory: Memory) -> None:
        key = (memory.created_at, memory.id)
        i = bisect.bisect_left(self.order, key)
        if i < len(self.order) and self.order[i] == key:
            del self.order[i]

    @property
    def nbytes(self) -> int:
        return self._bytes + ORDER_ENTRY_BYTES * len(self.order)

    def lexical_view(self) -> tuple[Sequence[tuple[float, str]], Mapping[str, Memory]]:
        return self.order, self._by_id

    # ---- reads ---------------------------------------------------------------------------------------
    async def page(self, limit: int, before: tuple[float, str] | None, now: float, scope: Scope = ALL) -> list[Memory]:
        """A scope's page walks the order in steps of at least 256 until it is full, without pausing: the
        order must not move under it."""
        order, by_id = self.order, self._by_id
        end = len(order) if before is None else bisect.bisect_left(order, before)
        out: list[Memory] = []
        while end > 0 and len(out) < limit:
            start = max(0, end - max(limit - len(out), 256 if scope else 0))
            for _, mid in reversed(order[start:end]):
                memory = by_id[mid]
                if not memory.expired(now) and memory.in_scope(scope) and len(out) < limit:
                    out.append(memory)
            end = start
        return out

    async def expired(self, now: float) -> list[Memory]:
        """Looked at a slice at a time, so a big user's sweep never holds the event loop."""
        slices = Slices()
        due: list[Memory] = []
        for memory in list(self._by_id.values()):
            if memory.expired(now):
                due.append(memory)
            await slices.pause()
        return due

    async def live_count(self, now: float) -> int:
        return sum(1 for m in self._by_id.values() if not m.expired(now))

    async def ascending(self, chunk: int = 1000) -> AsyncIterator[list[Memory]]:
        """Chunks of a copy of the order: records removed meanwhile are skipped."""
        order = list(self.order)
        for start in range(0, len(order), chunk):
            by_id = self._by_id
            yield [m for _, mid in order[start : start + chunk] if (m := by_id.get(mid)) is not None]

    async def matching(self, filters: Filter | None, scope: Scope = ALL, exact: bool = False) -> list[str]:
        """A big user's scan runs in a worker thread, over a copy of the references (fast, and safe from
        writes landing meanwhile)."""
        if len(self._by_id) < MATCH_ON_LOOP_BELOW:
            return matching_ids(self._by_id.items(), filters, scope, exact)
        return await asyncio.to_thread(matching_ids, list(self._by_id.items()), filters, scope, exact)
