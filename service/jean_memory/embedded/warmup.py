"""Start-up: rebuild the tiers from disk before the service calls itself ready.

Journal rows that lost their pending embedding in a crash are queued for the model again, the Bloom
filter is filled with every id the journal and the store know (until then it answers "may exist"),
and then (the service is ready by now) the most recently active users are promoted into the short-term
tier (up to 80 % of its budget), so the first reads after a restart are hot. A failure here is logged
and counted, never fatal: the users it did not reach are promoted on their first access instead.
"""

from __future__ import annotations

import asyncio
import logging

from jean_memory.background import BackgroundTask
from jean_memory.core.caches import IdFilter
from jean_memory.core.vectors import VectorDelivery
from jean_memory.embedded.tiers import EmbeddedTiers
from jean_memory.storage.journal import Journal
from jean_memory.storage.ltm.base import LongTermStore
from jean_memory.storage.stm import ShortTermTier

log = logging.getLogger(__name__)


class Warmup:
    def __init__(
        self,
        journal: Journal,
        store: LongTermStore,
        stm: ShortTermTier,
        tiers: EmbeddedTiers,
        ids: IdFilter,
        vectors: VectorDelivery,
        errors: object,
        *,
        warm_users: int,
    ) -> None:
        self._journal = journal
        self._store = store
        self._stm = stm
        self._tiers = tiers
        self._ids = ids
        self._vectors = vectors
        self._errors = errors
        self._warm_users = warm_users
        self._task = BackgroundTask("warm-up")
        #: True once the tiers are rebuilt (or the attempt is over): part of readiness.
        self.done = False

    def start(self) -> None:
        self._task.start(self._run())

    async def close(self) -> None:
        await self._task.close()

    async def _run(self) -> None:
        try:
            for op in await self._journal.unembedded():
                space = self._stm.peek(op.memory.user_id)
                if space is None or op.memory.id not in space.records:
                    self._vectors.schedule_detached(op.memory, op.seq)
            if self._ids.enabled:
                self._ids.update(await self._journal.keys())
                async for chunk in self._store.iter_keys():
                    self._ids.update(chunk)
                self._ids.ready = True
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("warm-up incomplete; users will be promoted on first access")
            self._errors.labels("stm", "warm_up", "internal").inc()  # type: ignore[attr-defined]
        # Ready from here: the warm promotions below only make first reads hotter (a read of a user being
        # promoted waits for that same promotion), so they do not hold readiness back.
        self.done = True
        try:
            for user_id in await self._store.recent_users(self._warm_users):
                if self._stm.nbytes > 0.8 * self._stm.budget:
                    break
                await self._tiers.promote(self._stm.space(user_id))
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("warm promotions stopped; users will be promoted on first access")
            self._errors.labels("stm", "warm_up", "internal").inc()  # type: ignore[attr-defined]
