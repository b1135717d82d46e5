"""The expiry sweep: memories whose `expires_at` passed are removed from every tier and the store.

Reads never return an expired memory from the moment it expires; the sweep reclaims them within
`JM_EXPIRY_SWEEP_S` (plus the shuttle's delay to the store, normally under a second). Each round asks
the store for expired memories and looks at the resident users; for every user concerned it makes
the user's space complete first (so an update that extended a memory's expiry, still in the journal,
is honoured), then journals one `expire` per memory that is expired in the current state.
"""

from __future__ import annotations

import logging
import time

from jean_memory.background import BackgroundTask, every
from jean_memory.core.gate import UserGate
from jean_memory.embedded.tiers import EmbeddedTiers
from jean_memory.errors import LtmError, ServiceError
from jean_memory.memory import same_version
from jean_memory.storage.journal import Journal
from jean_memory.storage.ltm.base import LongTermStore
from jean_memory.storage.shuttle import MemoryShuttle
from jean_memory.storage.stm import ShortTermTier
from jean_memory.telemetry.metrics import LifecycleMetrics

log = logging.getLogger(__name__)

#: Memories asked of the store per round; a larger backlog takes several rounds.
BATCH = 1000


class ExpirySweep:
    def __init__(
        self,
        journal: Journal,
        store: LongTermStore,
        stm: ShortTermTier,
        tiers: EmbeddedTiers,
        shuttle: MemoryShuttle,
        gate: UserGate,
        metrics: LifecycleMetrics,
        interval_s: float,
    ) -> None:
        self._gate = gate
        self._journal = journal
        self._store = store
        self._stm = stm
        self._tiers = tiers
        self._shuttle = shuttle
        self._expired = metrics.expired
        self._interval = interval_s
        self._task = BackgroundTask("expiry-sweep")

    def start(self) -> None:
        self._task.start(every(self._interval, self.sweep, log, "expiry sweep", postponed=(LtmError, ServiceError)))

    async def close(self) -> None:
        await self._task.close()

    async def sweep(self) -> int:
        """One round; returns how many memories it removed."""
        now = time.time()
        users = {space.user_id for space in list(self._stm.all_spaces()) if await self._stm.expired(space, now)}
        users |= {m.user_id for m in await self._store.expired(now, BATCH)}
        removed = 0
        for user_id in sorted(users):
            async with self._gate.exclusive(user_id):  # an update extending an expiry is not overtaken
                space = await self._tiers.hot(user_id)
                due = await self._stm.expired(space, now)
                if not due:
                    continue
                await self._journal.append([("expire", m) for m in due])
                for memory in due:
                    if same_version(space.records.get(memory.id), memory):
                        self._stm.remove(space, memory.id)
                removed += len(due)
        if removed:
            self._expired.inc(removed)
            self._shuttle.wake()
        return removed
