"""The composition root: builds every collaborator once, from the settings, and starts and stops
them in order. Nothing else constructs a component; use cases receive what they need.

Embedded mode (the default: one process, SQLite):

    journal (SQLite WAL) ─┬─ writes ─────────────┐
    short-term tier ──────┤                       ├─ the API
    embedding worker ─────┼─ vector delivery      │
    read caches ──────────┴─ reads ──────────────┘
    memory shuttle: journal → long-term store, store → short-term tier (promotion)

Cluster mode (`JM_CLUSTER=true`, PostgreSQL): the journal and the shuttle give way to a group commit
to PostgreSQL, a batched version check before reads (with change notifications ahead of them), and
the shared embedding queue; the short-term tier, the caches, the worker and the use cases' shape stay.

Fault injection (fire drills only) wraps the use cases and the store here, at their edges.
"""

from __future__ import annotations

import asyncio
import socket
import time
from pathlib import Path

from jean_memory.cluster.coherence import ChangeListener, VersionCheck
from jean_memory.cluster.committer import GroupCommitter
from jean_memory.cluster.embedqueue import SharedEmbeddingQueue
from jean_memory.cluster.expiry import ClusterExpirySweep
from jean_memory.cluster.history import ClusterHistory
from jean_memory.cluster.owncommits import OwnCommits
from jean_memory.cluster.pg import Pg
from jean_memory.cluster.tiers import ClusterTiers
from jean_memory.cluster.writes import ClusterWrites
from jean_memory.config import IndexKind, Settings
from jean_memory.core.admission import BacklogAdmission, ConcurrencyLimit
from jean_memory.core.caches import IdFilter, LevelCache, SearchCacheWindow
from jean_memory.core.dedupe import Deduplicator
from jean_memory.core.expiry import ExpirySweep
from jean_memory.core.gate import UserGate
from jean_memory.core.golden import GoldenReplay
from jean_memory.core.history import History, HistoryOps
from jean_memory.core.housekeeping import Housekeeping
from jean_memory.core.reads import QueryEmbedding, ReadOps, Reads, hits_bytes, vector_bytes
from jean_memory.core.tiers import Tiers
from jean_memory.core.vectors import JournalSink, VectorDelivery
from jean_memory.core.warmup import Warmup
from jean_memory.core.writes import WriteOps, Writes
from jean_memory.embedding.base import Embedder
from jean_memory.embedding.worker import EmbeddingWorker
from jean_memory.faults import (
    Faults,
    FaultSpec,
    FaultyEmbedder,
    FaultyReads,
    FaultyStore,
    FaultyWrites,
    NoisyQueries,
)
from jean_memory.gcpolicy import GcPolicy
from jean_memory.goldenset import load as load_golden_set
from jean_memory.storage import disk
from jean_memory.storage.integrity import check_data_files, check_deferred
from jean_memory.storage.journal import Journal
from jean_memory.storage.ltm.base import LongTermStore
from jean_memory.storage.residency import PartialResidency
from jean_memory.storage.shuttle import MemoryShuttle
from jean_memory.storage.snapshot import SnapshotShape
from jean_memory.storage.stm import ShortTermTier
from jean_memory.storage.vector_index import UserIndex
from jean_memory.telemetry.core import Telemetry
from jean_memory.telemetry.looplag import LoopLagMonitor

#: Embedded mode: re-check the store when no call to it has succeeded for this long.
STORE_CHECK_AFTER_S = 5.0


class Container:
    history: HistoryOps
    expiry: ExpirySweep | ClusterExpirySweep

    def __init__(
        self, settings: Settings, telemetry: Telemetry, embedder: Embedder, store: LongTermStore | None
    ) -> None:
        s, m = settings, telemetry.metrics
        self.settings = settings
        self.telemetry = telemetry
        self.faults = Faults()
        #: Set on SIGTERM when a drain is configured: not ready, still serving (see `cli.DrainingServer`).
        self.draining = False
        #: Files a background integrity check found damaged ({role: problem}); `_integrity` runs it.
        self.damaged: dict[str, str] = {}
        self._integrity: asyncio.Task[None] | None = None
        if s.faults_enabled:
            embedder = FaultyEmbedder(embedder, self.faults)
        self.stm = ShortTermTier(s, embedder.dim, m.stm)
        self.worker = EmbeddingWorker(
            embedder, m.embedding, m.errors, batch_size=s.embed_batch_size, max_wait_ms=s.embed_max_wait_ms,
            roots=telemetry.roots,
        )  # fmt: skip
        self.results = LevelCache("l1", s.result_cache_size, m.caches, s.result_cache_bytes, hits_bytes)
        self.query_vectors = LevelCache("l2", s.embedding_cache_size, m.caches, s.embedding_cache_bytes, vector_bytes)
        self.search_window = SearchCacheWindow(m.caches)
        self.loop_lag = LoopLagMonitor(m.runtime)
        self.gc = GcPolicy(m.runtime, s.gc_freeze_interval_s, s.gc_full_collect_interval_s)
        read_limit = self.read_limit = ConcurrencyLimit("read", s.max_inflight_reads, s.retry_after_s, m.admission)
        self.gate = UserGate()
        self.dedupe = Deduplicator(self.stm, self.worker, s.dedup_threshold)
        write_limit = ConcurrencyLimit("write", s.max_inflight_writes, s.retry_after_s, m.admission)
        writes: WriteOps
        tiers: Tiers
        if s.cluster:
            writes, tiers = self._build_cluster(write_limit)
        else:
            assert store is not None, "embedded mode needs a long-term store"
            writes, tiers = self._build_embedded(store, write_limit)
        queries: QueryEmbedding = NoisyQueries(self.worker, self.faults) if s.faults_enabled else self.worker
        reads: ReadOps = Reads(
            self.stm, tiers, queries, self.ids, self.results, self.query_vectors, self.search_window,
            read_limit, telemetry,
        )  # fmt: skip
        if s.faults_enabled:
            writes, reads = FaultyWrites(writes, self.faults), FaultyReads(reads, self.faults)
        self.writes, self.reads = writes, reads
        self.golden: GoldenReplay | None = None
        if s.golden_set is not None:  # checked when the settings were validated; read again here
            golden = load_golden_set(s.golden_set, s.golden_k, s.max_query_chars, set(s.tenant_keys.values()))
            self.golden = GoldenReplay(golden, reads, s.golden_k, s.golden_interval_s, m.golden)
        m.runtime.ready.set_function(lambda: 1.0 if self.ready else 0.0)
        disk.watch(s.data_dir, m.disk.free, m.disk.total)

    # ---- the two modes ---------------------------------------------------------------------
    def _build_embedded(self, store: LongTermStore, write_limit: ConcurrencyLimit) -> tuple[WriteOps, Tiers]:
        s, m = self.settings, self.telemetry.metrics
        self.store: LongTermStore = FaultyStore(store, self.faults) if s.faults_enabled else store
        self.journal = Journal(
            s.journal_path, s.journal_sync, s.disk_full_retry_after_s, inline=s.journal_inline_commit
        )
        sink = JournalSink(self.journal, self.worker.embedder.model_id, store_keeps_vectors=self.store.keeps_vectors)
        self.vectors = VectorDelivery(self.worker, sink, self.stm, m.writes)
        self.shuttle = MemoryShuttle(
            s, self.journal, self.store, self.stm, m.shuttle, m.ltm, m.errors, self.worker.embedder.model_id,
            self.vectors.schedule, self.telemetry.roots,
        )  # fmt: skip
        self.residency: PartialResidency | None = None
        if s.stm_partial_user_vectors and self.store.sqlite_path is not None:
            dim = self.worker.embedder.dim
            self.residency = PartialResidency(
                self.store.sqlite_path, s.data_dir / "index", self.stm, dim, self.worker.embedder.model_id,
                s.stm_partial_user_vectors, lambda: UserIndex(dim, IndexKind.FLAT),
                SnapshotShape(s.stm_snapshot_ivf_vectors, s.stm_snapshot_probe_ratio),
            )  # fmt: skip
            self.shuttle.residency = self.residency
        self.ids = IdFilter(s.bloom_capacity, m.caches, enabled=self.store.enumerable)
        backlogs = BacklogAdmission(s, self.worker, lambda: self.journal.pending, s.journal_max_pending, m.admission)
        writes = Writes(
            self.journal, self.stm, self.shuttle, self.ids, self.vectors, self.dedupe, self.gate, backlogs,
            write_limit, self.telemetry,
        )  # fmt: skip
        self.history = History(self.journal, self.store, self.read_limit)
        self.expiry = ExpirySweep(
            self.journal, self.store, self.stm, self.shuttle, self.gate, m.lifecycle, s.expiry_sweep_s
        )
        self.warmup = Warmup(
            self.journal, self.store, self.stm, self.shuttle, self.ids, self.vectors, m.errors,
            warm_users=s.stm_warm_users,
        )  # fmt: skip
        self.housekeeping = Housekeeping(
            self.stm, self.gc, self.shuttle.check_store,
            lambda: time.monotonic() - self.shuttle.last_store_ok > STORE_CHECK_AFTER_S,
            self.residency.upkeep if self.residency is not None else None,
        )  # fmt: skip
        return writes, self.shuttle

    def _build_cluster(self, write_limit: ConcurrencyLimit) -> tuple[WriteOps, Tiers]:
        s, m = self.settings, self.telemetry.metrics
        replica = s.replica_id or f"{socket.gethostname()}:{s.port}"
        self.pg = Pg(
            s.effective_ltm_url, pool_size=s.ltm_pool_size, timeout_s=s.ltm_timeout_s, metrics=m.cluster,
            retry_after_s=s.retry_after_s,
        )  # fmt: skip
        # The store-of-record gauges and histograms every dashboard and the LTM alert read, as in embedded mode.
        m.ltm.up.labels("postgres").set_function(lambda: 1.0 if self.pg.ok else 0.0)
        self.committer = GroupCommitter(
            self.pg, m.cluster, replica_id=replica, lease_s=s.cluster_lease_s, max_group=s.cluster_commit_max,
            max_pending=s.cluster_max_pending, retry_after_s=s.retry_after_s,
            ltm_write=m.ltm.write_duration.labels("postgres"),
        )  # fmt: skip
        self.queue = SharedEmbeddingQueue(
            self.pg, self.worker, m.cluster, replica_id=replica, lease_s=s.cluster_lease_s,
            tombstone_retention_s=s.cluster_tombstone_retention_s,
        )  # fmt: skip
        self.vectors = VectorDelivery(self.worker, self.queue, self.stm, m.writes)
        self.versions = VersionCheck(self.pg, m.cluster)
        self.tiers = ClusterTiers(self.pg, self.stm, self.versions, m.cluster, m.ltm, self.worker.embedder.model_id)
        self.queue.on_stored = self.tiers.advance
        self.listener = ChangeListener(self.pg, m.cluster, self.tiers.on_change)
        # A replica's Bloom filter cannot know what other replicas wrote: reads ask PostgreSQL instead.
        self.ids = IdFilter(s.bloom_capacity, m.caches, enabled=False)
        backlogs = BacklogAdmission(s, self.worker, lambda: self.committer.pending, s.cluster_max_pending, m.admission)
        self.committer.on_committed = OwnCommits(self.stm, self.vectors, self.queue, m.cluster).committed
        writes = ClusterWrites(
            self.committer, self.tiers, self.dedupe, backlogs, write_limit, self.telemetry
        )  # fmt: skip
        self.history = ClusterHistory(self.pg, self.read_limit)
        self.expiry = ClusterExpirySweep(self.pg, m.lifecycle, s.expiry_sweep_s)
        # Probed every second: readiness must notice an outage even when no request touches PostgreSQL.
        self.housekeeping = Housekeeping(self.stm, self.gc, self.pg.ping, lambda: True)
        return writes, self.tiers

    # ---- lifecycle -------------------------------------------------------------------------
    async def start(self) -> None:
        self.gc.install()
        self.loop_lag.start()
        if self.settings.cluster:
            await self.pg.ping()  # creates the schema; if PostgreSQL is down, readiness says so and retries
            await self.worker.warm_up()
            self.worker.start()
            self.committer.start()
            self.listener.start()
            self.queue.start()
            self.expiry.start()
        else:
            # A damaged file stops the start here; a large store's page-by-page check is deferred.
            deferred = await asyncio.to_thread(check_data_files, self.settings)
            await self.journal.start()
            await self.store.start()
            await self.worker.warm_up()
            self.worker.start()
            self.shuttle.start()
            await self.shuttle.check_store()
            self.warmup.start()
            self.expiry.start()
            if deferred:
                self._integrity = asyncio.create_task(self._check_in_background(deferred), name="integrity")
        self.housekeeping.start()
        if self.golden is not None:
            self.golden.start()

    async def _check_in_background(self, files: list[tuple[str, Path]]) -> None:
        """A large store's integrity check, after the start: damage takes the service out of readiness."""
        damaged = await asyncio.to_thread(check_deferred, files, self.settings.startup_check)
        for role in damaged:
            self.telemetry.metrics.disk.damaged.labels(role).set(1)
        self.damaged.update(damaged)

    async def close(self) -> None:
        self.faults.clear()
        if self._integrity is not None:
            self._integrity.cancel()  # its thread finishes its read; nothing waits for it
        if self.golden is not None:
            await self.golden.close()
        await self.housekeeping.close()
        if self.settings.cluster:
            await self.expiry.close()
            await self.committer.close()
            await self.listener.close()
            await self.queue.close()
            await self.worker.close()
            await self.pg.close()
        else:
            await self.warmup.close()
            await self.expiry.close()
            await self.shuttle.close(drain_timeout_s=self.settings.shutdown_drain_s)
            await self.worker.close()
            await self.journal.close()
            if self.residency is not None:
                self.residency.close()
            await self.store.close()
        await self.loop_lag.close()
        self.gc.uninstall()

    @property
    def readiness(self) -> dict[str, bool]:
        """The checks `/readyz` reports: tiers rebuilt, store of record reachable, not draining."""
        if self.settings.cluster:
            checks = {"tiers_loaded": True, "ltm_reachable": self.pg.ok}
        else:
            checks = {"tiers_loaded": self.warmup.done, "ltm_reachable": self.shuttle.store_ok}
            if self.damaged:
                checks["files_sound"] = False
        if self.draining:
            checks["accepting"] = False
        return checks

    @property
    def ready(self) -> bool:
        return all(self.readiness.values())

    def start_draining(self) -> None:
        """Stop being ready (a load balancer's health check moves traffic away) but keep serving."""
        self.draining = True

    def apply_faults(self, spec: FaultSpec) -> None:
        """Fire drills: replace the active faults (the caches and the OTLP exports are told too). When a fault
        on vectors starts or stops, the caches are emptied: a result or a query vector computed under it
        must not outlive it, nor one computed before it hide it."""
        before = self.faults.spec
        self.faults.set(spec)
        if (before.embedding, before.noisy_vectors) != (spec.embedding, spec.noisy_vectors):
            self.results.clear()
            self.query_vectors.clear()
        self.results.suspended = self.query_vectors.suspended = spec.cache_disabled
        self.telemetry.block_exports(spec.collector_unreachable)
        if self.settings.cluster:
            self.pg.blocked = spec.ltm_unreachable
            self.committer.pause_s = spec.commit_pause_ms / 1000
