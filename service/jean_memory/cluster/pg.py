"""PostgreSQL for cluster mode: one asyncpg pool, the schema on first connect, errors made explicit.

The URL may name several hosts (`postgresql://h1:5432,h2:5432/db?target_session_attrs=read-write`):
asyncpg tries them in order and keeps only a writable primary, so after a failover new connections
follow the promoted standby. A connection that breaks mid-call fails that call only; the pool
replaces it. Every failure to reach the server surfaces as `Unavailable` (503 with Retry-After):
cluster mode never answers from a state it cannot prove current, and never acknowledges a write
PostgreSQL did not commit.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import asyncpg

from jean_memory.cluster.schema import EXPIRE_FUNCTION, SCHEMA, VECTORS_FUNCTION, WRITE_FUNCTION
from jean_memory.errors import Unavailable
from jean_memory.telemetry.metrics import ClusterMetrics

log = logging.getLogger(__name__)
T = TypeVar("T")

#: Errors that mean "the server is not reachable or not writable now", never "the request is wrong".
DISCONNECTED = (
    OSError,
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
    asyncpg.TooManyConnectionsError,
    asyncpg.InterfaceError,
    asyncpg.ReadOnlySQLTransactionError,
    asyncpg.AdminShutdownError,
    asyncpg.TargetServerAttributeNotMatched,
    TimeoutError,
)
_SCHEMA_LOCK = 7_160_903  # pg_advisory_xact_lock key: replicas starting together create the schema once


class Pg:
    def __init__(
        self, url: str, *, pool_size: int, timeout_s: float, metrics: ClusterMetrics, retry_after_s: int
    ) -> None:
        self._url = url.replace("postgresql+asyncpg://", "postgresql://")
        self._pool_size = pool_size
        self._timeout = timeout_s
        self._metrics = metrics
        self._retry_after = retry_after_s
        self._pool: asyncpg.Pool | None = None
        self._opening: asyncio.Lock | None = None
        self.ok = False
        #: The fire drill's `ltm_unreachable` fault: every call fails as if the server were gone.
        self.blocked = False
        for state, fn in (("busy", self._busy), ("idle", self._idle), ("max", lambda: float(self._pool_size))):
            metrics.pool_connections.labels(state).set_function(fn)

    def _busy(self) -> float:
        pool = self._pool
        return float(pool.get_size() - pool.get_idle_size()) if pool is not None else 0.0

    def _idle(self) -> float:
        return float(self._pool.get_idle_size()) if self._pool is not None else 0.0

    async def pool(self) -> asyncpg.Pool:
        if self._pool is not None:
            return self._pool
        self._opening = self._opening or asyncio.Lock()
        async with self._opening:
            if self._pool is None:
                try:
                    pool = await asyncpg.create_pool(
                        self._url,
                        min_size=1,
                        max_size=self._pool_size,
                        timeout=self._timeout,
                        command_timeout=self._timeout,
                        statement_cache_size=256,
                    )
                    async with pool.acquire() as conn, conn.transaction():
                        await conn.execute("SELECT pg_advisory_xact_lock($1)", _SCHEMA_LOCK)
                        await conn.execute(SCHEMA)
                        await conn.execute(WRITE_FUNCTION)
                        await conn.execute(VECTORS_FUNCTION)
                        await conn.execute(EXPIRE_FUNCTION)
                except DISCONNECTED as exc:
                    self.ok = False
                    raise self._unavailable(exc) from exc
                self._pool = pool
        return self._pool

    def _unavailable(self, exc: BaseException) -> Unavailable:
        return Unavailable(f"PostgreSQL unavailable: {type(exc).__name__}: {exc}", retry_after_s=self._retry_after)

    async def run(self, fn: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
        """Run `fn` on a pooled connection; a lost or unwritable server raises `Unavailable`."""
        if self.blocked:
            self.ok = False
            raise self._unavailable(ConnectionError("injected fault: PostgreSQL unreachable (fire drill)"))
        pool = await self.pool()
        try:
            async with pool.acquire(timeout=self._timeout) as conn:
                result = await fn(conn)
        except DISCONNECTED as exc:
            self.ok = False
            raise self._unavailable(exc) from exc
        self.ok = True
        return result

    async def fetch(self, query: str, *args: Any) -> list[asyncpg.Record]:
        rows: list[asyncpg.Record] = await self.run(lambda c: c.fetch(query, *args))
        return rows

    async def execute(self, query: str, *args: Any) -> str:
        status: str = await self.run(lambda c: c.execute(query, *args))
        return status

    async def ping(self) -> bool:
        try:
            await self.fetch("SELECT 1")
        except Unavailable:
            return False
        return True

    async def connect(self) -> asyncpg.Connection:
        """A connection of its own (the change listener holds one), from the same URL."""
        if self.blocked:
            raise self._unavailable(ConnectionError("injected fault: PostgreSQL unreachable (fire drill)"))
        try:
            conn: asyncpg.Connection = await asyncpg.connect(self._url, timeout=self._timeout)
        except DISCONNECTED as exc:
            raise self._unavailable(exc) from exc
        return conn

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None
