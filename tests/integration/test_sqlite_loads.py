"""The SQLite store's whole-user loads (a cold read's promotion) do not queue behind its writes: a real
SQLite file, its writer's thread held mid-task."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

from jean_memory.memory import Memory, WriteOp
from jean_memory.storage.ltm.sqlite import SqliteStore


def test_a_load_runs_while_the_writer_is_busy_and_sees_what_was_committed(tmp_path: Path) -> None:
    async def scenario() -> None:
        store = SqliteStore(str(tmp_path / "ltm.db"))
        await store.start()
        held = threading.Event()
        release = threading.Event()
        try:
            await store.apply([WriteOp(n + 1, "upsert", Memory(f"m{n}", "cold", f"fact {n}", {}, 0.5, float(n)))
                               for n in range(50)])  # fmt: skip

            def hold(_: object) -> None:  # the shuttle's next batch, in flight on the writer's thread
                held.set()
                release.wait(30)

            writing = asyncio.ensure_future(store._run(hold))
            assert await asyncio.to_thread(held.wait, 10)
            loaded = await asyncio.wait_for(store.load_user("cold"), 10)
            assert not writing.done(), "the load did not wait for the write in flight"
            assert sorted(m.id for m in loaded) == sorted(f"m{n}" for n in range(50))
            assert {m.content for m in loaded} == {f"fact {n}" for n in range(50)}
        finally:
            release.set()
            await asyncio.gather(*[t for t in asyncio.all_tasks() if t is not asyncio.current_task()])
            await store.close()
        reopened = SqliteStore(str(tmp_path / "ltm.db"))
        await reopened.start()
        try:
            assert len(await reopened.load_user("cold")) == 50
        finally:
            await reopened.close()

    asyncio.run(scenario())
