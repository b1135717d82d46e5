"""`GET /v1/memories/{id}/history` in cluster mode: PostgreSQL's history rows, written in each commit."""

from __future__ import annotations

from jean_memory.cluster.pg import Pg
from jean_memory.cluster.schema import HISTORY
from jean_memory.core.admission import ConcurrencyLimit
from jean_memory.core.writes import not_found
from jean_memory.storage.ltm.history import HistoryEntry, entry_from_row


class ClusterHistory:
    def __init__(self, pg: Pg, limit: ConcurrencyLimit) -> None:
        self._pg = pg
        self._limit = limit

    async def history(self, user_id: str, memory_id: str) -> list[HistoryEntry]:
        with self._limit.slot():
            rows = await self._pg.fetch(HISTORY, user_id, memory_id)
        if not rows:
            raise not_found(memory_id)
        return [entry_from_row(r) for r in rows]
