"""SQLite long-term store: the embedded default, one file; writes on one connection and thread, whole-user
loads on a read-only connection and thread of their own."""

from __future__ import annotations

import asyncio
import functools
import sqlite3
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from jean_memory.errors import LtmError
from jean_memory.memory import ROW_COLUMNS, ROW_MARKS, Memory, WriteOp, memory_from_row, memory_key
from jean_memory.storage.ltm.base import LongTermStore
from jean_memory.storage.ltm.history import HistoryEntry, entry_from_row, history_rows, latest, runs
from jean_memory.storage.ltm.sqlite_reader import readonly_uri

T = TypeVar("T")

_TABLE = """
CREATE TABLE IF NOT EXISTS memories (
    id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    content TEXT NOT NULL,
    metadata TEXT NOT NULL,
    salience REAL NOT NULL,
    created_at REAL NOT NULL,
    embedding BLOB,
    model TEXT,
    revision INTEGER NOT NULL DEFAULT 1,
    updated_at REAL,
    expires_at REAL,
    seq INTEGER NOT NULL DEFAULT 0,
    agent_id TEXT,
    run_id TEXT,
    PRIMARY KEY (user_id, id)
)"""
_SCHEMA = f"""{_TABLE};
CREATE INDEX IF NOT EXISTS memories_user ON memories(user_id, created_at);
CREATE INDEX IF NOT EXISTS memories_created ON memories(created_at);
CREATE TABLE IF NOT EXISTS memory_history (
    user_id TEXT NOT NULL,
    id TEXT NOT NULL,
    revision INTEGER NOT NULL,
    event TEXT NOT NULL,
    at REAL NOT NULL,
    content TEXT NOT NULL,
    metadata TEXT NOT NULL,
    salience REAL NOT NULL,
    expires_at REAL,
    agent_id TEXT,
    run_id TEXT,
    UNIQUE (user_id, id, revision, event, at)
);
"""
#: Indexes on columns added after the first release (made once the columns exist).
_LATE_INDEXES = """
CREATE INDEX IF NOT EXISTS memories_expiry ON memories(expires_at) WHERE expires_at IS NOT NULL;
CREATE INDEX IF NOT EXISTS memories_user_seq ON memories(user_id, seq);
CREATE INDEX IF NOT EXISTS memories_user_order ON memories(user_id, created_at, id);
CREATE INDEX IF NOT EXISTS memories_user_run ON memories(user_id, run_id) WHERE run_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS memories_user_agent ON memories(user_id, agent_id) WHERE agent_id IS NOT NULL;
"""
#: Columns added after the first release, for stores made before them.
_ADDED = {
    "revision": "INTEGER NOT NULL DEFAULT 1",
    "updated_at": "REAL",
    "expires_at": "REAL",
    # The journal seq of the row's last change: what a user's index snapshot covers (`storage/large/snapshot.py`).
    "seq": "INTEGER NOT NULL DEFAULT 0",
    # The memory's scope within its user (`Memory.agent_id`, `Memory.run_id`); None for older rows.
    "agent_id": "TEXT",
    "run_id": "TEXT",
}
#: ...and to the history, so a version keeps the scope it was written in.
_HISTORY_ADDED = {"agent_id": "TEXT", "run_id": "TEXT"}
#: The FTS5 index of `memories` and its triggers, as releases before the snapshot's BM25 made them: it ranked
#: a partially resident user's words, scoring every row holding any query word; nothing reads it now.
_FTS_OBJECTS = (
    ("trigger", "memories_fts_insert"),
    ("trigger", "memories_fts_delete"),
    ("trigger", "memories_fts_update"),
    ("table", "memories_fts"),
)
_UPSERT = (
    f"INSERT INTO memories ({ROW_COLUMNS}, seq) VALUES ({ROW_MARKS}, ?)"
    " ON CONFLICT(user_id, id) DO UPDATE"
    " SET content=excluded.content, metadata=excluded.metadata, salience=excluded.salience,"
    " created_at=excluded.created_at, revision=excluded.revision, updated_at=excluded.updated_at,"
    " expires_at=excluded.expires_at, seq=excluded.seq,"
    # A new text's vector is the one it carries (or none yet); the same text keeps the stored vector.
    " embedding=CASE WHEN excluded.content <> memories.content THEN excluded.embedding"
    " ELSE coalesce(excluded.embedding, memories.embedding) END,"
    " model=CASE WHEN excluded.content <> memories.content OR excluded.embedding IS NOT NULL"
    " THEN excluded.model ELSE memories.model END"
)
_SELECT = f"SELECT {ROW_COLUMNS} FROM memories"
_HISTORY = (
    "INSERT OR IGNORE INTO memory_history (user_id, id, revision, event, at, content, metadata, salience,"
    " expires_at, agent_id, run_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def _migrate_primary_key(conn: sqlite3.Connection) -> None:
    """Stores made before ids were scoped by user had `id` alone as the key (a second user's write of
    the same UUID replaced the first's): rebuild the table keyed by (user_id, id), in one transaction."""
    pk = [r[1] for r in conn.execute("PRAGMA table_info(memories)") if r[5]]
    if pk != ["id"]:
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute("ALTER TABLE memories RENAME TO memories_v1")
        conn.execute("DROP INDEX IF EXISTS memories_user")
        conn.execute("DROP INDEX IF EXISTS memories_created")
        conn.execute(_TABLE)
        conn.execute(
            "INSERT INTO memories (id, user_id, content, metadata, salience, created_at, embedding, model)"
            " SELECT id, user_id, content, metadata, salience, created_at, embedding, model FROM memories_v1"
        )
        conn.execute("DROP TABLE memories_v1")
        conn.commit()
    except BaseException:
        conn.rollback()
        raise


def _add_columns(conn: sqlite3.Connection) -> None:
    present = {r[1] for r in conn.execute("PRAGMA table_info(memories)")}
    for column, decl in _ADDED.items():
        if column not in present:
            conn.execute(f"ALTER TABLE memories ADD COLUMN {column} {decl}")
    present = {r[1] for r in conn.execute("PRAGMA table_info(memory_history)")}
    for column, decl in _HISTORY_ADDED.items():
        if column not in present:
            conn.execute(f"ALTER TABLE memory_history ADD COLUMN {column} {decl}")
    conn.executescript(_LATE_INDEXES)


def _drop_fts_index(conn: sqlite3.Connection) -> None:
    """Stores of the releases that searched a big user's words with FTS5 lose that index on start (a big
    user's words are in its snapshot now, `storage/large/lexical_snapshot.py`): its triggers wrote every text a
    second time, for an index nothing reads. One transaction; the rows are untouched."""
    if not conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'memories_fts'").fetchone():
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        for kind, name in _FTS_OBJECTS:
            conn.execute(f"DROP {kind.upper()} IF EXISTS {name}")
        conn.commit()
    except BaseException:
        conn.rollback()
        raise


def _apply(conn: sqlite3.Connection, ops: Sequence[WriteOp]) -> None:
    """Ops in order, in one transaction: each run's history rows, then the run's final state."""
    with conn:
        for run in runs(ops):
            kind = run[0].kind
            conn.executemany(_HISTORY, history_rows(run))
            state = latest(run)
            if kind in ("delete", "expire"):
                keys = [(op.memory.user_id, op.memory.id) for op in state]
                conn.executemany("DELETE FROM memories WHERE user_id = ? AND id = ?", keys)
            elif kind == "forget":
                users = sorted({(op.memory.user_id,) for op in run})
                conn.executemany("DELETE FROM memories WHERE user_id = ?", users)
                conn.executemany("DELETE FROM memory_history WHERE user_id = ?", users)
            elif kind == "vector":
                vectors = [
                    (op.memory.embedding, op.memory.model, op.seq, op.memory.id, op.memory.user_id, op.memory.revision)
                    for op in state
                ]
                conn.executemany(
                    "UPDATE memories SET embedding = ?, model = ?, seq = ?"
                    " WHERE id = ? AND user_id = ? AND revision = ?",
                    vectors,
                )
            else:
                conn.executemany(_UPSERT, [(*op.memory.row(), op.seq) for op in state])


def _keys_after(conn: sqlite3.Connection, after: tuple[str, str]) -> tuple[tuple[str, str], list[str]]:
    """A chunk of memory keys in (user_id, id) order, and the last key read (keyset pagination). The primary
    key's index covers the query, so the Bloom filter's fill reads the index (about 80 bytes a memory),
    not the table's rows with their texts and vectors (2.4 GB for a million, minutes from a cold disk)."""
    rows = conn.execute(
        "SELECT user_id, id FROM memories WHERE (user_id, id) > (?, ?) ORDER BY user_id, id LIMIT 50000", after
    ).fetchall()
    return ((rows[-1][0], rows[-1][1]) if rows else after), [memory_key(u, i) for u, i in rows]


class SqliteStore(LongTermStore):
    kind = "sqlite"

    def __init__(self, path: str) -> None:
        self.path = Path(path)
        self.sqlite_path = self.path
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ltm-sqlite")
        self._conn: sqlite3.Connection | None = None
        #: Whole-user loads (a cold read's promotion) on their own thread and read-only connection: on the
        #: writer's, a cold read waited behind the shuttle's batch in flight. In WAL mode the writer never
        #: blocks them, and each load sees every batch committed before it began (see `EmbeddedTiers._load`
        #: for why that is enough).
        self._loader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ltm-sqlite-load")
        self._load_conn: sqlite3.Connection | None = None

    async def _run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        return await self._on(self._executor, lambda: self._conn, fn)

    async def _on(
        self, executor: ThreadPoolExecutor, conn_of: Callable[[], sqlite3.Connection | None],
        fn: Callable[[sqlite3.Connection], T],
    ) -> T:  # fmt: skip
        def call() -> T:
            conn = conn_of()
            if conn is None:
                raise LtmError("sqlite store is closed", retryable=False)
            try:
                return fn(conn)
            except sqlite3.Error as exc:
                if conn.in_transaction:
                    conn.rollback()
                raise LtmError(f"sqlite: {exc}") from exc

        return await asyncio.get_running_loop().run_in_executor(executor, call)

    async def start(self) -> None:
        def open_db() -> None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            _migrate_primary_key(conn)
            conn.executescript(_SCHEMA)
            _add_columns(conn)
            _drop_fts_index(conn)
            self._conn = conn

        def open_loads() -> None:  # after the writer's: the file exists and its schema is current
            self._load_conn = sqlite3.connect(readonly_uri(self.path), uri=True, check_same_thread=False)

        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._executor, open_db)
        await loop.run_in_executor(self._loader, open_loads)

    async def close(self) -> None:
        def close_db() -> None:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

        def close_loads() -> None:
            if self._load_conn is not None:
                self._load_conn.close()
                self._load_conn = None

        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._loader, close_loads)
        self._loader.shutdown(wait=True)
        await loop.run_in_executor(self._executor, close_db)
        self._executor.shutdown(wait=True)

    async def ping(self) -> None:
        await self._run(lambda c: c.execute("SELECT 1").fetchone())

    async def apply(self, ops: Sequence[WriteOp]) -> None:
        await self._run(functools.partial(_apply, ops=ops))

    async def load_user(self, user_id: str) -> list[Memory]:
        # Parsed on the loads' thread: a user's thousands of rows held the event loop for tens of ms.
        return await self._on(
            self._loader,
            lambda: self._load_conn,
            lambda c: [memory_from_row(r) for r in c.execute(f"{_SELECT} WHERE user_id = ?", (user_id,)).fetchall()],
        )

    async def get(self, user_id: str, memory_id: str) -> Memory | None:
        row = await self._run(
            lambda c: c.execute(f"{_SELECT} WHERE id = ? AND user_id = ?", (memory_id, user_id)).fetchone()
        )
        return memory_from_row(row) if row else None

    async def iter_keys(self) -> AsyncIterator[list[str]]:
        last = ("", "")
        while True:
            last, chunk = await self._run(functools.partial(_keys_after, after=last))
            if not chunk:
                return
            yield chunk

    async def history(self, user_id: str, memory_id: str) -> list[HistoryEntry]:
        rows = await self._run(
            lambda c: c.execute(
                "SELECT revision, event, at, content, metadata, salience, expires_at, agent_id, run_id"
                " FROM memory_history WHERE user_id = ? AND id = ? ORDER BY at, revision",
                (user_id, memory_id),
            ).fetchall()
        )
        return [entry_from_row(r) for r in rows]

    async def expired(self, now: float, limit: int) -> list[Memory]:
        rows = await self._run(
            lambda c: c.execute(
                f"{_SELECT} WHERE expires_at IS NOT NULL AND expires_at <= ? LIMIT ?", (now, limit)
            ).fetchall()
        )
        return [memory_from_row(r) for r in rows]

    async def recent_users(self, limit: int) -> list[str]:
        rows = await self._run(
            lambda c: c.execute(
                "SELECT user_id, max(created_at) AS t FROM (SELECT user_id, created_at FROM memories"
                " ORDER BY created_at DESC LIMIT 100000) GROUP BY user_id ORDER BY t DESC LIMIT ?",
                (limit,),
            ).fetchall()
        )
        return [r[0] for r in rows]

    async def count(self) -> int:
        return int(await self._run(lambda c: c.execute("SELECT count(*) FROM memories").fetchone()[0]))
