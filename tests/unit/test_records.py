"""The two `Records` implementations answer alike: a resident user's (`WholeRecords`, in RAM) and a partially
resident user's (`PartialRecords`: a real SQLite store read on demand, with this process's writes in its
overlay). The same memories and the same later writes go to both; every read of the interface is compared,
over random scopes, filters, cursors and clocks."""

from __future__ import annotations

import asyncio
import dataclasses
import random
import threading
from collections.abc import Sequence
from pathlib import Path

import pytest

from jean_memory.filters import Limits, compile_filter
from jean_memory.memory import Memory, Scope, WriteOp
from jean_memory.storage.large.records import PartialRecords
from jean_memory.storage.ltm.sqlite import SqliteStore
from jean_memory.storage.ltm.sqlite_reader import SqliteRecordReader
from jean_memory.storage.records import MATCH_ON_LOOP_BELOW, Records, WholeRecords
from tests.filtercases import EXPIRES, T0, as_memory, memories, random_filter, random_scope


async def collect(records: Records) -> list[str]:
    return [m.id for chunk in [c async for c in records.ascending()] for m in chunk]


async def compare(whole: Records, partial: Records, rng: random.Random, ids: list[str]) -> None:
    for memory_id in [*rng.sample(ids, 20), "absent"]:
        assert whole.get(memory_id) == partial.get(memory_id), memory_id
        assert (memory_id in whole) == (memory_id in partial)
    asked = [*rng.sample(ids, 40), "absent"]
    whole_read, partial_read = await whole.read_many(asked), await partial.read_many(asked)
    assert {i: whole_read[i] for i in asked if i in whole_read} == {
        i: partial_read[i] for i in asked if i in partial_read
    }
    assert await collect(whole) == await collect(partial)
    for now in (T0, EXPIRES[0] + 1, EXPIRES[-1] + 1):
        assert await whole.live_count(now) == await partial.live_count(now)
        assert sorted(m.id for m in await whole.expired(now)) == sorted(m.id for m in await partial.expired(now))
    for _ in range(30):
        scope = Scope(**random_scope(rng))
        now = rng.choice([T0, EXPIRES[1] + 1])
        limit = rng.choice([1, 7, 50])
        before = rng.choice([None, (T0 + 60 * rng.randrange(0, 600), "")])
        got = [m.id for m in await whole.page(limit, before, now, scope)]
        assert got == [m.id for m in await partial.page(limit, before, now, scope)], (scope, limit, before)
        compiled = compile_filter(random_filter(rng), Limits())
        exact = rng.random() < 0.2
        assert sorted(await whole.matching(compiled, scope, exact)) == sorted(
            await partial.matching(compiled, scope, exact)
        ), (scope, exact)


@pytest.mark.parametrize("seed", [1, 2])
def test_whole_and_partial_records_answer_alike(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    items = memories(rng, 400)
    stored = [as_memory(i) for i in items]

    async def scenario() -> None:
        store = SqliteStore(str(tmp_path / "ltm.db"))
        await store.start()
        reader = SqliteRecordReader(tmp_path / "ltm.db")
        try:
            await store.apply([WriteOp(n + 1, "upsert", m) for n, m in enumerate(stored)])
            whole = WholeRecords()
            for m in stored:
                whole.put(m)
            partial = PartialRecords("u", reader, cache_size=32)
            ids = [m.id for m in stored]
            await compare(whole, partial, rng, ids)
            # Later writes, in the overlay only: replaced texts and metadata, new memories, deletes.
            later = [as_memory(i) for i in memories(rng, 60)]
            for n, m in enumerate(later):
                m = dataclasses.replace(m, created_at=T0 + 60 * (400 + n))
                assert whole.put(m) is None and partial.put(m) is None
                ids.append(m.id)
            for memory_id in rng.sample(ids, 40):
                old = whole.get(memory_id)
                assert old is not None
                new = dataclasses.replace(old, content=old.content + " again", metadata={"kind": "work"}, revision=2)
                assert whole.put(new) == old and partial.put(new) == old
            for memory_id in rng.sample(ids, 50):
                assert whole.pop(memory_id) == partial.pop(memory_id)
                ids.remove(memory_id)
            assert whole.pop("absent") is None and partial.pop("absent") is None
            await compare(whole, partial, rng, ids)
        finally:
            reader.close()
            await store.close()

    asyncio.run(scenario())


def test_whole_records_keep_their_order_and_size_through_replacements() -> None:
    """The creation order and the byte count follow every put and pop (a replacement with a new creation
    time moves; a pop of the absent changes nothing), and a big user's match runs off the loop alike."""
    records = WholeRecords()
    first = Memory("a", "u", "one", {}, 0.5, 2.0)
    records.put(first)
    records.put(Memory("b", "u", "two", {}, 0.5, 1.0))
    assert records.order == [(1.0, "b"), (2.0, "a")]
    records.put(dataclasses.replace(first, created_at=0.5, content="one, moved"))
    assert records.order == [(0.5, "a"), (1.0, "b")]
    expected = sum(m.approx_bytes() for m in records.values()) + 16 * 2
    assert records.nbytes == expected
    assert records.pop("zzz") is None and records.nbytes == expected
    records.pop("a")
    records.pop("b")
    assert records.nbytes == 0 and records.order == [] and len(records) == 0
    many = WholeRecords()
    for n in range(MATCH_ON_LOOP_BELOW + 10):
        many.put(Memory(f"m{n}", "u", "x", {"n": n % 3}, 0.5, float(n), agent_id="a" if n % 2 else None))
    compiled = compile_filter({"n": 1}, Limits())
    found = asyncio.run(many.matching(compiled, Scope(agent_id="a")))
    assert sorted(found) == sorted(f"m{n}" for n in range(MATCH_ON_LOOP_BELOW + 10) if n % 3 == 1 and n % 2)


class HeldReader(SqliteRecordReader):
    """The real reader, its `get_many` in a worker thread held after its read until released: a read in
    flight (the event loop's own calls, housekeeping's prune, go through)."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.reading = threading.Event()
        self.release = threading.Event()

    def get_many(self, owner: str, ids: Sequence[str]) -> dict[str, Memory]:
        rows = super().get_many(owner, ids)
        if threading.current_thread() is not threading.main_thread():
            self.reading.set()
            assert self.release.wait(10)
        return rows


def test_a_write_made_while_the_store_is_read_is_not_answered_by_that_read(tmp_path: Path) -> None:
    """`read_many` reads the store in a worker thread. A write made meanwhile, shipped to the store and
    pruned from the overlay before the read comes back, must not be answered (or cached) as the row that
    read found: read after acknowledgement holds for a partially resident user's search too."""
    old = Memory("m1", "u", "first text", {}, 0.5, 1.0)
    other = Memory("m2", "u", "second text", {}, 0.5, 2.0)

    async def scenario() -> None:
        store = SqliteStore(str(tmp_path / "ltm.db"))
        await store.start()
        reader = HeldReader(tmp_path / "ltm.db")
        try:
            await store.apply([WriteOp(1, "upsert", old), WriteOp(2, "upsert", other)])
            partial = PartialRecords("u", reader, cache_size=32)
            reading = asyncio.ensure_future(partial.read_many(["m1", "m2", "absent"]))
            assert await asyncio.to_thread(reader.reading.wait, 10)
            new = dataclasses.replace(old, content="first text, revised", revision=2)
            partial.put(new)  # acknowledged
            await store.apply([WriteOp(3, "upsert", new)])  # shipped by the shuttle
            assert partial.prune() == 1 and "m1" not in partial.overlay  # and pruned by housekeeping
            reader.release.set()
            answered = await reading
            assert answered["m1"] == new and answered["m2"] == other and "absent" not in answered
            assert partial.get("m1") == new  # nothing stale cached
        finally:
            reader.release.set()
            reader.close()
            await store.close()

    asyncio.run(scenario())
