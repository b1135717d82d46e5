"""The composition root: builds every collaborator once, from the settings, and starts and stops
them in order. Nothing else constructs a component; use cases receive what they need.

    journal (SQLite WAL) ─┬─ writes ──────────────┐
    short-term tier ──────┤                        ├─ the API
    embedding worker ─────┼─ vector delivery       │
    read caches ──────────┴─ reads ───────────────┘
    memory shuttle: journal → long-term store, store → short-term tier (promotion)

Fault injection (fire drills only) wraps the use cases and the store here, at their edges.
"""

from __future__ import annotations

from jean_memory.config import Settings
from jean_memory.core.admission import BacklogAdmission, ConcurrencyLimit
from jean_memory.core.caches import IdFilter, LevelCache, SearchCacheWindow
from jean_memory.core.housekeeping import Housekeeping
from jean_memory.core.reads import ReadOps, Reads
from jean_memory.core.vectors import VectorDelivery
from jean_memory.core.warmup import Warmup
from jean_memory.core.writes import WriteOps, Writes
from jean_memory.embedding.base import Embedder
from jean_memory.embedding.worker import EmbeddingWorker
from jean_memory.faults import Faults, FaultSpec, FaultyReads, FaultyStore, FaultyWrites
from jean_memory.gcpolicy import GcPolicy
from jean_memory.storage.journal import Journal
from jean_memory.storage.ltm.base import LongTermStore
from jean_memory.storage.shuttle import MemoryShuttle
from jean_memory.storage.stm import ShortTermTier
from jean_memory.telemetry.core import Telemetry
from jean_memory.telemetry.looplag import LoopLagMonitor


class Container:
    def __init__(self, settings: Settings, telemetry: Telemetry, embedder: Embedder, store: LongTermStore) -> None:
        s, m = settings, telemetry.metrics
        self.settings = settings
        self.telemetry = telemetry
        self.faults = Faults()
        self.store: LongTermStore = FaultyStore(store, self.faults) if s.faults_enabled else store
        self.journal = Journal(s.journal_path, s.journal_sync)
        self.stm = ShortTermTier(s, embedder.dim, m.stm)
        self.worker = EmbeddingWorker(
            embedder, m.embedding, m.errors, batch_size=s.embed_batch_size, max_wait_ms=s.embed_max_wait_ms,
            roots=telemetry.roots,
        )  # fmt: skip
        self.vectors = VectorDelivery(
            self.worker, self.journal, self.stm, m.writes, store_keeps_vectors=self.store.keeps_vectors
        )
        self.shuttle = MemoryShuttle(
            s, self.journal, self.store, self.stm, m.shuttle, m.ltm, m.errors, embedder.model_id,
            self.vectors.schedule, telemetry.roots,
        )  # fmt: skip
        self.results = LevelCache("l1", s.result_cache_size, m.caches)
        self.query_vectors = LevelCache("l2", s.embedding_cache_size, m.caches)
        self.ids = IdFilter(s.bloom_capacity, m.caches, enabled=self.store.enumerable)
        self.search_window = SearchCacheWindow(m.caches)
        writes: WriteOps = Writes(
            self.journal, self.stm, self.shuttle, self.ids, self.vectors,
            BacklogAdmission(s, self.worker, self.journal, m.admission),
            ConcurrencyLimit("write", s.max_inflight_writes, s.retry_after_s, m.admission),
            telemetry,
        )  # fmt: skip
        reads: ReadOps = Reads(
            self.stm, self.shuttle, self.worker, self.ids, self.results, self.query_vectors, self.search_window,
            ConcurrencyLimit("read", s.max_inflight_reads, s.retry_after_s, m.admission),
            telemetry,
        )  # fmt: skip
        if s.faults_enabled:
            writes, reads = FaultyWrites(writes, self.faults), FaultyReads(reads, self.faults)
        self.writes, self.reads = writes, reads
        self.warmup = Warmup(
            self.journal, self.store, self.stm, self.shuttle, self.ids, self.vectors, m.errors,
            warm_users=s.stm_warm_users,
        )  # fmt: skip
        self.loop_lag = LoopLagMonitor(m.runtime, s.slow_callback_ms)
        self.gc = GcPolicy(m.runtime, s.gc_freeze_interval_s, s.gc_full_collect_interval_s)
        self.housekeeping = Housekeeping(self.stm, self.shuttle, self.gc)

    async def start(self) -> None:
        self.gc.install()
        self.loop_lag.start()
        await self.journal.start()
        await self.store.start()
        await self.worker.warm_up()
        self.worker.start()
        self.shuttle.start()
        await self.shuttle.check_store()
        self.warmup.start()
        self.housekeeping.start()

    async def close(self) -> None:
        await self.warmup.close()
        await self.housekeeping.close()
        await self.shuttle.close(drain_timeout_s=self.settings.shutdown_drain_s)
        await self.worker.close()
        await self.journal.close()
        await self.store.close()
        await self.loop_lag.close()
        self.gc.uninstall()

    @property
    def readiness(self) -> dict[str, bool]:
        """The checks `/readyz` reports: tiers rebuilt from disk, store of record reachable."""
        return {"tiers_loaded": self.warmup.done, "ltm_reachable": self.shuttle.store_ok}

    @property
    def ready(self) -> bool:
        return all(self.readiness.values())

    def apply_faults(self, spec: FaultSpec) -> None:
        """Fire drills: replace the active faults (the caches and the OTLP exports are told too)."""
        self.faults.set(spec)
        self.results.suspended = self.query_vectors.suspended = spec.cache_disabled
        self.telemetry.block_exports(spec.collector_unreachable)
