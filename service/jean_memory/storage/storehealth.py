"""Whether the long-term store answered its last call: one view shared by the shuttle (its writes) and
the tiers (a cold user's load), so either finding it down or back is what readiness and
`jm_ltm_up` report."""

from __future__ import annotations

import time

from prometheus_client import Gauge

from jean_memory.errors import LtmError
from jean_memory.storage.ltm.base import LongTermStore


class StoreHealth:
    def __init__(self, store: LongTermStore, up: Gauge) -> None:
        self._store = store
        self._up = up.labels(store.kind)
        self.store_ok = False
        #: `time.monotonic()` of the last call that succeeded (0: none yet).
        self.last_ok = 0.0

    def mark(self, ok: bool) -> None:
        self.store_ok = ok
        self._up.set(1 if ok else 0)
        if ok:
            self.last_ok = time.monotonic()

    async def check(self) -> bool:
        """Ping the store; whether it answered (and the view updated either way)."""
        try:
            await self._store.ping()
        except LtmError:
            self.mark(False)
            return False
        self.mark(True)
        return True
