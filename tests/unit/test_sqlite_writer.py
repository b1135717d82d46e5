"""The single writer thread under the journal (`storage/sqlite_writer.py`), on a real SQLite file: tasks
queued together share one transaction, a failing task fails alone, inline commits keep the order of
tasks queued before them, and closing lets the queued tasks finish."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from pathlib import Path

import pytest

from jean_memory.storage.sqlite_writer import SingleWriter


def _opener(path: Path) -> SingleWriter:
    def open_conn() -> sqlite3.Connection:
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA wal_autocheckpoint=0")
        conn.execute("CREATE TABLE IF NOT EXISTS t (n INTEGER PRIMARY KEY)")
        return conn

    return SingleWriter("test-writer", open_conn, inline=True)


def _insert(n: int) -> object:
    return lambda c: c.execute("INSERT INTO t VALUES (?)", (n,)).lastrowid


def test_tasks_queued_together_share_a_commit_and_a_bad_one_fails_alone(tmp_path: Path) -> None:
    async def scenario() -> None:
        writer = _opener(tmp_path / "w.db")
        await writer.start()
        gate = threading.Event()
        blocker = writer.call(lambda c: gate.wait(10))  # the thread is busy: the next tasks queue up
        futures = [writer.call(_insert(n)) for n in range(1, 51)]  # type: ignore[arg-type]
        futures.append(writer.call(_insert(7)))  # type: ignore[arg-type]  # a duplicate key
        commits = writer.commits
        gate.set()
        await blocker
        results = await asyncio.gather(*futures, return_exceptions=True)
        assert results[:50] == list(range(1, 51))
        assert isinstance(results[50], sqlite3.IntegrityError)
        # the blocker's own commit, then the 51 queued tasks in one group that failed on the duplicate and
        # ran again a task at a time: 50 more commits (never one for all, never one for the bad task)
        assert writer.commits - commits == 1 + 50
        count = await writer.call(lambda c: c.execute("SELECT count(*) FROM t").fetchone()[0])
        assert count == 50
        await writer.close()

    asyncio.run(scenario())


def test_an_inline_commit_never_overtakes_a_queued_task(tmp_path: Path) -> None:
    async def scenario() -> None:
        writer = _opener(tmp_path / "w.db")
        await writer.start()
        assert writer.commit_inline(_insert(1)) == (True, 1)  # type: ignore[arg-type]
        gate = threading.Event()
        blocker = writer.call(lambda c: gate.wait(10))
        queued = writer.call(_insert(2))  # type: ignore[arg-type]
        assert writer.commit_inline(_insert(3)) == (False, None)  # type: ignore[arg-type]  # it must queue
        third = writer.call(_insert(3))  # type: ignore[arg-type]
        gate.set()
        await blocker
        assert await queued == 2 and await third == 3
        assert writer.inline_commits == 1
        await writer.close()

    asyncio.run(scenario())


def test_a_failing_open_fails_the_start(tmp_path: Path) -> None:
    def open_conn() -> sqlite3.Connection:
        raise sqlite3.OperationalError("unable to open database file")

    async def scenario() -> None:
        with pytest.raises(sqlite3.OperationalError):
            await SingleWriter("test-writer", open_conn, inline=True).start()

    asyncio.run(scenario())
