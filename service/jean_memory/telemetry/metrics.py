"""Every metric the service exports, defined once, on an injectable registry.

Names follow Prometheus conventions (base units, `_seconds`, `_bytes`, `_total`) and, for HTTP, the
OpenTelemetry semantic conventions (`http.server.request.duration` becomes
`http_server_request_duration_seconds`). Every metric the service defines carries the application prefix `jm_`. No
label takes an unbounded value: never a user id, a memory id or query text. The reference table in
`docs/reference/metrics.md` is generated from `metric_docs()` below.
"""

from __future__ import annotations

import platform
from dataclasses import dataclass

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    Info,
    PlatformCollector,
    ProcessCollector,
    disable_created_metrics,
)
from prometheus_client.metrics import MetricWrapperBase

from jean_memory import __version__
from jean_memory.telemetry.loopgauge import LoopGauge

# `_created` series double the exposition for no use in our rules and dashboards.
disable_created_metrics()

#: Latency buckets, in seconds, that resolve every target (0.5 ms .. 1 s, plus a tail).
LATENCY_BUCKETS = (
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)
#: Time until searchable can be long (the model's backlog), so it gets a longer tail.
DELAY_BUCKETS = (*LATENCY_BUCKETS, 30.0, 60.0, 120.0)
#: Cosine similarity, 0.05 apart: where a retrieval-quality collapse shows.
SCORE_BUCKETS = tuple(round(0.05 * n, 2) for n in range(1, 21))
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096)


@dataclass(frozen=True, slots=True)
class MetricDoc:
    name: str
    kind: str
    unit: str
    labels: tuple[str, ...]
    help: str


class HttpMetrics:
    """RED metrics of the HTTP server, with OpenTelemetry semantic-convention names (no prefix)."""

    def __init__(self, r: CollectorRegistry) -> None:
        self.duration = Histogram(
            "http_server_request_duration_seconds",
            "Duration of HTTP server requests (OTel http.server.request.duration).",
            ["http_request_method", "http_route", "http_response_status_class"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.active = LoopGauge(
            "http_server_active_requests",
            "HTTP requests being served now (OTel http.server.active_requests).",
            registry=r,
        )


class ErrorMetrics:
    """The one error counter, shared by every component that fails on purpose or by accident."""

    def __init__(self, r: CollectorRegistry) -> None:
        self.errors = Counter(
            "jm_errors_total",
            "Errors by component, operation and error type (bounded values).",
            ["service", "operation", "error_type"],
            registry=r,
        )


class WriteMetrics:
    """The write path: acknowledgement latency and the delay until a write is searchable."""

    def __init__(self, r: CollectorRegistry) -> None:
        self.creation_duration = Histogram(
            "jm_memory_creation_duration_seconds",
            "Time to acknowledge a memory write (durable in the journal), per request.",
            ["mode"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.time_to_searchable = Histogram(
            "jm_memory_time_to_searchable_seconds",
            "Time from a write's acknowledgement until its vector is searchable in the short-term tier.",
            buckets=DELAY_BUCKETS,
            registry=r,
        )
        for mode in ("single", "batch"):
            self.creation_duration.labels(mode)


class SearchMetrics:
    """The read path's search latency, by the tier that answered."""

    def __init__(self, r: CollectorRegistry) -> None:
        self.duration = Histogram(
            "jm_search_duration_seconds",
            "Search latency by the tier that answered: cache (L1 result), stm (hot), ltm (cold: promoted).",
            ["tier"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        for tier in ("cache", "stm", "ltm"):
            self.duration.labels(tier)


class EmbeddingMetrics:
    """The embedding worker: micro-batch time and size, and the backlog waiting for the model."""

    def __init__(self, r: CollectorRegistry) -> None:
        self.duration = Histogram(
            "jm_embedding_duration_seconds",
            "Time the embedding model takes for one micro-batch.",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.batch_size = Histogram(
            "jm_embedding_batch_size",
            "Texts per embedding micro-batch.",
            buckets=BATCH_BUCKETS,
            registry=r,
        )
        self.backlog = LoopGauge("jm_embedding_backlog", "Memories waiting for their embedding.", registry=r)


class CacheMetrics:
    """Hits and misses of the read caches by level, and the searches' model-avoided ratio."""

    def __init__(self, r: CollectorRegistry) -> None:
        self.hits = Counter(
            "jm_cache_hits_total",
            "Cache hits by level (l1 results, l2 query embeddings, bloom).",
            ["level"],
            registry=r,
        )
        self.misses = Counter("jm_cache_misses_total", "Cache misses by level (l1, l2, bloom).", ["level"], registry=r)
        self.bytes = LoopGauge(
            "jm_cache_bytes",
            "Estimated bytes held by a read cache (l1, l2), bounded by JM_RESULT_CACHE_BYTES and "
            "JM_EMBEDDING_CACHE_BYTES.",
            ["level"],
            registry=r,
        )
        self.hit_ratio = LoopGauge(
            "jm_cache_hit_ratio",
            "Share of the last 1,000 searches answered without the model (an L1 or L2 hit).",
            registry=r,
        )


class ShuttleMetrics:
    """The memory shuttle: the journal's backlog towards the store, batches, retries, promotions."""

    def __init__(self, r: CollectorRegistry) -> None:
        self.pending = LoopGauge("jm_shuttle_pending", "Journaled writes not yet in the long-term store.", registry=r)
        self.oldest_age = LoopGauge(
            "jm_shuttle_oldest_pending_age_seconds",
            "Age of the oldest journaled write not yet in the long-term store.",
            registry=r,
        )
        self.batch_size = Histogram(
            "jm_shuttle_batch_size", "Writes per shuttle batch.", buckets=BATCH_BUCKETS, registry=r
        )
        self.batches = Counter(
            "jm_shuttle_batches_total", "Shuttle batches written to the long-term store.", registry=r
        )
        self.retries = Counter(
            "jm_shuttle_retries_total", "Shuttle batch retries after a long-term store failure.", registry=r
        )
        self.failures = Counter(
            "jm_shuttle_failures_total",
            "Failed long-term store writes, by whether they will be retried.",
            ["retryable"],
            registry=r,
        )
        self.dead_letters = Counter(
            "jm_shuttle_dead_letters_total",
            "Writes the long-term store refused for good, parked in the journal's dead-letter table.",
            registry=r,
        )
        self.promotions = Counter(
            "jm_shuttle_promotions_total",
            "Users promoted from the long-term into the short-term tier.",
            registry=r,
        )
        for retryable in ("true", "false"):
            self.failures.labels(retryable)


class LtmMetrics:
    """The long-term store as the shuttle sees it: write and read latency, reachability."""

    def __init__(self, r: CollectorRegistry) -> None:
        self.write_duration = Histogram(
            "jm_ltm_write_duration_seconds",
            "Duration of one batch write to the long-term store.",
            ["store"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.read_duration = Histogram(
            "jm_ltm_read_duration_seconds",
            "Duration of one read (promotion or lookup) from the long-term store.",
            ["store"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.up = LoopGauge(
            "jm_ltm_up", "1 when the last long-term store call succeeded, else 0.", ["store"], registry=r
        )


class StmMetrics:
    """The short-term tier: what it holds against its budget, and its evictions."""

    def __init__(self, r: CollectorRegistry) -> None:
        self.vectors = LoopGauge("jm_stm_vectors", "Vectors held in the short-term tier.", registry=r)
        self.bytes = LoopGauge(
            "jm_stm_bytes", "Estimated RAM of the short-term tier (vectors and records).", registry=r
        )
        self.budget_bytes = LoopGauge("jm_stm_budget_bytes", "RAM budget of the short-term tier.", registry=r)
        self.users = LoopGauge("jm_stm_users", "Users resident in the short-term tier.", registry=r)
        self.mapped_bytes = LoopGauge(
            "jm_stm_mapped_bytes",
            "Index snapshots of partially resident users, memory-mapped from disk (the OS caches or drops their pages; "
            "not counted in jm_stm_bytes).",
            registry=r,
        )
        self.evictions = Counter(
            "jm_stm_evictions_total",
            "Users evicted from the short-term tier to stay within budget.",
            registry=r,
        )


class AdmissionMetrics:
    """Admission control: slots held and requests refused, by operation and reason."""

    def __init__(self, r: CollectorRegistry) -> None:
        self.inflight = LoopGauge(
            "jm_admission_inflight", "Requests holding an admission slot.", ["operation"], registry=r
        )
        self.rejected = Counter(
            "jm_admission_rejected_total",
            "Requests refused with 429/503 by admission control.",
            ["operation", "reason"],
            registry=r,
        )
        for operation in ("write", "read"):
            for reason in ("concurrency", "embedding_backlog", "shuttle_backlog"):
                self.rejected.labels(operation, reason)


class TenantMetrics:
    """Per-tenant fairness (`api/fairness.py`): requests admitted, refused and in flight, by tenant.

    The `tenant` label is a configured tenant's name (`default` for keys without one), never a user id;
    past `JM_TENANT_METRICS_MAX` tenants the rest share `other`, so the series stay bounded.
    """

    def __init__(self, r: CollectorRegistry) -> None:
        self.admitted = Counter(
            "jm_tenant_admitted_total", "/v1 requests admitted, by tenant and operation.", ["tenant", "operation"],
            registry=r,
        )  # fmt: skip
        self.rejected = Counter(
            "jm_tenant_rejected_total",
            "/v1 requests refused with 429 by a per-tenant limit: rate (JM_TENANT_RATE_LIMIT) or concurrency "
            "(JM_TENANT_INFLIGHT_SHARE).",
            ["tenant", "limit"],
            registry=r,
        )
        self.inflight = LoopGauge(
            "jm_tenant_inflight", "/v1 requests in flight, by tenant and operation.", ["tenant", "operation"],
            registry=r,
        )  # fmt: skip


class ConnectionMetrics:
    """The HTTP connections below the application: how many are open, and what was refused before a request."""

    #: Why the connection layer answered and closed (`jean_memory.connections`).
    REASONS = ("connections", "head_size", "head_fields", "url", "head_timeout", "body_timeout")

    def __init__(self, r: CollectorRegistry) -> None:
        self.open = LoopGauge(
            "jm_http_connections", "Open HTTP connections (JM_MAX_CONNECTIONS caps them).", registry=r
        )
        self.refused = Counter(
            "jm_http_refused_total",
            "Connections answered and closed below the application, by reason: connections (over "
            "JM_MAX_CONNECTIONS), head_size, head_fields, url (431, 431, 414), head_timeout, body_timeout (408).",
            ["reason"],
            registry=r,
        )
        for reason in self.REASONS:
            self.refused.labels(reason)


class DiskMetrics:
    """The filesystem holding the data folder (the journal, the embedded store): adds get 507 when it is full."""

    def __init__(self, r: CollectorRegistry) -> None:
        self.free = LoopGauge(
            "jm_disk_free_bytes",
            "Bytes free for the service on the filesystem of the data folder (JM_DATA_DIR), as df reports them.",
            registry=r,
        )
        self.total = LoopGauge(
            "jm_disk_total_bytes", "Size of the filesystem of the data folder, in bytes.", registry=r
        )
        self.damaged = LoopGauge(
            "jm_data_file_damaged",
            "1 when an integrity check found the file damaged (a large store is checked in the background after the "
            "start; any other damage stops the start).",
            ["file"],
            registry=r,
        )
        for role in ("journal", "store"):
            self.damaged.labels(role)


class PipelineMetrics:
    """The service's own telemetry pipeline: OTLP exports, dropped spans and dropped log records."""

    def __init__(self, r: CollectorRegistry) -> None:
        self.exports = Counter(
            "jm_telemetry_exports_total",
            "OTLP export attempts of this process, by signal (traces, metrics, logs) and result (success, failure).",
            ["signal", "result"],
            registry=r,
        )
        self.dropped_spans = Counter(
            "jm_telemetry_dropped_spans_total",
            "Spans dropped before export (the export queue was full or the export failed).",
            registry=r,
        )
        self.dropped_logs = Counter(
            "jm_telemetry_dropped_logs_total",
            "Log records dropped before OTLP export (the export queue was full or the export failed).",
            registry=r,
        )
        for signal in ("traces", "metrics", "logs"):
            for result in ("success", "failure"):
                self.exports.labels(signal, result)


class RuntimeMetrics:
    """The process runtime: event-loop lag, garbage-collector pauses, the build."""

    def __init__(self, r: CollectorRegistry) -> None:
        self.event_loop_lag = Histogram(
            "jm_event_loop_lag_seconds",
            "How late a 100 ms timer on the event loop fires: time the loop was blocked or saturated.",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
            registry=r,
        )
        self.gc_pause = Histogram(
            "jm_gc_pause_seconds",
            "Pauses of CPython's cyclic garbage collector, by generation (0, 1, 2); they stall the event loop.",
            ["generation"],
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0),
            registry=r,
        )
        self.gc_frozen_objects = LoopGauge(
            "jm_gc_frozen_objects",
            "Objects in the collector's permanent generation (frozen survivors the full collection skips), counted as "
            "they are frozen and recounted at each full collection.",
            registry=r,
        )
        self.ready = LoopGauge(
            "jm_ready",
            "1 while the service is ready to serve (what /readyz answers), 0 while starting, draining or cut off.",
            registry=r,
        )
        self.build_info = Info("jm_build", "Version and mode (embedded or cluster) of the running service.", registry=r)


class LifecycleMetrics:
    """The memory lifecycle beyond adds: updates, deduplicated adds, expiry and forgotten users."""

    def __init__(self, r: CollectorRegistry) -> None:
        self.updates = Counter("jm_memory_updates_total", "Memories updated (a new revision written).", registry=r)
        self.deduplicated = Counter(
            "jm_memory_deduplicated_total",
            "Adds that asked for deduplication and created nothing: a near-duplicate of an existing memory.",
            registry=r,
        )
        self.expired = Counter(
            "jm_memory_expired_total", "Memories removed because their expires_at passed.", registry=r
        )
        self.forgotten = Counter(
            "jm_memory_forgotten_total", "Memories removed by forgetting their user entirely.", registry=r
        )


#: The MCP server's tools (`jean_memory/mcp/tools.py` names them); any other name is counted as `unknown`.
MCP_TOOLS = (
    "add_memories",
    "search_memories",
    "get_memory",
    "list_memories",
    "update_memory",
    "delete_memory",
    "forget_user",
)
#: How a tool call ended: `ok`, or the error code of what refused it (`jean_memory.errors`), or `error`.
MCP_OUTCOMES = ("ok", "invalid", "not_found", "conflict", "overloaded", "rate_limited", "unavailable", "error")
#: Which entry served an MCP request: `single_exchange` (`jean_memory/mcp/exchange.py`) or the SDK's
#: `session_manager` (everything else: initialize, notifications, anything malformed or refused).
MCP_ENTRIES = ("single_exchange", "session_manager")


class McpMetrics:
    """Tool calls on the MCP endpoint, by tool: the HTTP metrics see every call as one `POST /mcp`."""

    def __init__(self, r: CollectorRegistry) -> None:
        self.calls = Counter(
            "jm_mcp_tool_calls_total", "MCP tool calls by tool and outcome (bounded values).", ["tool", "outcome"],
            registry=r,
        )  # fmt: skip
        self.duration = Histogram(
            "jm_mcp_tool_duration_seconds",
            "Time in an MCP tool, from its arguments to its result (validation included).",
            ["tool"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.requests = Counter(
            "jm_mcp_requests_total", "Requests on the MCP endpoint by the entry that served them (bounded values).",
            ["entry"], registry=r,
        )  # fmt: skip
        for entry in MCP_ENTRIES:
            self.requests.labels(entry)
        for tool in MCP_TOOLS:  # an error ratio over them reads 0, not "no data"
            self.duration.labels(tool)
            self.calls.labels(tool, "ok")
            self.calls.labels(tool, "error")


class RetrievalMetrics:
    """Retrieval quality as agents see it: how good the best match is, and how often nothing matches."""

    def __init__(self, r: CollectorRegistry) -> None:
        self.top_score = Histogram(
            "jm_search_top_score",
            "Cosine similarity of the best result of each search that returned one (1 is identical).",
            buckets=SCORE_BUCKETS,
            registry=r,
        )
        self.empty = Counter(
            "jm_search_empty_total", "Searches that returned no result (the user has no matching memory).", registry=r
        )


class GoldenMetrics:
    """The golden set's replay (JM_GOLDEN_SET): recall@k of searches whose right answers are known, the
    recall SLI. No label names a user, a tenant or a query: the set is judged as a whole."""

    def __init__(self, r: CollectorRegistry) -> None:
        self.queries = Counter(
            "jm_golden_queries",
            "Golden searches replayed, by outcome (`error`: the search failed, its ids are not counted).",
            ["result"],
            registry=r,
        )
        for result in ("ok", "error"):
            self.queries.labels(result)
        self.expected = Counter(
            "jm_golden_expected",
            "Expected memory ids of the golden searches answered: recall's denominator.",
            registry=r,
        )
        self.hits = Counter(
            "jm_golden_hits",
            "Expected memory ids found in their search's top JM_GOLDEN_K results: recall's numerator.",
            registry=r,
        )
        self.last_run = LoopGauge(
            "jm_golden_last_run_timestamp_seconds",
            "When the last replay of the golden set finished (Unix time; 0: none yet).",
            registry=r,
        )
        self.run_duration = LoopGauge(
            "jm_golden_run_duration_seconds", "How long the last replay of the golden set took.", registry=r
        )
        self.size = LoopGauge("jm_golden_set_queries", "Searches in the golden set (0: none configured).", registry=r)
        self.k = LoopGauge("jm_golden_k", "How many results a golden search looks at (JM_GOLDEN_K).", registry=r)


class ClusterMetrics:
    """Cluster mode: group commits to PostgreSQL, coherence between replicas, the shared embedding queue."""

    def __init__(self, r: CollectorRegistry) -> None:
        self.commit_duration = Histogram(
            "jm_cluster_commit_duration_seconds",
            "Duration of one group commit to PostgreSQL (one round trip for every write waiting).",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.commit_group_size = Histogram(
            "jm_cluster_commit_group_size",
            "Write operations per group commit.",
            buckets=BATCH_BUCKETS,
            registry=r,
        )
        self.version_check_duration = Histogram(
            "jm_cluster_version_check_duration_seconds",
            "Duration of one batched check of users' versions in PostgreSQL before reads.",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.version_checks = Counter(
            "jm_cluster_version_checks_total",
            "Reads checked against PostgreSQL, by outcome: current (served from the tier), behind (caught up "
            "first), cold (loaded first).",
            ["result"],
            registry=r,
        )
        self.catchups = Counter(
            "jm_cluster_catchups_total",
            "Resident users brought up to date from PostgreSQL, by kind (incremental changes, or a full reload).",
            ["kind"],
            registry=r,
        )
        self.local_applies = Counter(
            "jm_cluster_local_applies_total",
            "This replica's own group commits, per user, by what its copy of the user did with the result: "
            "applied (the copy was exactly one version behind), newer (a catch-up had already brought it or "
            "later changes: skipped), behind (other changes came between: skipped, the next catch-up brings it).",
            ["outcome"],
            registry=r,
        )
        self.vectors_refused = Counter(
            "jm_cluster_vectors_refused_total",
            "Vectors PostgreSQL refused to store because their row no longer holds the text they were computed "
            "from (updated, deleted or forgotten since).",
            registry=r,
        )
        self.invalidations = Counter(
            "jm_cluster_invalidations_total",
            "Change notifications (LISTEN/NOTIFY) that found the user resident here: its caches were invalidated.",
            registry=r,
        )
        self.invalidation_lag = Histogram(
            "jm_cluster_invalidation_lag_seconds",
            "Time from a write's commit on any replica to its change notification arriving here.",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.embed_queue = LoopGauge(
            "jm_cluster_embed_queue",
            "Memories in PostgreSQL waiting for a vector, by state (claimed by a live replica's lease, or unclaimed).",
            ["state"],
            registry=r,
        )
        self.embed_queue_oldest_age = LoopGauge(
            "jm_cluster_embed_queue_oldest_age_seconds",
            "Age of the oldest memory in PostgreSQL still waiting for a vector.",
            registry=r,
        )
        self.embed_claims = Counter(
            "jm_cluster_embed_claims_total",
            "Memories this replica claimed for embedding, by origin: own (its writes) or orphan (an expired lease).",
            ["origin"],
            registry=r,
        )
        self.pool_connections = LoopGauge(
            "jm_cluster_pg_pool_connections",
            "PostgreSQL pool connections of this replica, by state (busy, idle, max).",
            ["state"],
            registry=r,
        )
        for result in ("current", "behind", "cold"):
            self.version_checks.labels(result)
        for kind in ("incremental", "full"):
            self.catchups.labels(kind)
        for state in ("claimed", "unclaimed"):
            self.embed_queue.labels(state)
        for origin in ("own", "orphan"):
            self.embed_claims.labels(origin)
        for state in ("busy", "idle", "max"):
            self.pool_connections.labels(state)
        for outcome in ("applied", "newer", "behind"):
            self.local_applies.labels(outcome)


class Metrics:
    """Every metric family, grouped by the subsystem that owns it, on one injectable registry.

    Each component is handed its own group (`ShortTermTier(..., metrics.stm)`), so what a component
    can record is visible in its constructor. Tests pass a fresh `CollectorRegistry`; the app uses its
    own, never the global one. Known label combinations are created at zero, so a rate over them is
    0, not "no data".
    """

    def __init__(self, registry: CollectorRegistry | None = None, *, mode: str = "embedded") -> None:
        self.registry = registry if registry is not None else CollectorRegistry(auto_describe=True)
        r = self.registry
        self.http = HttpMetrics(r)
        self.errors = ErrorMetrics(r).errors
        self.writes = WriteMetrics(r)
        self.search = SearchMetrics(r)
        self.embedding = EmbeddingMetrics(r)
        self.caches = CacheMetrics(r)
        self.shuttle = ShuttleMetrics(r)
        self.ltm = LtmMetrics(r)
        self.stm = StmMetrics(r)
        self.admission = AdmissionMetrics(r)
        self.tenants = TenantMetrics(r)
        self.disk = DiskMetrics(r)
        self.connections = ConnectionMetrics(r)
        self.pipeline = PipelineMetrics(r)
        self.runtime = RuntimeMetrics(r)
        self.runtime.build_info.info({"version": __version__, "python": platform.python_version(), "mode": mode})
        self.cluster = ClusterMetrics(r)
        self.lifecycle = LifecycleMetrics(r)
        self.retrieval = RetrievalMetrics(r)
        self.golden = GoldenMetrics(r)
        self.mcp = McpMetrics(r)
        ProcessCollector(registry=r)
        PlatformCollector(registry=r)

    def groups(self) -> list[object]:
        """Every subsystem group, for documentation."""
        return [v for v in vars(self).values() if v is not self.registry and not isinstance(v, MetricWrapperBase)]


def metric_docs(metrics: Metrics | None = None) -> list[MetricDoc]:
    """Describe every family the service exposes: the single source of the metrics table in the docs.

    Label names come from the instruments' declarations, so a family documents its labels before
    any sample has used them.
    """
    metrics = metrics or Metrics()
    declared: dict[str, tuple[str, ...]] = {}
    instruments = [metrics.errors, *(v for g in metrics.groups() for v in vars(g).values())]
    for value in instruments:
        if isinstance(value, MetricWrapperBase):
            declared[value._name] = tuple(value._labelnames)
    docs: list[MetricDoc] = []
    for family in metrics.registry.collect():
        name, kind = family.name, family.type
        exposed = {"counter": f"{name}_total", "info": f"{name}_info"}.get(kind, name)
        labels = set(declared.get(name, ()))
        for sample in family.samples:
            labels.update(k for k in sample.labels if k not in ("le", "quantile"))
        unit = "seconds" if name.endswith("_seconds") else "bytes" if name.endswith("_bytes") else ""
        docs.append(MetricDoc(exposed, kind, unit, tuple(sorted(labels)), family.documentation))
    return sorted(docs, key=lambda d: d.name)
