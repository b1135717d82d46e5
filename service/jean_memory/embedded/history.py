"""Embedded mode's history: the store's rows, then what the journal holds for the memory and has not
shipped yet (the same events the store will record when it ships), so a version is listed the moment
it is acknowledged."""

from __future__ import annotations

from jean_memory.core.admission import ConcurrencyLimit
from jean_memory.core.writes import not_found
from jean_memory.errors import LtmError, Unavailable
from jean_memory.storage.journal import Journal
from jean_memory.storage.ltm.base import LongTermStore
from jean_memory.storage.ltm.history import RECORDED, HistoryEntry, event_of, time_of


class History:
    def __init__(self, journal: Journal, store: LongTermStore, limit: ConcurrencyLimit) -> None:
        self._journal = journal
        self._store = store
        self._limit = limit

    async def history(self, user_id: str, memory_id: str) -> list[HistoryEntry]:
        with self._limit.slot():
            try:
                entries = await self._store.history(user_id, memory_id)
            except LtmError as exc:
                raise Unavailable(f"long-term store unavailable: {exc}") from exc
            for op in await self._journal.for_memory(user_id, memory_id):
                if op.kind == "forget":
                    entries = []
                elif op.kind in RECORDED:
                    m = op.memory
                    entry = HistoryEntry(
                        m.revision,
                        event_of(op),
                        time_of(op),
                        m.content,
                        m.metadata,
                        m.salience,
                        m.expires_at,
                        m.agent_id,
                        m.run_id,
                    )
                    if entry not in entries:  # shipped while we read: the store has it already
                        entries.append(entry)
        if not entries:
            raise not_found(memory_id)
        return sorted(entries, key=lambda e: (e.at, e.revision))
