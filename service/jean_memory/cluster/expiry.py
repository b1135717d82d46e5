"""The expiry sweep in cluster mode: every replica asks PostgreSQL, every `JM_EXPIRY_SWEEP_S`, to turn
expired memories into tombstones (`jm_expire`); replicas holding those users catch up as after any
other change. Several replicas sweeping at once is harmless: the user's version row orders them, and
a memory expires once."""

from __future__ import annotations

import logging

from jean_memory.background import BackgroundTask, every
from jean_memory.cluster.pg import Pg
from jean_memory.errors import Unavailable
from jean_memory.telemetry.metrics import LifecycleMetrics

log = logging.getLogger(__name__)

#: Users whose expired memories one call removes; the rest wait for the next round.
USERS_PER_ROUND = 500


class ClusterExpirySweep:
    def __init__(self, pg: Pg, metrics: LifecycleMetrics, interval_s: float) -> None:
        self._pg = pg
        self._expired = metrics.expired
        self._interval = interval_s
        self._task = BackgroundTask("expiry-sweep")

    def start(self) -> None:
        self._task.start(every(self._interval, self.sweep, log, "expiry sweep", postponed=(Unavailable,)))

    async def close(self) -> None:
        await self._task.close()

    async def sweep(self) -> int:
        rows = await self._pg.fetch("SELECT jm_expire($1)", USERS_PER_ROUND)
        removed = int(rows[0][0])
        if removed:
            self._expired.inc(removed)
        return removed
