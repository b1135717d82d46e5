"""The local write-ahead journal: an add is acknowledged once its row is committed here.

SQLite in WAL mode, one connection, written by one thread (`storage/sqlite_writer.py`: group commit,
inline commits of small appends on the event loop when the thread is idle, checkpoints and vacuum when
idle). With `synchronous=NORMAL` a committed row survives a process crash (kill -9);
`JM_JOURNAL_SYNC=full` also fsyncs each commit against power loss, and then nothing commits inline.

The shuttle reads rows in sequence order, ships them to the long-term store and deletes the
shipped prefix. Rows the store refuses for good move to `dead_letter`, so nothing is dropped.

On a full disk an append is refused with `InsufficientStorage` (507: nothing stored) and the next
one succeeds as soon as space returns. Once a backlog has drained, the freed pages are handed back to
the filesystem between commits (`storage/vacuum.py`).
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from jean_memory import jsonutil
from jean_memory.config import JournalSync
from jean_memory.errors import InsufficientStorage
from jean_memory.memory import ROW_COLUMNS, ROW_MARKS, Memory, WriteKind, WriteOp, memory_from_row, memory_key
from jean_memory.storage import disk, vacuum
from jean_memory.storage.sqlite_writer import SingleWriter

_SCHEMA = """
CREATE TABLE IF NOT EXISTS journal (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    content TEXT NOT NULL,
    metadata TEXT NOT NULL,
    salience REAL NOT NULL,
    created_at REAL NOT NULL,
    embedding BLOB,
    model TEXT,
    journaled_at REAL NOT NULL,
    revision INTEGER NOT NULL DEFAULT 1,
    updated_at REAL,
    expires_at REAL,
    agent_id TEXT,
    run_id TEXT
);
CREATE INDEX IF NOT EXISTS journal_user ON journal(user_id);
CREATE TABLE IF NOT EXISTS dead_letter (
    seq INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    content TEXT NOT NULL,
    metadata TEXT NOT NULL,
    salience REAL NOT NULL,
    created_at REAL NOT NULL,
    error TEXT NOT NULL,
    parked_at REAL NOT NULL,
    agent_id TEXT,
    run_id TEXT
);
"""
log = logging.getLogger(__name__)

_COLUMNS = f"seq, kind, journaled_at, {ROW_COLUMNS}"
#: Columns added after the first release, for journals made before them (added on open).
_ADDED = {
    "revision": "INTEGER NOT NULL DEFAULT 1",
    "updated_at": "REAL",
    "expires_at": "REAL",
    "agent_id": "TEXT",
    "run_id": "TEXT",
}
#: Largest append committed inline: a single add or a small batch (a 1,000-item batch takes ~10 ms to
#: insert, which is the journal thread's job, not the event loop's)...
INLINE_MAX_OPS = 8
#: ...of small rows: writing a row of the largest content and metadata (tens of kB, a dozen pages) held
#: the loop for milliseconds, so rows adding up to more than this go through the thread.
INLINE_MAX_BYTES = 16 * 1024
#: The WAL's file is cut back to this when it restarts after a checkpoint: a burst of writes (a drain's
#: deletes, a backfill of vectors) leaves no more than this on disk once it is checkpointed (it was 64 MiB,
#: and a drained journal kept 7 to 12 MB of WAL in some runs of tests/hostile/test_disk_hygiene.py).
WAL_SIZE_LIMIT = 4 * 2**20


def _row_to_op(row: tuple[Any, ...]) -> WriteOp:
    seq, kind, journaled_at = row[:3]
    return WriteOp(seq, kind, memory_from_row(row[3:]), journaled_at)


def _ops(sql: str, *params: Any) -> Callable[[sqlite3.Connection], list[WriteOp]]:
    """A query of journal rows, parsed into operations where it runs: on the journal's thread, not the loop."""
    return lambda c: [_row_to_op(r) for r in c.execute(sql, params).fetchall()]


class Journal:
    def __init__(
        self,
        path: Path,
        sync: JournalSync = JournalSync.NORMAL,
        full_retry_after_s: int = 30,
        *,
        inline: bool = True,
    ) -> None:
        self.path = path
        self._sync = sync
        self._full_retry_after_s = full_retry_after_s
        self.writer = SingleWriter("journal", self._open, inline=inline and sync != JournalSync.FULL)
        #: Rows not yet shipped; maintained here so metrics never count(*) a large table.
        self.pending = 0

    @property
    def commits(self) -> int:
        return self.writer.commits

    @property
    def inline_commits(self) -> int:
        return self.writer.inline_commits

    # ---- lifecycle -------------------------------------------------------------------------
    async def start(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        await self.writer.start()
        self.pending = await self._call(lambda c: c.execute("SELECT count(*) FROM journal").fetchone()[0])

    async def close(self) -> None:
        await self.writer.close()

    def _open(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA auto_vacuum=INCREMENTAL")  # before the first table: see storage/vacuum.py
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(f"PRAGMA synchronous={self._sync.value.upper()}")
        conn.execute("PRAGMA temp_store=MEMORY")
        conn.execute(f"PRAGMA journal_size_limit={WAL_SIZE_LIMIT}")  # cut back after a checkpoint: see WAL_SIZE_LIMIT
        if self.writer.inline:  # never a checkpoint (and its fsyncs) inside an inline commit: see sqlite_writer
            conn.execute("PRAGMA wal_autocheckpoint=0")
        conn.executescript(_SCHEMA)
        present = {r[1] for r in conn.execute("PRAGMA table_info(journal)")}
        for column, decl in _ADDED.items():
            if column not in present:
                conn.execute(f"ALTER TABLE journal ADD COLUMN {column} {decl}")
        parked = {r[1] for r in conn.execute("PRAGMA table_info(dead_letter)")}
        for column in ("agent_id", "run_id"):  # a parked write keeps its scope
            if column not in parked:
                conn.execute(f"ALTER TABLE dead_letter ADD COLUMN {column} TEXT")
        return conn

    def _call(self, fn: Callable[[sqlite3.Connection], Any]) -> asyncio.Future[Any]:
        return self.writer.call(fn)

    # ---- writes ----------------------------------------------------------------------------
    async def append(self, ops: Sequence[tuple[WriteKind, Memory]]) -> list[int]:
        """Durably journal writes in one transaction; returns their sequence numbers."""
        now = time.time()
        try:
            done, seqs = False, list[int]()
            if len(ops) <= INLINE_MAX_OPS and sum(m.approx_bytes() for _, m in ops) <= INLINE_MAX_BYTES:
                done, seqs = self.writer.commit_inline(lambda c: _insert_rows(c, ops, now))
            if not done:
                seqs = await self._call(lambda c: _insert_rows(c, ops, now))
        except sqlite3.Error as exc:
            if not disk.is_full(exc):
                raise
            raise InsufficientStorage(
                f"the disk holding the journal is full ({exc}): nothing was stored; retry once space is freed",
                retry_after_s=self._full_retry_after_s,
            ) from exc
        self.pending += len(seqs)
        return seqs

    def backfill_vectors(self, memories: Sequence[Memory]) -> None:
        """Journal `vector` ops (fire and forget): the store updates the vector of a row it already has,
        so a memory that reached it without one is not re-embedded at every promotion. Update-only: a
        backfill can never bring back a deleted memory."""
        if not memories:
            return
        fut = self._call(lambda c: _insert_rows(c, [("vector", m) for m in memories], time.time()))
        fut.add_done_callback(lambda f: f.exception())  # logged nowhere on purpose: best effort
        self.pending += len(memories)

    def attach_embeddings(self, items: Sequence[tuple[int, bytes, str]], row_bytes: int = 0) -> None:
        """Store computed vectors with their rows (fire and forget), so the shuttle ships them to LTM.
        `row_bytes`: the rows' size, which the update rewrites whole (see `INLINE_MAX_BYTES`)."""
        if not items:
            return
        params = [(vec, model, seq) for seq, vec, model in items]

        def update(c: sqlite3.Connection) -> None:
            c.executemany("UPDATE journal SET embedding=?, model=? WHERE seq=?", params)

        if len(items) <= INLINE_MAX_OPS and row_bytes <= INLINE_MAX_BYTES:
            try:
                if self.writer.commit_inline(update)[0]:
                    return
            except sqlite3.Error as exc:  # as on the thread: the row keeps no vector, warm-up re-embeds it
                log.warning("journal: attaching %d vectors failed: %s", len(items), exc)
                return
        self.writer.submit((update, None, None))

    async def mark_shipped(self, last_seq: int, count: int) -> None:
        def delete(conn: sqlite3.Connection) -> None:
            conn.execute("DELETE FROM journal WHERE seq <= ?", (last_seq,))
            if self.writer.vacuum_ok and not self.writer.reclaim_due:  # on the writer's thread
                empty = conn.execute("SELECT 1 FROM journal LIMIT 1").fetchone() is None
                self.writer.reclaim_due = vacuum.reclaim_due(conn, empty)

        await self._call(delete)
        self.pending = max(0, self.pending - count)

    async def park(self, ops: Sequence[WriteOp], error: str) -> None:
        """Move writes the long-term store refused for good to the dead-letter table."""
        now = time.time()
        rows = [
            (
                op.seq,
                op.kind,
                op.memory.id,
                op.memory.user_id,
                op.memory.content,
                jsonutil.dumps_str(op.memory.metadata),
                op.memory.salience,
                op.memory.created_at,
                error,
                now,
                op.memory.agent_id,
                op.memory.run_id,
            )
            for op in ops
        ]

        def move(conn: sqlite3.Connection) -> None:
            conn.executemany(
                "INSERT OR REPLACE INTO dead_letter (seq, kind, id, user_id, content, metadata, salience, created_at,"
                " error, parked_at, agent_id, run_id) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                rows,
            )
            conn.executemany("DELETE FROM journal WHERE seq = ?", [(r[0],) for r in rows])

        await self._call(move)
        self.pending = max(0, self.pending - len(rows))

    # ---- reads -----------------------------------------------------------------------------
    async def read_after(self, after_seq: int, limit: int) -> list[WriteOp]:
        return await self._call(
            _ops(f"SELECT {_COLUMNS} FROM journal WHERE seq > ? ORDER BY seq LIMIT ?", after_seq, limit)
        )

    async def unembedded(self) -> list[WriteOp]:
        """Unshipped adds and updates still without a vector (their embedding was lost in a crash)."""
        return await self._call(
            _ops(f"SELECT {_COLUMNS} FROM journal WHERE kind = 'upsert' AND embedding IS NULL ORDER BY seq")
        )

    async def for_memory(self, user_id: str, memory_id: str) -> list[WriteOp]:
        """The unshipped writes of one memory, and of its user as a whole (a forget), in order."""
        return await self._call(
            _ops(
                f"SELECT {_COLUMNS} FROM journal WHERE user_id = ? AND (id = ? OR kind = 'forget') ORDER BY seq",
                user_id,
                memory_id,
            )
        )

    async def for_user(self, user_id: str) -> list[WriteOp]:
        return await self._call(_ops(f"SELECT {_COLUMNS} FROM journal WHERE user_id = ? ORDER BY seq", user_id))

    async def keys(self) -> list[str]:
        """The memory key (`memory_key(user_id, id)`) of every journaled write."""
        return await self._call(lambda c: [memory_key(u, i) for u, i in c.execute("SELECT user_id, id FROM journal")])

    async def oldest_journaled_at(self) -> float | None:
        row = await self._call(lambda c: c.execute("SELECT journaled_at FROM journal ORDER BY seq LIMIT 1").fetchone())
        return row[0] if row else None

    async def dead_letters(self) -> int:
        return int(await self._call(lambda c: c.execute("SELECT count(*) FROM dead_letter").fetchone()[0]))


def _insert_rows(conn: sqlite3.Connection, ops: Sequence[tuple[WriteKind, Memory]], now: float) -> list[int]:
    seqs = []
    for kind, m in ops:
        cur = conn.execute(
            f"INSERT INTO journal (kind, journaled_at, {ROW_COLUMNS}) VALUES (?, ?, {ROW_MARKS})",
            (kind, now, *m.row()),
        )
        seqs.append(int(cur.lastrowid or 0))
    return seqs
