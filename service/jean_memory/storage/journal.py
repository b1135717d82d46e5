"""The local write-ahead journal: an add is acknowledged once its row is committed here.

SQLite in WAL mode, one connection, used by one thread at a time. Writers hand their rows to the
journal's thread and await a future; the thread drains everything queued into one transaction (group
commit), so under load many acknowledgements share one commit. With `synchronous=NORMAL` a committed
row survives a process crash (kill -9); `JM_JOURNAL_SYNC=full` also fsyncs each commit against power loss.

Inline commits (`JM_JOURNAL_INLINE_COMMIT`, `normal` sync only): an append that finds nothing queued or
running on the journal's thread commits on the event loop itself. Measured on the idle path, each of the
two hand-offs (waking the thread, then waking the loop with the result) cost about a millisecond here,
while the commit itself, with no fsync, costs tens of microseconds. Order is kept: an append goes inline
only when every task submitted before it has completed, and only when small (`INLINE_MAX_OPS`). The loop
must never wait on a disk flush, so the connection does not checkpoint by itself (`wal_autocheckpoint=0`):
the thread checkpoints when idle.

The shuttle reads rows in sequence order, ships them to the long-term store and deletes the
shipped prefix. Rows the store refuses for good move to `dead_letter`, so nothing is dropped.

On a full disk an append is refused with `InsufficientStorage` (507: nothing stored) and the next
one succeeds as soon as space returns. Once a backlog has drained, the freed pages are handed back to
the filesystem between commits (`storage/vacuum.py`).
"""

from __future__ import annotations

import asyncio
import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

from jean_memory import jsonutil
from jean_memory.config import JournalSync
from jean_memory.errors import InsufficientStorage
from jean_memory.memory import ROW_COLUMNS, ROW_MARKS, Memory, WriteOp, memory_from_row, memory_key
from jean_memory.storage import disk, vacuum

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
_MAX_GROUP = 2048
#: Largest append committed inline: a single add or a small batch (a 1,000-item batch takes ~10 ms to
#: insert, which is the journal thread's job, not the event loop's)...
INLINE_MAX_OPS = 8
#: ...of small rows: writing a row of the largest content and metadata (tens of kB, a dozen pages) held
#: the loop for milliseconds, so rows adding up to more than this go through the thread.
INLINE_MAX_BYTES = 16 * 1024
#: The journal's thread checkpoints the WAL after this long without a task (and commits since the last).
CHECKPOINT_IDLE_S = 0.25
#: ...and at least this often while inline commits keep it idle but the WAL grows.
CHECKPOINT_EVERY_COMMITS = 1000
#: The WAL's file is cut back to this when it restarts after a checkpoint: a burst of writes (a drain's
#: deletes, a backfill of vectors) leaves no more than this on disk once it is checkpointed (it was 64 MiB,
#: and a drained journal kept 7 to 12 MB of WAL in some runs of tests/hostile/test_disk_hygiene.py).
WAL_SIZE_LIMIT = 4 * 2**20

#: upsert: an add or an update (its revision says which); delete, expire: the memory goes; vector: a
#: vector for a stored row; forget: every memory of the user goes (the memory's id is empty).
Kind = Literal["upsert", "delete", "expire", "vector", "forget"]
_Task = tuple[Callable[[sqlite3.Connection], Any], asyncio.Future[Any] | None, asyncio.AbstractEventLoop | None]


def _row_to_op(row: tuple[Any, ...]) -> WriteOp:
    seq, kind, journaled_at = row[:3]
    return WriteOp(seq, kind, memory_from_row(row[3:]), journaled_at)


def _ops(sql: str, *params: Any) -> Callable[[sqlite3.Connection], list[WriteOp]]:
    """A query of journal rows, parsed into operations where it runs: on the journal's thread, not the loop."""
    return lambda c: [_row_to_op(r) for r in c.execute(sql, params).fetchall()]


def _resolve(fut: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if fut.done():
        return
    if error is not None:
        fut.set_exception(error)
    else:
        fut.set_result(result)


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
        self._inline = inline and sync != JournalSync.FULL
        #: Held while the connection is in use: by the thread for a group, by the loop for an inline commit.
        self._conn_lock = threading.Lock()
        #: Tasks handed to the thread, and tasks it has finished: each written by one thread only, so an
        #: inline commit can tell (holding the lock) that nothing submitted before it is still pending.
        self._submitted = 0
        self._completed = 0
        self._checkpointed_at = 0
        self.inline_commits = 0
        self._full_retry_after_s = full_retry_after_s
        #: Journal thread only: whether freed pages can be handed back, and whether a pass is due.
        self._vacuum_ok = False
        self._reclaim_due = False
        #: The WAL still holds a drained backlog's size: a reader kept the last TRUNCATE from resetting it.
        self._truncate_due = False
        #: ...retried when idle, or every CHECKPOINT_IDLE_S while writes keep the journal busy, from this time.
        self._truncate_at = 0.0
        self._tasks: queue.SimpleQueue[_Task | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._conn: sqlite3.Connection | None = None
        #: Rows not yet shipped; maintained here so metrics never count(*) a large table.
        self.pending = 0
        self.commits = 0

    # ---- lifecycle -------------------------------------------------------------------------
    async def start(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._thread = threading.Thread(
            target=self._main, args=(ready, asyncio.get_running_loop()), name="journal", daemon=True
        )
        self._thread.start()
        await ready
        self.pending = await self._call(lambda c: c.execute("SELECT count(*) FROM journal").fetchone()[0])

    async def close(self) -> None:
        if self._thread and self._thread.is_alive():
            self._tasks.put(None)
            await asyncio.get_running_loop().run_in_executor(None, self._thread.join, 10)

    def _open(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA auto_vacuum=INCREMENTAL")  # before the first table: see storage/vacuum.py
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(f"PRAGMA synchronous={self._sync.value.upper()}")
        conn.execute("PRAGMA temp_store=MEMORY")
        conn.execute(f"PRAGMA journal_size_limit={WAL_SIZE_LIMIT}")  # cut back after a checkpoint: see WAL_SIZE_LIMIT
        if self._inline:  # never a checkpoint (and its fsyncs) inside an inline commit: see _checkpoint
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
        self._vacuum_ok = vacuum.make_incremental(conn)
        self._reclaim_due = self._vacuum_ok and vacuum.reclaim_due(conn)
        return conn

    def _main(self, ready: asyncio.Future[None], loop: asyncio.AbstractEventLoop) -> None:
        try:
            self._conn = self._open()
        except BaseException as exc:
            loop.call_soon_threadsafe(_resolve, ready, None, exc)
            return
        loop.call_soon_threadsafe(_resolve, ready, None, None)
        conn = self._conn
        while True:
            try:
                first = self._tasks.get(timeout=CHECKPOINT_IDLE_S if self._inline or self._truncate_due else None)
            except queue.Empty:
                if self._truncate_due:
                    with self._conn_lock:
                        self._truncate(conn)
                else:
                    self._checkpoint(conn)
                continue
            if first is None:
                break
            group = [first]
            stop = False
            while len(group) < _MAX_GROUP:
                try:
                    nxt = self._tasks.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    stop = True
                    break
                group.append(nxt)
            with self._conn_lock:
                results = self._run_group(conn, group)
                self._completed += len(group)  # before the writers resume: the next may then go inline
            for (_, fut, task_loop), (result, error) in zip(group, results, strict=True):
                if fut is not None and task_loop is not None:
                    task_loop.call_soon_threadsafe(_resolve, fut, result, error)
            if self._inline and self.commits - self._checkpointed_at >= CHECKPOINT_EVERY_COMMITS:
                self._checkpoint(conn)
            if self._truncate_due and time.monotonic() >= self._truncate_at:  # writes keep it from idling
                with self._conn_lock:
                    self._truncate(conn)
            while self._reclaim_due and self._tasks.empty():  # one short step at a time, only while idle
                with self._conn_lock:
                    self._reclaim_due = self._reclaim_step(conn)
            if stop:
                break
        with self._conn_lock:
            conn.close()
            self._conn = None

    def _checkpoint(self, conn: sqlite3.Connection) -> None:
        """Copy the WAL into the database (PASSIVE: never waits for a reader), on this thread only."""
        if not self._inline or self.commits == self._checkpointed_at:
            return
        with self._conn_lock:
            self._checkpointed_at = self.commits
            try:
                conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
            except sqlite3.Error as exc:  # a full disk, say: the WAL keeps the rows; retried when idle again
                log.warning("journal: checkpoint failed: %s", exc)

    def _reclaim_step(self, conn: sqlite3.Connection) -> bool:
        try:
            more = vacuum.reclaim_step(conn)
        except sqlite3.Error as exc:  # a full disk, say: the space is reclaimed after a later drain
            log.warning("journal: reclaiming free pages failed: %s", exc)
            return False
        if not more:
            self._truncate(conn)
        return more

    def _truncate(self, conn: sqlite3.Connection) -> None:
        """Shrink the files on disk after a reclaim (the caller holds the connection's lock); while a reader
        prevents it, retried when idle or every CHECKPOINT_IDLE_S between group commits."""
        try:
            self._truncate_due = not vacuum.truncate_wal(conn)
        except sqlite3.Error as exc:
            log.warning("journal: truncating the WAL failed: %s", exc)
            self._truncate_due = False
        self._truncate_at = time.monotonic() + CHECKPOINT_IDLE_S

    def _run_group(self, conn: sqlite3.Connection, group: list[_Task]) -> list[tuple[Any, BaseException | None]]:
        """Run a group in one transaction; if it fails, run each task alone so one bad task fails alone.
        Returns each task's (result, error), in order."""
        results: list[tuple[Any, BaseException | None]] = []
        try:
            conn.execute("BEGIN IMMEDIATE")
            for fn, _, _ in group:
                results.append((fn(conn), None))
            conn.execute("COMMIT")
            self.commits += 1
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            if len(group) > 1:
                return [outcome for task in group for outcome in self._run_group(conn, [task])]
            results = [(None, _exc_now())]
        return results

    def _submit(self, task: _Task) -> None:
        self._submitted += 1
        self._tasks.put(task)

    def _call(self, fn: Callable[[sqlite3.Connection], Any]) -> asyncio.Future[Any]:
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[Any] = loop.create_future()
        self._submit((fn, fut, loop))
        return fut

    def _commit_inline(self, fn: Callable[[sqlite3.Connection], Any]) -> tuple[bool, Any]:
        """Run `fn` in its own transaction on the calling (event-loop) thread when the journal's thread
        is idle with nothing pending; (False, None) when it is not, and the caller queues it instead."""
        if not self._inline or self._conn is None or not self._conn_lock.acquire(blocking=False):
            return False, None
        try:
            if self._submitted != self._completed:  # an earlier task is queued or running: keep the order
                return False, None
            conn = self._conn
            try:
                conn.execute("BEGIN IMMEDIATE")
                result = fn(conn)
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            self.commits += 1
            self.inline_commits += 1
            return True, result
        finally:
            self._conn_lock.release()

    # ---- writes ----------------------------------------------------------------------------
    async def append(self, ops: Sequence[tuple[Kind, Memory]]) -> list[int]:
        """Durably journal writes in one transaction; returns their sequence numbers."""
        now = time.time()
        try:
            done, seqs = False, list[int]()
            if len(ops) <= INLINE_MAX_OPS and sum(m.approx_bytes() for _, m in ops) <= INLINE_MAX_BYTES:
                done, seqs = self._commit_inline(lambda c: _insert_rows(c, ops, now))
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
                if self._commit_inline(update)[0]:
                    return
            except sqlite3.Error as exc:  # as on the thread: the row keeps no vector, warm-up re-embeds it
                log.warning("journal: attaching %d vectors failed: %s", len(items), exc)
                return
        self._submit((update, None, None))

    async def mark_shipped(self, last_seq: int, count: int) -> None:
        def delete(conn: sqlite3.Connection) -> None:
            conn.execute("DELETE FROM journal WHERE seq <= ?", (last_seq,))
            if self._vacuum_ok and not self._reclaim_due:
                empty = conn.execute("SELECT 1 FROM journal LIMIT 1").fetchone() is None
                self._reclaim_due = vacuum.reclaim_due(conn, empty)

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


def _insert_rows(conn: sqlite3.Connection, ops: Sequence[tuple[Kind, Memory]], now: float) -> list[int]:
    seqs = []
    for kind, m in ops:
        cur = conn.execute(
            f"INSERT INTO journal (kind, journaled_at, {ROW_COLUMNS}) VALUES (?, ?, {ROW_MARKS})",
            (kind, now, *m.row()),
        )
        seqs.append(int(cur.lastrowid or 0))
    return seqs


def _exc_now() -> BaseException:
    import sys

    exc = sys.exc_info()[1]
    return exc if exc is not None else RuntimeError("journal task failed")
