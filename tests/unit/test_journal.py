"""The journal: group commit, ordered reads, shipping and dead letters, on a real SQLite file."""

from __future__ import annotations

import asyncio
from pathlib import Path

from jean_memory.memory import Memory
from jean_memory.storage.journal import Journal


def memory(i: int, user: str = "u") -> Memory:
    return Memory(f"id{i}", user, f"content {i}", {"i": i, "big": 10**30}, 0.5, float(i))


def test_concurrent_appends_share_commits_and_keep_order(tmp_path: Path) -> None:
    async def main() -> None:
        journal = Journal(tmp_path / "j.db")
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
