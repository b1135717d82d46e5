"""Hold PostgreSQL connections open: the fault behind JeanMemoryPostgresConnectionsNearLimit, as a client
that leaks its connections would cause it (the drill and tests/cluster/test_exporters.py use it).

    held = HeldConnections(url).fill_to(0.9)   # connections until 90 % of max_connections are in use
    ...
    held.close()
"""

from __future__ import annotations

import asyncio
import math
from typing import Any

import asyncpg


class HeldConnections:
    """Idle connections kept open by this process (asyncpg, its own event loop: no thread needed, an idle
    connection stays open between calls)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._loop = asyncio.new_event_loop()
        self._conns: list[Any] = []

    def _run(self, coro: Any) -> Any:
        return self._loop.run_until_complete(coro)

    def usage(self) -> tuple[int, int]:
        """(client connections in use, max_connections), as PostgreSQL counts them."""

        async def read() -> tuple[int, int]:
            conn = await asyncpg.connect(self.url)
            try:
                sql = "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'"
                used = await conn.fetchval(sql)
                limit = await conn.fetchval("SELECT current_setting('max_connections')::int")
                return int(used) - 1, int(limit)  # not this reading's own connection
            finally:
                await conn.close()

        result: tuple[int, int] = self._run(read())
        return result

    def fill_to(self, ratio: float) -> HeldConnections:
        """Open connections until `ratio` of max_connections are in use (counting what others hold)."""
        used, limit = self.usage()
        wanted = max(0, math.ceil(ratio * limit) - used)

        async def open_all() -> list[Any]:
            return list(await asyncio.gather(*(asyncpg.connect(self.url) for _ in range(wanted))))

        self._conns += self._run(open_all())
        return self

    @property
    def held(self) -> int:
        return len(self._conns)

    def close(self) -> None:
        async def close_all() -> None:
            await asyncio.gather(*(c.close() for c in self._conns), return_exceptions=True)

        self._run(close_all())
        self._conns.clear()
        self._loop.close()
