"""The journal: group commit, ordered reads, shipping and dead letters, on a real SQLite file."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from pathlib import Path

from jean_memory.config import JournalSync
from jean_memory.memory import Memory
from jean_memory.storage import sqlite_writer
from jean_memory.storage.journal import Journal


def memory(i: int, user: str = "u") -> Memory:
    return Memory(f"id{i}", user, f"content {i}", {"i": i, "big": 10**30}, 0.5, float(i))


def test_concurrent_appends_share_commits_and_keep_order(tmp_path: Path) -> None:
    async def main() -> None:
        journal = Journal(tmp_path / "j.db", inline=False)  # every append through the journal's thread
        await journal.start()
        seqs = await asyncio.gather(*(journal.append([("upsert", memory(i))]) for i in range(200)))
        assert sorted(s[0] for s in seqs) == list(range(1, 201))
        assert journal.commits < 200, "concurrent writers were grouped into fewer commits"
        assert journal.pending == 200
        ops = await journal.read_after(0, 1000)
        assert [op.seq for op in ops] == list(range(1, 201))
        assert ops[5].memory.metadata == {"i": ops[5].memory.metadata["i"], "big": 10**30}
        journal.attach_embeddings([(1, b"\x00" * 8, "m")])
        await journal.mark_shipped(100, 100)
        rest = await journal.read_after(0, 1000)
        assert rest[0].seq == 101 and journal.pending == 100
        await journal.park(rest[:1], "refused")
        assert await journal.dead_letters() == 1
        assert len(await journal.for_user("u")) == 99
        await journal.close()
        reopened = Journal(tmp_path / "j.db")
        await reopened.start()
        assert reopened.pending == 99
        await reopened.close()

    asyncio.run(main())


def test_an_idle_journal_commits_inline_and_keeps_order_behind_queued_tasks(tmp_path: Path) -> None:
    """With nothing queued, an append commits on the loop (no thread hand-off); behind a queued task it
    goes through the thread, so sequence numbers still follow submission order; everything is durable."""

    async def main() -> None:
        journal = Journal(tmp_path / "j.db")
        await journal.start()
        (first,) = await journal.append([("upsert", memory(1))])
        assert journal.inline_commits == 1
        journal.attach_embeddings([(first, b"\x00" * 8, "m")])  # small too: inline
        assert journal.inline_commits == 2
        gate = threading.Event()
        blocker = journal._call(lambda conn: gate.wait(10))  # the thread is busy until the gate opens
        second = asyncio.ensure_future(journal.append([("upsert", memory(2))]))
        third = asyncio.ensure_future(journal.append([("upsert", memory(3))]))
        await asyncio.sleep(0.05)
        assert not second.done(), "an append behind a running task waits for it"
        gate.set()
        await blocker
        assert (await second, await third) == ([2], [3])
        assert journal.inline_commits == 2, "appends behind a queued task wait their turn on the thread"
        (fourth,) = await journal.append([("upsert", memory(4))])
        assert fourth == 4 and journal.inline_commits == 3
        ops = await journal.read_after(0, 10)
        assert [op.memory.id for op in ops] == ["id1", "id2", "id3", "id4"]
        assert ops[0].memory.embedding is not None
        await journal.close()
        reopened = Journal(tmp_path / "j.db")
        await reopened.start()
        assert [op.seq for op in await reopened.read_after(0, 10)] == [1, 2, 3, 4]
        await reopened.close()

    asyncio.run(main())


def test_inline_commits_never_checkpoint_on_the_loop_and_the_thread_does(tmp_path: Path) -> None:
    """The loop must not wait for a checkpoint's fsyncs: the connection's automatic checkpoint is off and
    the journal's thread copies the WAL into the database once it has been idle for a moment."""

    async def main() -> None:
        path = tmp_path / "j.db"
        journal = Journal(path)
        await journal.start()
        for i in range(300):
            await journal.append([("upsert", memory(i))])
        assert journal.inline_commits == 300
        for _ in range(40):  # the thread checkpoints once it has been idle for CHECKPOINT_IDLE_S
            if journal.writer.checkpointed_at == journal.commits:
                break
            await asyncio.sleep(sqlite_writer.CHECKPOINT_IDLE_S)
        assert journal.writer.checkpointed_at == journal.commits
        reader = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:  # everything the WAL held is in the main file: a reader without the WAL still sees it
            _busy, wal_frames, copied = reader.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            assert wal_frames == copied
        finally:
            reader.close()
        await journal.close()

    asyncio.run(main())


def test_full_sync_never_commits_inline(tmp_path: Path) -> None:
    """With `full` sync each commit fsyncs: that stays off the event loop."""

    async def main() -> None:
        journal = Journal(tmp_path / "j.db", JournalSync.FULL)
        await journal.start()
        before = journal.commits
        await journal.append([("upsert", memory(1))])
        assert journal.inline_commits == 0 and journal.commits == before + 1
        await journal.close()

    asyncio.run(main())
