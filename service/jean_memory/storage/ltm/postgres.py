"""PostgreSQL long-term store (asyncpg): a pool, prepared statements, batched writes.

For when one machine is not enough: several service instances can share one store of record.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from typing import Any

import asyncpg

from jean_memory import jsonutil
from jean_memory.errors import LtmError
from jean_memory.memory import Memory, WriteOp, memory_key
from jean_memory.storage.ltm.base import LongTermStore, last_write_wins

_SCHEMA = """
CREATE TABLE IF NOT EXISTS memories (
    id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    content TEXT NOT NULL,
    metadata JSONB NOT NULL,
    salience DOUBLE PRECISION NOT NULL,
    created_at DOUBLE PRECISION NOT NULL,
    embedding BYTEA,
    model TEXT,
    PRIMARY KEY (user_id, id)
);
CREATE INDEX IF NOT EXISTS memories_user ON memories(user_id, created_at);
CREATE INDEX IF NOT EXISTS memories_created ON memories(created_at);
"""
# One statement for a whole run of upserts: arrays in, unnest, one round trip.
_UPSERT = """
INSERT INTO memories (id, user_id, content, metadata, salience, created_at, embedding, model)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::jsonb[], $5::float8[], $6::float8[],
                     $7::bytea[], $8::text[])
ON CONFLICT (user_id, id) DO UPDATE SET content = excluded.content,
    metadata = excluded.metadata, salience = excluded.salience, created_at = excluded.created_at,
    embedding = coalesce(excluded.embedding, memories.embedding),
    model = CASE WHEN excluded.embedding IS NULL THEN memories.model ELSE excluded.model END
"""
_BACKFILL = """
UPDATE memories AS m SET embedding = v.embedding, model = v.model
FROM unnest($1::text[], $2::text[], $3::bytea[], $4::text[]) AS v(id, user_id, embedding, model)
WHERE m.id = v.id AND m.user_id = v.user_id
"""
_DELETE = """
DELETE FROM memories AS m USING unnest($1::text[], $2::text[]) AS d(user_id, id)
WHERE m.user_id = d.user_id AND m.id = d.id
"""
#: Stores made before ids were scoped by user were keyed by `id` alone; re-key them (idempotent).
_MIGRATE_KEY = """
DO $$
BEGIN
    IF (SELECT array_agg(a.attname::text ORDER BY a.attname) FROM pg_index i
        JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
        WHERE i.indrelid = 'memories'::regclass AND i.indisprimary) = ARRAY['id'] THEN
        ALTER TABLE memories DROP CONSTRAINT memories_pkey, ADD PRIMARY KEY (user_id, id);
    END IF;
END $$;
"""
_SELECT = "SELECT id, user_id, content, metadata::text, salience, created_at, embedding, model FROM memories"

_RETRYABLE = (
    OSError,
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
    asyncpg.TooManyConnectionsError,
    asyncpg.InterfaceError,
    TimeoutError,
)


def _row(r: Any) -> Memory:
    return Memory(r[0], r[1], r[2], jsonutil.loads(r[3]), r[4], r[5], r[6], r[7])


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
                    await conn.execute(_SCHEMA)
                    await conn.execute(_MIGRATE_KEY)
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
        runs = last_write_wins(ops)

        async def write(conn: asyncpg.Connection) -> None:
            async with conn.transaction():
                for run in runs:
                    ms = [op.memory for op in run]
                    if run[0].kind == "delete":
                        await conn.execute(_DELETE, [m.user_id for m in ms], [m.id for m in ms])
                        continue
                    if run[0].kind == "vector":
                        await conn.execute(
                            _BACKFILL,
                            [m.id for m in ms],
                            [m.user_id for m in ms],
                            [m.embedding for m in ms],
                            [m.model for m in ms],
                        )
                        continue
                    await conn.execute(
                        _UPSERT,
                        [m.id for m in ms],
                        [m.user_id for m in ms],
                        [m.content for m in ms],
                        [jsonutil.dumps_str(m.metadata) for m in ms],
                        [m.salience for m in ms],
                        [m.created_at for m in ms],
                        [m.embedding for m in ms],
                        [m.model for m in ms],
                    )

        await self._with_conn(write)

    async def load_user(self, user_id: str) -> list[Memory]:
        rows = await self._with_conn(lambda c: c.fetch(f"{_SELECT} WHERE user_id = $1", user_id))
        return [_row(r) for r in rows]

    async def get(self, user_id: str, memory_id: str) -> Memory | None:
        row = await self._with_conn(
            lambda c: c.fetchrow(f"{_SELECT} WHERE id = $1 AND user_id = $2", memory_id, user_id)
        )
        return _row(row) if row else None

    async def iter_keys(self) -> AsyncIterator[list[str]]:
        last = ("", "")
        while True:  # keyset pagination along the primary key (user_id, id)
            rows = await self._with_conn(
                lambda c, after=last: c.fetch(
                    "SELECT user_id, id FROM memories WHERE (user_id, id) > ($1, $2) ORDER BY user_id, id LIMIT 50000",
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
                "SELECT user_id, max(created_at) AS t FROM (SELECT user_id, created_at FROM memories"
                " ORDER BY created_at DESC LIMIT 100000) s GROUP BY user_id ORDER BY t DESC LIMIT $1",
                limit,
            )
        )
        return [r[0] for r in rows]

    async def count(self) -> int:
        return int(await self._with_conn(lambda c: c.fetchval("SELECT count(*) FROM memories")))
