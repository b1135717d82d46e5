"""Embedded mode's runtime: the journal, the memory shuttle and the long-term store behind the use cases.

One process is the only writer: an add is durable once its journal row is committed, the shuttle ships
journal rows to the long-term store and promotes users from it, and a resident user is current by
construction. A large store's page-by-page integrity check runs after the start; damage it finds takes
the service out of readiness.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from jean_memory.background import BackgroundTask
from jean_memory.config import IndexKind
from jean_memory.core.admission import BacklogAdmission
from jean_memory.core.caches import IdFilter
from jean_memory.core.history import HistoryOps
from jean_memory.core.housekeeping import Housekeeping
from jean_memory.core.tiers import Tiers
from jean_memory.core.vectors import VectorDelivery
from jean_memory.core.writes import WriteOps
from jean_memory.embedded.expiry import ExpirySweep
from jean_memory.embedded.history import History
from jean_memory.embedded.journalsink import JournalSink
from jean_memory.embedded.tiers import EmbeddedTiers
from jean_memory.embedded.warmup import Warmup
from jean_memory.embedded.writes import Writes
from jean_memory.faults import FaultSpec, FaultyStore
from jean_memory.runtime import Shared
from jean_memory.storage.integrity import check_data_files, check_deferred
from jean_memory.storage.journal import Journal
from jean_memory.storage.large.residency import PartialResidency
from jean_memory.storage.large.snapshot import SnapshotShape
from jean_memory.storage.ltm.base import LongTermStore
from jean_memory.storage.shuttle import MemoryShuttle
from jean_memory.storage.storehealth import StoreHealth
from jean_memory.storage.vector_index import UserIndex

#: Re-check the store when no call to it has succeeded for this long.
STORE_CHECK_AFTER_S = 5.0


class EmbeddedRuntime:
    def __init__(self, shared: Shared, store: LongTermStore) -> None:
        s, m = shared.settings, shared.telemetry.metrics
        self._shared = shared
        self.store: LongTermStore = FaultyStore(store, shared.faults) if s.faults_enabled else store
        self.journal = Journal(
            s.journal_path, s.journal_sync, s.disk_full_retry_after_s, inline=s.journal_inline_commit
        )
        model_id = shared.worker.embedder.model_id
        sink = JournalSink(self.journal, model_id, store_keeps_vectors=self.store.keeps_vectors)
        self.vectors = VectorDelivery(shared.worker, sink, shared.stm, m.writes)
        self.residency: PartialResidency | None = None
        if s.stm_partial_user_vectors and self.store.sqlite_path is not None:
            dim = shared.worker.embedder.dim
            self.residency = PartialResidency(
                store_path=self.store.sqlite_path, root=s.data_dir / "index", stm=shared.stm, dim=dim,
                model=model_id, threshold=s.stm_partial_user_vectors,
                new_delta=lambda: UserIndex(dim, IndexKind.FLAT),
                shape=SnapshotShape(s.stm_snapshot_ivf_vectors, s.stm_snapshot_probe_ratio),
            )  # fmt: skip
        self.health = StoreHealth(self.store, m.ltm.up)
        self.shuttle = MemoryShuttle(
            settings=s, journal=self.journal, store=self.store, health=self.health, metrics=m.shuttle,
            ltm_metrics=m.ltm, errors=m.errors, roots=shared.telemetry.roots,
        )  # fmt: skip
        tiers = EmbeddedTiers(
            journal=self.journal, store=self.store, stm=shared.stm, health=self.health,
            promotions=m.shuttle.promotions, ltm_metrics=m.ltm, errors=m.errors, model_id=model_id,
            schedule_embedding=self.vectors.schedule, tracer=shared.telemetry.roots.tracer,
            residency=self.residency,
        )  # fmt: skip
        self.tiers: Tiers = tiers
        self.ids = IdFilter(s.bloom_capacity, m.caches, enabled=self.store.enumerable)
        backlogs = BacklogAdmission(s, shared.worker, lambda: self.journal.pending, s.journal_max_pending, m.admission)
        self.writes: WriteOps = Writes(
            journal=self.journal, stm=shared.stm, tiers=tiers, shuttle=self.shuttle, ids=self.ids,
            vectors=self.vectors, dedupe=shared.dedupe, gate=shared.gate, backlogs=backlogs, limit=shared.write_limit,
            telemetry=shared.telemetry,
        )  # fmt: skip
        self.history: HistoryOps = History(self.journal, self.store, shared.read_limit)
        self.expiry = ExpirySweep(
            journal=self.journal, store=self.store, stm=shared.stm, tiers=tiers, shuttle=self.shuttle,
            gate=shared.gate, metrics=m.lifecycle, interval_s=s.expiry_sweep_s,
        )  # fmt: skip
        self.warmup = Warmup(
            journal=self.journal, store=self.store, stm=shared.stm, tiers=tiers, ids=self.ids,
            vectors=self.vectors, errors=m.errors, warm_users=s.stm_warm_users,
        )  # fmt: skip
        self.housekeeping = Housekeeping(
            stm=shared.stm, gc=shared.gc, probe_store=self.health.check,
            probe_due=lambda: time.monotonic() - self.health.last_ok > STORE_CHECK_AFTER_S,
            upkeep=self.residency.upkeep if self.residency is not None else None,
        )  # fmt: skip
        #: Files a background integrity check found damaged ({role: problem}).
        self.damaged: dict[str, str] = {}
        self._integrity = BackgroundTask("integrity")

    async def start(self) -> None:
        # A damaged file stops the start here; a large store's page-by-page check is deferred.
        deferred = await asyncio.to_thread(check_data_files, self._shared.settings)
        await self.journal.start()
        await self.store.start()
        await self._shared.worker.warm_up()
        self._shared.worker.start()
        self.shuttle.start()
        await self.health.check()
        self.warmup.start()
        self.expiry.start()
        if deferred:
            self._integrity.start(self._check_in_background(deferred))
        self.housekeeping.start()

    async def _check_in_background(self, files: list[tuple[str, Path]]) -> None:
        """A large store's integrity check, after the start: damage takes the service out of readiness."""
        damaged = await asyncio.to_thread(check_deferred, files, self._shared.settings.startup_check)
        for role in damaged:
            self._shared.telemetry.metrics.disk.damaged.labels(role).set(1)
        self.damaged.update(damaged)

    async def close(self) -> None:
        self._integrity.cancel()  # its thread finishes its read; nothing waits for it
        await self.housekeeping.close()
        await self.warmup.close()
        await self.expiry.close()
        await self.shuttle.close(drain_timeout_s=self._shared.settings.shutdown_drain_s)
        await self._shared.worker.close()
        await self.journal.close()
        if self.residency is not None:
            self.residency.close()
        await self.store.close()

    def readiness(self) -> dict[str, bool]:
        checks = {"tiers_loaded": self.warmup.done, "ltm_reachable": self.health.store_ok}
        if self.damaged:
            checks["files_sound"] = False
        return checks

    def apply_faults(self, spec: FaultSpec) -> None:
        """The journal's commit pause; the store's and the use cases' faults wrap their edges (`FaultyStore`...)."""
        self.journal.writer.pause_s = spec.commit_pause_ms / 1000
