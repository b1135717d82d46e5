"""Periodic upkeep, once a second, off the request path: keep the short-term tier within its
budget, apply the garbage-collector policy, and re-check a store that has been failing (so
readiness recovers on its own when the store comes back)."""

from __future__ import annotations

import asyncio
import logging
import time

from jean_memory.gcpolicy import GcPolicy
from jean_memory.storage.shuttle import MemoryShuttle
from jean_memory.storage.stm import ShortTermTier

log = logging.getLogger(__name__)

INTERVAL_S = 1.0
#: Re-check the store when no call has succeeded for this long.
STORE_CHECK_AFTER_S = 5.0


class Housekeeping:
    def __init__(self, stm: ShortTermTier, shuttle: MemoryShuttle, gc: GcPolicy) -> None:
        self._stm = stm
        self._shuttle = shuttle
        self._gc = gc
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="housekeeping")

    async def close(self) -> None:
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(INTERVAL_S)
            try:
                self._stm.evict_over_budget()
                self._gc.tick()
                if time.monotonic() - self._shuttle.last_store_ok > STORE_CHECK_AFTER_S:
                    await self._shuttle.check_store()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("housekeeping failed")
