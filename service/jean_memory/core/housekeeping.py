"""Periodic upkeep, once a second, off the request path: keep the short-term tier within its
budget, apply the garbage-collector policy, and probe the store of record when it is due (so
readiness recovers on its own when the store comes back, and notices when it goes)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from jean_memory.background import BackgroundTask, every
from jean_memory.gcpolicy import GcPolicy
from jean_memory.storage.stm import ShortTermTier

log = logging.getLogger(__name__)

INTERVAL_S = 1.0


class Housekeeping:
    def __init__(
        self,
        stm: ShortTermTier,
        gc: GcPolicy,
        probe_store: Callable[[], Awaitable[object]],
        probe_due: Callable[[], bool],
        upkeep: Callable[[], Awaitable[object]] | None = None,
    ) -> None:
        self._upkeep = upkeep
        self._stm = stm
        self._gc = gc
        self._probe_store = probe_store
        self._probe_due = probe_due
        self._task = BackgroundTask("housekeeping")

    def start(self) -> None:
        self._task.start(every(INTERVAL_S, self._round, log, "housekeeping"))

    async def close(self) -> None:
        await self._task.close()

    async def _round(self) -> None:
        self._stm.evict_over_budget()
        self._gc.tick()
        if self._probe_due():
            await self._probe_store()
        if self._upkeep is not None:
            await self._upkeep()
