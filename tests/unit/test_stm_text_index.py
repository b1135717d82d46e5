"""The short-term tier starts the first lexical build of a written, never-searched user once its writes
pause (`ShortTermTier.index_texts`, run by housekeeping): the user's first searches then find a build
instead of all queueing behind a whole one."""

from __future__ import annotations

import asyncio

from prometheus_client import CollectorRegistry

from jean_memory.config import Settings
from jean_memory.memory import Memory
from jean_memory.storage.lexical import BUILD_ON_LOOP_BELOW
from jean_memory.storage.stm import ShortTermTier
from jean_memory.telemetry.metrics import Metrics


def test_index_texts_waits_for_a_pause_then_builds_each_user_once() -> None:
    async def scenario() -> None:
        stm = ShortTermTier(Settings(embedder="hash"), 8, Metrics(CollectorRegistry()).stm)
        big, small = stm.space("big"), stm.space("small")
        for n in range(BUILD_ON_LOOP_BELOW + 10):
            stm.put(big, Memory(f"b{n}", "big", f"river note {n}", {}, 0.5, 1000.0 + n))
        for n in range(3):
            stm.put(small, Memory(f"s{n}", "small", f"garden note {n}", {}, 0.5, 1000.0 + n))
        assert stm.index_texts(quiet_s=60) == 0  # still being written
        assert stm.index_texts(quiet_s=0) == 1  # the big one; the small one is built by its first search
        assert stm.index_texts(quiet_s=0) == 0
        for _ in range(500):
            if big.text_index.built is not None:
                break
            await asyncio.sleep(0.01)
        assert big.text_index.built is not None and small.text_index.built is None
        stm.put(big, Memory("late", "big", "lantern", {}, 0.5, 9000.0))
        assert stm.index_texts(quiet_s=0) == 0  # built once: later builds are the searches'

    asyncio.run(scenario())
