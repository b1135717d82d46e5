"""Stores written before ids were scoped by user (keyed by `id` alone) are re-keyed by (user_id, id) on
start, keeping every row: real SQLite files and a real PostgreSQL server."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from jean_memory.memory import Memory, WriteOp
from jean_memory.storage.ltm.postgres import PostgresStore
from jean_memory.storage.ltm.sqlite import SqliteStore
from jean_memory_dev.processes import PostgresServer

OLD_TABLE = """CREATE TABLE memories (id TEXT PRIMARY KEY, user_id TEXT NOT NULL, content TEXT NOT NULL,
metadata {json} NOT NULL, salience {real} NOT NULL, created_at {real} NOT NULL, embedding {blob}, model TEXT)"""
SHARED = "3f0e5a52-6f0b-4a53-9d55-0c5c1b0f0a11"


async def _check(store: SqliteStore | PostgresStore) -> None:
    await store.start()
    try:
        assert (await store.get("alice", SHARED)) is not None, "the old row survives the migration"
        bob = Memory(SHARED, "bob", "bob's own", {}, 0.5, 2.0)
        await store.apply([WriteOp(1, "upsert", bob)])
        alice = await store.get("alice", SHARED)
        assert alice is not None and alice.content == "alice's", "bob's write of the same id is another memory"
        assert (await store.get("bob", SHARED)) is not None
        assert await store.count() == 2
        keys = [k async for chunk in store.iter_keys() for k in chunk]
        assert sorted(keys) == [f"alice\x00{SHARED}", f"bob\x00{SHARED}"]
    finally:
        await store.close()


def test_sqlite_store_is_rekeyed(tmp_path: Path) -> None:
    path = tmp_path / "ltm.db"
    with sqlite3.connect(path) as conn:
        conn.execute(OLD_TABLE.format(json="TEXT", real="REAL", blob="BLOB"))
        conn.execute("INSERT INTO memories VALUES (?, 'alice', 'alice''s', '{}', 0.5, 1.0, NULL, NULL)", (SHARED,))
    asyncio.run(_check(SqliteStore(str(path))))
    with sqlite3.connect(path) as conn:
        key = sorted((r[5], r[1]) for r in conn.execute("PRAGMA table_info(memories)") if r[5])
    assert [name for _, name in key] == ["user_id", "id"]


@pytest.mark.postgres
def test_postgres_store_is_rekeyed() -> None:
    server = PostgresServer().init().start()
    try:
        server.psql(OLD_TABLE.format(json="JSONB", real="DOUBLE PRECISION", blob="BYTEA"))
        server.psql(f"INSERT INTO memories VALUES ('{SHARED}', 'alice', 'alice''s', '{{}}', 0.5, 1.0, NULL, NULL)")
        asyncio.run(_check(PostgresStore(server.url)))
    finally:
        server.destroy()


#: The memories table as the release before the lexical index wrote it (every column, no `memories_fts`).
PREVIOUS_TABLE = """CREATE TABLE memories (id TEXT NOT NULL, user_id TEXT NOT NULL, content TEXT NOT NULL,
metadata TEXT NOT NULL, salience REAL NOT NULL, created_at REAL NOT NULL, embedding BLOB, model TEXT,
revision INTEGER NOT NULL DEFAULT 1, updated_at REAL, expires_at REAL, seq INTEGER NOT NULL DEFAULT 0,
PRIMARY KEY (user_id, id))"""


def _words(path: Path, match: str) -> list[tuple[str, str]]:
    with sqlite3.connect(path) as conn:
        rows = conn.execute(
            "SELECT m.user_id, m.id FROM memories_fts JOIN memories m ON m.rowid = memories_fts.rowid"
            " WHERE memories_fts MATCH ? ORDER BY m.user_id, m.id",
            (match,),
        ).fetchall()
    return [(u, i) for u, i in rows]


def test_sqlite_store_gains_its_lexical_index_in_place(tmp_path: Path) -> None:
    """A store of the previous release: every old text is indexed on start, and later writes keep it exact."""
    path = tmp_path / "ltm.db"
    with sqlite3.connect(path) as conn:
        conn.execute(PREVIOUS_TABLE)
        conn.executemany(
            "INSERT INTO memories (id, user_id, content, metadata, salience, created_at)"
            " VALUES (?, ?, ?, '{}', 0.5, 1)",
            [("m1", "alice", "running along the river"), ("m2", "alice", "cello lessons"), ("m3", "bob", "he runs")],
        )

    async def writes() -> None:
        store = SqliteStore(str(path))
        await store.start()
        try:
            assert _words(path, "run") == [("alice", "m1"), ("bob", "m3")]  # stemmed: runs, running
            edited = Memory("m2", "alice", "cello and running", {}, 0.5, 1.0, revision=2)
            gone = Memory("m1", "alice", "", {}, 0.5, 1.0)
            await store.apply([WriteOp(1, "upsert", edited), WriteOp(2, "delete", gone)])
            assert _words(path, "run") == [("alice", "m2"), ("bob", "m3")]
            assert _words(path, "lesson") == []
            await store.apply([WriteOp(3, "forget", Memory("", "bob", "", {}, 0.5, 1.0))])
            assert _words(path, "run") == [("alice", "m2")]
        finally:
            await store.close()

    asyncio.run(writes())
    asyncio.run(_reopen(path))


async def _reopen(path: Path) -> None:
    """A second start finds the index made and leaves it as it is."""
    store = SqliteStore(str(path))
    await store.start()
    await store.close()
    assert _words(path, "run") == [("alice", "m2")]
