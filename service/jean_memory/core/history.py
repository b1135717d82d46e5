"""`GET /v1/memories/{id}/history`: every version of a memory, oldest first, from the store of record.

Embedded mode (`embedded/history.py`): the store's history rows, followed by what the journal holds for
the memory and has not shipped yet, so a version is listed the moment it is acknowledged. Cluster mode
(`cluster/history.py`) reads PostgreSQL's history, written in the commit itself.
"""

from __future__ import annotations

from typing import Protocol

from jean_memory.storage.ltm.history import HistoryEntry


class HistoryOps(Protocol):
    async def history(self, user_id: str, memory_id: str) -> list[HistoryEntry]: ...
