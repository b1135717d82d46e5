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

The mode's parts are built and run by its runtime (`embedded/runtime.py`, `cluster/runtime.py`) behind
one interface (`runtime.ModeRuntime`): the mode is chosen once, below, and nothing here branches on it
again. Fault injection (fire drills only) wraps the use cases and the store at their edges.
"""

from __future__ import annotations

from jean_memory.cluster.runtime import ClusterRuntime
from jean_memory.config import Settings
from jean_memory.core.admission import ConcurrencyLimit
from jean_memory.core.caches import LevelCache, SearchCacheWindow
from jean_memory.core.dedupe import Deduplicator
from jean_memory.core.gate import UserGate
from jean_memory.core.golden import GoldenReplay
from jean_memory.core.history import HistoryOps
from jean_memory.core.reads import QueryEmbedding, ReadOps, Reads, hits_bytes, vector_bytes
from jean_memory.core.writes import WriteOps
from jean_memory.embedded.runtime import EmbeddedRuntime
from jean_memory.embedding.base import Embedder
from jean_memory.embedding.worker import EmbeddingWorker
from jean_memory.faults import Faults, FaultSpec, FaultyEmbedder, FaultyReads, FaultyWrites, NoisyQueries
from jean_memory.gcpolicy import GcPolicy
from jean_memory.goldenset import load as load_golden_set
from jean_memory.runtime import ModeRuntime, Shared
from jean_memory.storage import disk
from jean_memory.storage.ltm.base import LongTermStore
from jean_memory.storage.stm import ShortTermTier
from jean_memory.telemetry.core import Telemetry
from jean_memory.telemetry.looplag import LoopLagMonitor


class Container:
    def __init__(
        self, settings: Settings, telemetry: Telemetry, embedder: Embedder, store: LongTermStore | None
    ) -> None:
        s, m = settings, telemetry.metrics
        self.settings = settings
        self.telemetry = telemetry
        self.faults = Faults()
        #: Set on SIGTERM when a drain is configured: not ready, still serving (see `cli.DrainingServer`).
        self.draining = False
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
        self.gc = GcPolicy(
            m.runtime, s.gc_freeze_interval_s, s.gc_full_collect_interval_s, s.gc_young_threshold, s.gc_middle_ratio
        )
        read_limit = ConcurrencyLimit("read", s.max_inflight_reads, s.retry_after_s, m.admission)
        shared = Shared(
            settings=s, telemetry=telemetry, faults=self.faults, stm=self.stm, worker=self.worker,
            dedupe=Deduplicator(self.stm, self.worker, s.dedup_threshold), gate=UserGate(), gc=self.gc,
            read_limit=read_limit,
            write_limit=ConcurrencyLimit("write", s.max_inflight_writes, s.retry_after_s, m.admission),
        )  # fmt: skip
        # The one place the mode is chosen: from here on the runtime is talked to through `ModeRuntime`.
        if s.cluster:
            self.runtime: ModeRuntime = ClusterRuntime(shared)
        else:
            assert store is not None, "embedded mode needs a long-term store"
            self.runtime = EmbeddedRuntime(shared, store)
        writes: WriteOps = self.runtime.writes
        self.history: HistoryOps = self.runtime.history
        queries: QueryEmbedding = NoisyQueries(self.worker, self.faults) if s.faults_enabled else self.worker
        reads: ReadOps = Reads(
            self.stm, self.runtime.tiers, queries, self.runtime.ids, self.results, self.query_vectors,
            self.search_window, read_limit, telemetry,
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

    # ---- lifecycle -------------------------------------------------------------------------
    async def start(self) -> None:
        self.gc.install()
        self.loop_lag.start()
        await self.runtime.start()
        if self.golden is not None:
            self.golden.start()

    async def close(self) -> None:
        self.faults.clear()
        if self.golden is not None:
            await self.golden.close()
        await self.runtime.close()
        await self.loop_lag.close()
        self.gc.uninstall()

    @property
    def readiness(self) -> dict[str, bool]:
        """The checks `/readyz` reports: tiers rebuilt, store of record reachable, not draining."""
        checks = self.runtime.readiness()
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
        if (before.embedding, before.noisy_vectors, before.lexical_off) != (
            spec.embedding,
            spec.noisy_vectors,
            spec.lexical_off,
        ):
            self.results.clear()
            self.query_vectors.clear()
        self.results.suspended = self.query_vectors.suspended = spec.cache_disabled
        self.telemetry.block_exports(spec.collector_unreachable)
        self.runtime.apply_faults(spec)
