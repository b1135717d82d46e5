"""Giving the journal's disk space back once a backlog has drained.

SQLite never shrinks a file by itself: a journal that once held a large backlog of unshipped rows kept
its whole size after the shuttle had deleted them all. With `auto_vacuum=INCREMENTAL` the freed pages can be handed
back a few at a time (`PRAGMA incremental_vacuum(N)` moves in-use pages from the end of the file into
free slots and drops the tail), and a `wal_checkpoint(TRUNCATE)` then shrinks the main file and empties
the WAL. All of it runs on the journal's own thread, in steps of `STEP_PAGES`, between group commits
and only while no write waits, so neither the event loop nor an acknowledgement waits on it for long.

    conn.execute("PRAGMA auto_vacuum=INCREMENTAL")   # before the first table (or followed by VACUUM)
    if reclaim_due(conn):
        while reclaim_step(conn): ...
        truncate_wal(conn)   # False while a reader holds the WAL: the journal tries again when next idle
"""

from __future__ import annotations

import logging
import sqlite3

log = logging.getLogger(__name__)

#: Free pages worth a pass (4 MiB at SQLite's default 4 KiB page); smaller leftovers are reused by writes.
MIN_FREE_PAGES = 1024
#: ...unless the journal is empty (a backlog fully drained): then any leftover past this is handed back too.
MIN_FREE_PAGES_EMPTY = 64
#: Pages handed back per step: each step is one short transaction on the journal's thread.
STEP_PAGES = 512
INCREMENTAL = 2


def make_incremental(conn: sqlite3.Connection) -> bool:
    """Switch an existing file to incremental auto-vacuum (one VACUUM, rewriting it); True when it is.

    New files get the setting before their first table. A file made before it needs a VACUUM, which
    needs room for a second copy: on a full disk this is skipped (and logged) and retried next start.
    """
    if conn.execute("PRAGMA auto_vacuum").fetchone()[0] == INCREMENTAL:
        return True
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    log.info("journal: switching to incremental auto-vacuum (one VACUUM of %d pages)", pages)
    try:
        conn.execute("PRAGMA auto_vacuum=INCREMENTAL")
        conn.execute("VACUUM")
    except sqlite3.Error as exc:
        log.warning("journal: could not switch to incremental auto-vacuum (%s); its space is not reclaimed", exc)
        return False
    return bool(conn.execute("PRAGMA auto_vacuum").fetchone()[0] == INCREMENTAL)


def reclaim_due(conn: sqlite3.Connection, empty: bool = False) -> bool:
    """At least MIN_FREE_PAGES free and half the file free: what a drained backlog leaves (O(1) reads);
    with `empty` (nothing left to ship), the tail a drain leaves behind after an earlier pass is enough."""
    free = conn.execute("PRAGMA freelist_count").fetchone()[0]
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    if empty:
        return bool(free >= MIN_FREE_PAGES_EMPTY and 2 * free >= pages)
    return bool(free >= MIN_FREE_PAGES and 2 * free >= pages)


def reclaim_step(conn: sqlite3.Connection) -> bool:
    """Hand back up to STEP_PAGES free pages; True while some are left to hand back. When none are, the
    caller truncates the WAL (`truncate_wal`), which is what shrinks the files on disk."""
    before = conn.execute("PRAGMA freelist_count").fetchone()[0]
    if before:
        # executescript steps the pragma to its end: execute() would stop after the first page it frees.
        conn.executescript(f"PRAGMA incremental_vacuum({STEP_PAGES});")
        after = conn.execute("PRAGMA freelist_count").fetchone()[0]
        if 0 < after < before:
            return True
    return False


def truncate_wal(conn: sqlite3.Connection) -> bool:
    """Checkpoint with TRUNCATE: the main file shrinks to its pages and the WAL to nothing. True when done.

    It does not wait for a reader (the shuttle's read, a backup in progress): then it may copy every frame
    (the main file shrinks) but cannot reset the WAL, which keeps its size, since `journal_size_limit` only
    cuts a WAL larger than itself. False then: the caller tries again when next idle."""
    timeout = conn.execute("PRAGMA busy_timeout").fetchone()[0]
    conn.execute("PRAGMA busy_timeout=0")
    try:
        busy, _, _ = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    finally:
        conn.execute(f"PRAGMA busy_timeout={int(timeout)}")
    return not busy
