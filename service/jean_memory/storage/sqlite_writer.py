"""One SQLite connection written by one thread: group commit, inline commits, and upkeep when idle.

Callers hand their work (a function of the connection) to the writer's thread and await a future; the
thread drains everything queued into one transaction (group commit), so under load many callers share
one commit, and a group that fails is run again a task at a time so one bad task fails alone.

Inline commits (`inline=True`): a small task that finds nothing queued or running on the thread commits
on the caller's (the event loop's) thread itself: on the idle path each of the two hand-offs (waking the
thread, then waking the loop with the result) cost far more than the commit itself with no fsync
(docs/performance.md, "Measurements behind design choices"). Order is kept: a task goes inline only
when every task submitted before it has completed. The loop must never wait on a disk flush, so the
connection does not checkpoint by itself (`wal_autocheckpoint=0`, set by the opener): the thread
checkpoints when idle, and at least every `CHECKPOINT_EVERY_COMMITS`.

Once a backlog has drained, the freed pages are handed back to the filesystem between commits, a short
step at a time and only while no task waits (`storage/vacuum.py`).
"""

from __future__ import annotations

import asyncio
import logging
import queue
import sqlite3
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from jean_memory.storage import vacuum

log = logging.getLogger(__name__)

#: Most tasks in one transaction.
MAX_GROUP = 2048
#: The thread checkpoints the WAL after this long without a task (and commits since the last).
CHECKPOINT_IDLE_S = 0.25
#: ...and at least this often while inline commits keep it idle but the WAL grows.
CHECKPOINT_EVERY_COMMITS = 1000

Task = tuple[Callable[[sqlite3.Connection], Any], asyncio.Future[Any] | None, asyncio.AbstractEventLoop | None]


def _resolve(fut: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if fut.done():
        return
    if error is not None:
        fut.set_exception(error)
    else:
        fut.set_result(result)


def _exc_now() -> BaseException:
    exc = sys.exc_info()[1]
    return exc if exc is not None else RuntimeError("journal task failed")


class SingleWriter:
    """The thread that owns a connection; `open_conn` makes the connection on that thread at start."""

    def __init__(self, name: str, open_conn: Callable[[], sqlite3.Connection], *, inline: bool) -> None:
        self._name = name
        self._open_conn = open_conn
        self.inline = inline
        #: Held while the connection is in use: by the thread for a group, by the loop for an inline commit.
        self._conn_lock = threading.Lock()
        #: Tasks handed to the thread, and tasks it has finished: each written by one thread only, so an
        #: inline commit can tell (holding the lock) that nothing submitted before it is still pending.
        self._submitted = 0
        self._completed = 0
        self.checkpointed_at = 0
        self.commits = 0
        self.inline_commits = 0
        #: Writer thread only: whether freed pages can be handed back, and whether a pass is due (a task
        #: that empties the tables may set it: see `Journal.mark_shipped`).
        self.vacuum_ok = False
        self.reclaim_due = False
        #: The WAL still holds a drained backlog's size: a reader kept the last TRUNCATE from resetting it.
        self._truncate_due = False
        #: ...retried when idle, or every CHECKPOINT_IDLE_S while writes keep the thread busy, from this time.
        self._truncate_at = 0.0
        self._tasks: queue.SimpleQueue[Task | None] = queue.SimpleQueue()
        #: The fire drill's `commit_pause_ms` fault (a slow disk's fsync): the thread answers each group this
        #: much later, and inline commits stand aside while it is set (the loop must not wait on it).
        self.pause_s = 0.0
        self._thread: threading.Thread | None = None
        self._conn: sqlite3.Connection | None = None

    # ---- lifecycle -------------------------------------------------------------------------
    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        ready: asyncio.Future[None] = loop.create_future()
        self._thread = threading.Thread(target=self._main, args=(ready, loop), name=self._name, daemon=True)
        self._thread.start()
        await ready

    async def close(self) -> None:
        if self._thread and self._thread.is_alive():
            self._tasks.put(None)
            await asyncio.get_running_loop().run_in_executor(None, self._thread.join, 10)

    # ---- tasks -----------------------------------------------------------------------------
    def submit(self, task: Task) -> None:
        """Queue a task (fire and forget when it carries no future)."""
        self._submitted += 1
        self._tasks.put(task)

    def call(self, fn: Callable[[sqlite3.Connection], Any]) -> asyncio.Future[Any]:
        """Run `fn` in the next group on the thread; its result (or error) resolves the future."""
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[Any] = loop.create_future()
        self.submit((fn, fut, loop))
        return fut

    def commit_inline(self, fn: Callable[[sqlite3.Connection], Any]) -> tuple[bool, Any]:
        """Run `fn` in its own transaction on the calling (event-loop) thread when the writer's thread
        is idle with nothing pending; (False, None) when it is not, and the caller queues it instead."""
        if not self.inline or self.pause_s or self._conn is None or not self._conn_lock.acquire(blocking=False):
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

    # ---- the thread ------------------------------------------------------------------------
    def _main(self, ready: asyncio.Future[None], loop: asyncio.AbstractEventLoop) -> None:
        try:
            conn = self._conn = self._open_conn()
            self.vacuum_ok = vacuum.make_incremental(conn)
            self.reclaim_due = self.vacuum_ok and vacuum.reclaim_due(conn)
        except BaseException as exc:
            loop.call_soon_threadsafe(_resolve, ready, None, exc)
            return
        loop.call_soon_threadsafe(_resolve, ready, None, None)
        while True:
            try:
                first = self._tasks.get(timeout=CHECKPOINT_IDLE_S if self.inline or self._truncate_due else None)
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
            while len(group) < MAX_GROUP:
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
            if self.pause_s:
                time.sleep(self.pause_s)
            for (_, fut, task_loop), (result, error) in zip(group, results, strict=True):
                if fut is not None and task_loop is not None:
                    task_loop.call_soon_threadsafe(_resolve, fut, result, error)
            if self.inline and self.commits - self.checkpointed_at >= CHECKPOINT_EVERY_COMMITS:
                self._checkpoint(conn)
            if self._truncate_due and time.monotonic() >= self._truncate_at:  # writes keep it from idling
                with self._conn_lock:
                    self._truncate(conn)
            while self.reclaim_due and self._tasks.empty():  # one short step at a time, only while idle
                with self._conn_lock:
                    self.reclaim_due = self._reclaim_step(conn)
            if stop:
                break
        with self._conn_lock:
            conn.close()
            self._conn = None

    def _run_group(self, conn: sqlite3.Connection, group: list[Task]) -> list[tuple[Any, BaseException | None]]:
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

    def _checkpoint(self, conn: sqlite3.Connection) -> None:
        """Copy the WAL into the database (PASSIVE: never waits for a reader), on this thread only."""
        if not self.inline or self.commits == self.checkpointed_at:
            return
        with self._conn_lock:
            self.checkpointed_at = self.commits
            try:
                conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
            except sqlite3.Error as exc:  # a full disk, say: the WAL keeps the rows; retried when idle again
                log.warning("%s: checkpoint failed: %s", self._name, exc)

    def _reclaim_step(self, conn: sqlite3.Connection) -> bool:
        try:
            more = vacuum.reclaim_step(conn)
        except sqlite3.Error as exc:  # a full disk, say: the space is reclaimed after a later drain
            log.warning("%s: reclaiming free pages failed: %s", self._name, exc)
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
            log.warning("%s: truncating the WAL failed: %s", self._name, exc)
            self._truncate_due = False
        self._truncate_at = time.monotonic() + CHECKPOINT_IDLE_S
