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


#: The memories table and its FTS5 index as the previous release wrote them (`git show 8d761cb:service/
#: jean_memory/storage/ltm/sqlite.py`): the index kept by triggers on every write of a text.
PREVIOUS_SCHEMA = (
    """CREATE TABLE memories (id TEXT NOT NULL, user_id TEXT NOT NULL, content TEXT NOT NULL,
    metadata TEXT NOT NULL, salience REAL NOT NULL, created_at REAL NOT NULL, embedding BLOB, model TEXT,
    revision INTEGER NOT NULL DEFAULT 1, updated_at REAL, expires_at REAL, seq INTEGER NOT NULL DEFAULT 0,
    agent_id TEXT, run_id TEXT, PRIMARY KEY (user_id, id))""",
    "CREATE VIRTUAL TABLE memories_fts USING fts5(content, content='memories', content_rowid='rowid',"
    " tokenize='porter unicode61 remove_diacritics 2')",
    "CREATE TRIGGER memories_fts_insert AFTER INSERT ON memories BEGIN"
    " INSERT INTO memories_fts(rowid, content) VALUES (new.rowid, new.content); END",
    "CREATE TRIGGER memories_fts_delete AFTER DELETE ON memories BEGIN"
    " INSERT INTO memories_fts(memories_fts, rowid, content) VALUES ('delete', old.rowid, old.content); END",
    "CREATE TRIGGER memories_fts_update AFTER UPDATE OF content ON memories WHEN old.content <> new.content BEGIN"
    " INSERT INTO memories_fts(memories_fts, rowid, content) VALUES ('delete', old.rowid, old.content);"
    " INSERT INTO memories_fts(rowid, content) VALUES (new.rowid, new.content); END",
)


def _fts_objects(path: Path) -> list[str]:
    with sqlite3.connect(path) as conn:
        return [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE name LIKE 'memories_fts%'")]


def test_sqlite_store_of_the_previous_release_loses_its_unread_fts5_index(tmp_path: Path) -> None:
    """A store the previous release wrote (rows indexed by FTS5, kept by triggers): on start the index and
    its triggers go, every row stays, and later writes, edits and deletes work without them."""
    path = tmp_path / "ltm.db"
    with sqlite3.connect(path) as conn:
        for statement in PREVIOUS_SCHEMA:
            conn.execute(statement)
        conn.executemany(
            "INSERT INTO memories (id, user_id, content, metadata, salience, created_at)"
            " VALUES (?, ?, ?, '{}', 0.5, 1)",
            [("m1", "alice", "running along the river"), ("m2", "alice", "cello lessons"), ("m3", "bob", "he runs")],
        )
    assert "memories_fts" in _fts_objects(path)

    async def writes() -> None:
        store = SqliteStore(str(path))
        await store.start()
        try:
            assert _fts_objects(path) == [], "the index, its shadow tables and its triggers are gone"
            assert [m.content for m in await store.load_user("alice")] == [
                "running along the river", "cello lessons"
            ]  # fmt: skip
            edited = Memory("m2", "alice", "cello and running", {}, 0.5, 1.0, revision=2)
            gone = Memory("m1", "alice", "", {}, 0.5, 1.0)
            await store.apply([WriteOp(1, "upsert", edited), WriteOp(2, "delete", gone)])
            assert [m.content for m in await store.load_user("alice")] == ["cello and running"]
            assert (await store.get("bob", "m3")) is not None
        finally:
            await store.close()

    asyncio.run(writes())
    asyncio.run(_reopen(path))


async def _reopen(path: Path) -> None:
    """A second start finds nothing to drop and leaves the rows as they are."""
    store = SqliteStore(str(path))
    await store.start()
    try:
        assert (await store.get("alice", "m2")) is not None and _fts_objects(path) == []
    finally:
        await store.close()
