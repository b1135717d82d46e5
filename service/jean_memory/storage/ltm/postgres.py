"""PostgreSQL long-term store (asyncpg): a pool, prepared statements, batched writes.

For when one machine is not enough: several service instances can share one store of record.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from typing import Any

import asyncpg

from jean_memory.cooperative import Slices
from jean_memory.errors import LtmError
from jean_memory.memory import Memory, WriteOp, memory_from_row, memory_key
from jean_memory.storage.ltm.base import LongTermStore
from jean_memory.storage.ltm.history import HistoryEntry, entry_from_row, history_rows, latest, runs
from jean_memory.storage.ltm.pgschema import HISTORY, MIGRATE_KEY, SCHEMA, SELECT

# One statement for a whole run of upserts: arrays in, unnest, one round trip.
_UPSERT = """
INSERT INTO memories (id, user_id, content, metadata, salience, created_at, embedding, model, revision, updated_at,
                      expires_at, agent_id, run_id, deleted)
SELECT *, false FROM unnest($1::text[], $2::text[], $3::text[], $4::jsonb[], $5::float8[], $6::float8[],
                            $7::bytea[], $8::text[], $9::int8[], $10::float8[], $11::float8[], $12::text[],
                            $13::text[])
ON CONFLICT (user_id, id) DO UPDATE SET content = excluded.content,
    metadata = excluded.metadata, salience = excluded.salience, created_at = excluded.created_at,
    revision = excluded.revision, updated_at = excluded.updated_at, expires_at = excluded.expires_at, deleted = false,
    agent_id = excluded.agent_id, run_id = excluded.run_id,
    embedding = CASE WHEN excluded.content <> memories.content THEN excluded.embedding
                     ELSE coalesce(excluded.embedding, memories.embedding) END,
    model = CASE WHEN excluded.content <> memories.content OR excluded.embedding IS NOT NULL THEN excluded.model
                 ELSE memories.model END
"""
_BACKFILL = """
UPDATE memories AS m SET embedding = v.embedding, model = v.model
FROM unnest($1::text[], $2::text[], $3::bytea[], $4::text[], $5::int8[]) AS v(id, user_id, embedding, model, revision)
WHERE m.id = v.id AND m.user_id = v.user_id AND m.revision = v.revision
"""
_DELETE = """
DELETE FROM memories AS m USING unnest($1::text[], $2::text[]) AS d(user_id, id)
WHERE m.user_id = d.user_id AND m.id = d.id
"""
_HISTORY = """
INSERT INTO memory_history (user_id, id, revision, event, at, content, metadata, salience, expires_at, agent_id, run_id)
SELECT * FROM unnest($1::text[], $2::text[], $3::int8[], $4::text[], $5::float8[], $6::text[], $7::jsonb[],
                     $8::float8[], $9::float8[], $10::text[], $11::text[])
ON CONFLICT DO NOTHING
"""
_SELECT = f"{SELECT} WHERE NOT deleted AND"

_RETRYABLE = (
    OSError,
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
    asyncpg.TooManyConnectionsError,
    asyncpg.InterfaceError,
    TimeoutError,
)


class PostgresStore(LongTermStore):
    kind = "postgres"

    def __init__(self, url: str, *, pool_size: int = 10, timeout_s: float = 5.0) -> None:
        self._url = url.replace("postgresql+asyncpg://", "postgresql://")
        self._pool_size = pool_size
        self._timeout = timeout_s
        self._pool: asyncpg.Pool | None = None

    async def _pool_or_connect(self) -> asyncpg.Pool:
        if self._pool is None:
            try:
                self._pool = await asyncpg.create_pool(
                    self._url,
                    min_size=1,
                    max_size=self._pool_size,
                    timeout=self._timeout,
                    command_timeout=self._timeout,
                    statement_cache_size=256,
                )
                async with self._pool.acquire() as conn:
                    await conn.execute(SCHEMA)
                    await conn.execute(MIGRATE_KEY)
            except Exception as exc:
                if self._pool is not None:
                    self._pool.terminate()
                    self._pool = None
                raise LtmError(f"postgres: {exc}") from exc
        return self._pool

    async def start(self) -> None:
        # If the server is down the shuttle retries; readiness reports the store down meanwhile.
        with contextlib.suppress(LtmError):
            await self._pool_or_connect()

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()

    async def _with_conn(self, fn: Any) -> Any:
        pool = await self._pool_or_connect()
        try:
            async with pool.acquire(timeout=self._timeout) as conn:
                return await fn(conn)
        except _RETRYABLE as exc:
            raise LtmError(f"postgres: {type(exc).__name__}: {exc}") from exc
        except asyncpg.PostgresError as exc:
            retryable = not isinstance(exc, asyncpg.DataError | asyncpg.IntegrityConstraintViolationError)
            raise LtmError(f"postgres: {exc}", retryable=retryable) from exc

    async def ping(self) -> None:
        await self._with_conn(lambda c: c.fetchval("SELECT 1"))

    async def apply(self, ops: Sequence[WriteOp]) -> None:
        async def write(conn: asyncpg.Connection) -> None:
            async with conn.transaction():
                for run in runs(ops):
                    history = history_rows(run)
                    if history:
                        await conn.execute(_HISTORY, *(list(col) for col in zip(*history, strict=True)))
                    await _apply_run(conn, run[0].kind, [op.memory for op in latest(run)])

        await self._with_conn(write)

    async def load_user(self, user_id: str) -> list[Memory]:
        rows = await self._with_conn(lambda c: c.fetch(f"{_SELECT} user_id = $1", user_id))
        slices = Slices()  # a large user's rows are parsed a slice at a time, giving the event loop back
        out: list[Memory] = []
        for row in rows:
            out.append(memory_from_row(row))
            await slices.pause()
        return out

    async def get(self, user_id: str, memory_id: str) -> Memory | None:
        row = await self._with_conn(lambda c: c.fetchrow(f"{_SELECT} id = $1 AND user_id = $2", memory_id, user_id))
        return memory_from_row(row) if row else None

    async def history(self, user_id: str, memory_id: str) -> list[HistoryEntry]:
        rows = await self._with_conn(lambda c: c.fetch(HISTORY, user_id, memory_id))
        return [entry_from_row(r) for r in rows]

    async def expired(self, now: float, limit: int) -> list[Memory]:
        rows = await self._with_conn(
            lambda c: c.fetch(f"{_SELECT} expires_at IS NOT NULL AND expires_at <= $1 LIMIT $2", now, limit)
        )
        return [memory_from_row(r) for r in rows]

    async def iter_keys(self) -> AsyncIterator[list[str]]:
        last = ("", "")
        while True:  # keyset pagination along the primary key (user_id, id)
            rows = await self._with_conn(
                lambda c, after=last: c.fetch(
                    "SELECT user_id, id FROM memories WHERE (user_id, id) > ($1, $2) AND NOT deleted"
                    " ORDER BY user_id, id LIMIT 50000",
                    *after,
                )
            )
            if not rows:
                return
            yield [memory_key(r[0], r[1]) for r in rows]
            last = (rows[-1][0], rows[-1][1])

    async def recent_users(self, limit: int) -> list[str]:
        rows = await self._with_conn(
            lambda c: c.fetch(
                "SELECT user_id, max(created_at) AS t FROM (SELECT user_id, created_at FROM memories WHERE NOT deleted"
                " ORDER BY created_at DESC LIMIT 100000) s GROUP BY user_id ORDER BY t DESC LIMIT $1",
                limit,
            )
        )
        return [r[0] for r in rows]

    async def count(self) -> int:
        return int(await self._with_conn(lambda c: c.fetchval("SELECT count(*) FROM memories WHERE NOT deleted")))


async def _apply_run(conn: asyncpg.Connection, kind: str, ms: list[Memory]) -> None:
    """One run of one kind (already reduced to each memory's last op) as one statement."""
    if kind in ("delete", "expire"):
        await conn.execute(_DELETE, [m.user_id for m in ms], [m.id for m in ms])
    elif kind == "forget":
        users = sorted({m.user_id for m in ms})
        await conn.execute("DELETE FROM memories WHERE user_id = ANY($1::text[])", users)
        await conn.execute("DELETE FROM memory_history WHERE user_id = ANY($1::text[])", users)
    elif kind == "vector":
        await conn.execute(
            _BACKFILL,
            [m.id for m in ms], [m.user_id for m in ms], [m.embedding for m in ms], [m.model for m in ms],
            [m.revision for m in ms],
        )  # fmt: skip
    else:
        await conn.execute(_UPSERT, *(list(col) for col in zip(*(m.row() for m in ms), strict=True)))
