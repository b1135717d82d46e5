"""The background-task helper every periodic loop of the service uses (`jean_memory.background`)."""

from __future__ import annotations

import asyncio
import logging

import pytest

from jean_memory.background import BackgroundTask, every
from jean_memory.errors import Unavailable

log = logging.getLogger("test_background")


def test_close_cancels_and_waits_and_a_second_close_is_harmless() -> None:
    async def scenario() -> None:
        finished = asyncio.Event()

        async def work() -> None:
            try:
                await asyncio.sleep(3600)
            finally:
                finished.set()

        task = BackgroundTask("probe")
        task.start(work())
        await asyncio.sleep(0)
        assert task.running
        await task.close()
        assert finished.is_set() and not task.running
        await task.close()

    asyncio.run(scenario())


def test_restarting_replaces_the_running_task() -> None:
    async def scenario() -> None:
        started: list[int] = []

        async def work(n: int) -> None:
            started.append(n)
            await asyncio.sleep(3600)

        task = BackgroundTask("probe")
        task.start(work(1))
        await asyncio.sleep(0)
        task.start(work(2))
        await asyncio.sleep(0)
        assert started == [1, 2] and task.running
        await task.close()
        assert [t for t in asyncio.all_tasks() if t.get_name() == "probe"] == []

    asyncio.run(scenario())


def test_every_survives_failed_rounds_and_logs_them(caplog: pytest.LogCaptureFixture) -> None:
    rounds: list[int] = []
    done = asyncio.Event()

    async def step() -> None:
        rounds.append(len(rounds))
        if len(rounds) == 1:
            raise Unavailable("store unreachable")
        if len(rounds) == 2:
            raise RuntimeError("a bug")
        if len(rounds) == 4:
            done.set()

    async def scenario() -> None:
        task = BackgroundTask("periodic")
        task.start(every(0.001, step, log, "probe round", postponed=(Unavailable,)))
        await asyncio.wait_for(done.wait(), 10)
        await task.close()

    with caplog.at_level(logging.WARNING, logger="test_background"):
        asyncio.run(scenario())
    records = [(r.levelno, r.getMessage(), r.exc_info is not None) for r in caplog.records]
    assert records[0] == (logging.WARNING, "probe round postponed: store unreachable", False)
    assert records[1] == (logging.ERROR, "probe round failed", True)
    assert len(records) == 2


def test_cancellation_propagates_out_of_every() -> None:
    async def step() -> None:
        await asyncio.sleep(3600)

    async def scenario() -> None:
        loop_task = asyncio.get_running_loop().create_task(every(0, step, log, "probe round"))
        await asyncio.sleep(0.01)
        loop_task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await loop_task

    asyncio.run(scenario())
