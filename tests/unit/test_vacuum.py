"""Handing a drained journal's space back: the WAL is truncated, or reported still due while a reader holds it."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

from jean_memory.storage import vacuum


def _drained(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA auto_vacuum=INCREMENTAL")
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA wal_autocheckpoint=0")
    conn.execute("CREATE TABLE journal (seq INTEGER PRIMARY KEY, body BLOB)")
    conn.execute("BEGIN")
    conn.executemany("INSERT INTO journal (body) VALUES (?)", ((b"x" * 2000,) for _ in range(5000)))
    conn.execute("COMMIT")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.execute("DELETE FROM journal")
    return conn


def test_a_reader_keeps_the_wal_until_the_next_try(tmp_path: Path) -> None:
    path = tmp_path / "journal.db"
    wal = tmp_path / "journal.db-wal"
    conn = _drained(path)
    assert vacuum.reclaim_due(conn, empty=True)
    with closing(sqlite3.connect(path, isolation_level=None)) as reader:
        reader.execute("BEGIN")
        reader.execute("SELECT count(*) FROM journal").fetchone()  # a read transaction on the WAL
        while vacuum.reclaim_step(conn):
            pass
        assert not vacuum.truncate_wal(conn), "a reader holds the WAL: not done, to be tried again"
        assert wal.stat().st_size > 1 << 20
        reader.execute("COMMIT")
    assert vacuum.truncate_wal(conn)
    assert wal.stat().st_size == 0
    assert path.stat().st_size < 1 << 20, "the main file handed its pages back"
    conn.close()
