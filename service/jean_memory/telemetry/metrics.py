"""Every metric the service exports, defined once, on an injectable registry.

Names follow Prometheus conventions (base units, `_seconds`, `_bytes`, `_total`) and, for HTTP, the
OpenTelemetry semantic conventions (`http.server.request.duration` becomes
`http_server_request_duration_seconds`). No label takes an unbounded value: never a user id, a
memory id or query text. The table in `docs/metrics.md` is generated from `METRIC_DOCS` below.
"""

from __future__ import annotations

import platform
from dataclasses import dataclass

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Info,
    PlatformCollector,
    ProcessCollector,
    disable_created_metrics,
)
from prometheus_client.metrics import MetricWrapperBase

from jean_memory import __version__

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
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096)


@dataclass(frozen=True, slots=True)
class MetricDoc:
    name: str
    kind: str
    unit: str
    labels: tuple[str, ...]
    help: str


class Metrics:
    """All instruments. Tests pass a fresh `CollectorRegistry`; the app uses its own, never the global."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry(auto_describe=True)
        r = self.registry
        self.http_duration = Histogram(
            "http_server_request_duration_seconds",
            "Duration of HTTP server requests (OTel http.server.request.duration).",
            ["http_request_method", "http_route", "http_response_status_class"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.http_active = Gauge(
            "http_server_active_requests",
            "HTTP requests being served now (OTel http.server.active_requests).",
            registry=r,
        )
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
        self.search_duration = Histogram(
            "jm_search_duration_seconds",
            "Search latency by the tier that answered: cache (L1 result), stm (hot), ltm (cold: promoted).",
            ["tier"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.embedding_duration = Histogram(
            "jm_embedding_duration_seconds",
            "Time the embedding model takes for one micro-batch.",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.embedding_batch_size = Histogram(
            "jm_embedding_batch_size",
            "Texts per embedding micro-batch.",
            buckets=BATCH_BUCKETS,
            registry=r,
        )
        self.embedding_backlog = Gauge("jm_embedding_backlog", "Memories waiting for their embedding.", registry=r)
        self.cache_hits = Counter(
            "jm_cache_hits_total",
            "Cache hits by level (l1 results, l2 query embeddings, bloom).",
            ["level"],
            registry=r,
        )
        self.cache_misses = Counter(
            "jm_cache_misses_total", "Cache misses by level (l1, l2, bloom).", ["level"], registry=r
        )
        self.cache_hit_rate = Gauge(
            "jm_cache_hit_ratio",
            "Share of searches answered without the model (L1 or L2 hit) over the dashboard window.",
            registry=r,
        )
        self.errors = Counter(
            "jm_errors_total",
            "Errors by component, operation and error type (bounded values).",
            ["service", "operation", "error_type"],
            registry=r,
        )
        self.shuttle_pending = Gauge(
            "jm_shuttle_pending", "Journaled writes not yet in the long-term store.", registry=r
        )
        self.shuttle_oldest_age = Gauge(
            "jm_shuttle_oldest_pending_age_seconds",
            "Age of the oldest journaled write not yet in the long-term store.",
            registry=r,
        )
        self.shuttle_batch_size = Histogram(
            "jm_shuttle_batch_size", "Writes per shuttle batch.", buckets=BATCH_BUCKETS, registry=r
        )
        self.shuttle_batches = Counter(
            "jm_shuttle_batches_total", "Shuttle batches written to the long-term store.", registry=r
        )
        self.shuttle_retries = Counter(
            "jm_shuttle_retries_total", "Shuttle batch retries after a long-term store failure.", registry=r
        )
        self.shuttle_failures = Counter(
            "jm_shuttle_failures_total",
            "Failed long-term store writes, by whether they will be retried.",
            ["retryable"],
            registry=r,
        )
        self.shuttle_dead_letters = Counter(
            "jm_shuttle_dead_letters_total",
            "Writes the long-term store refused for good, parked in the journal's dead-letter table.",
            registry=r,
        )
        self.shuttle_promotions = Counter(
            "jm_shuttle_promotions_total",
            "Users promoted from the long-term into the short-term tier.",
            registry=r,
        )
        self.ltm_write_duration = Histogram(
            "jm_ltm_write_duration_seconds",
            "Duration of one batch write to the long-term store.",
            ["store"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.ltm_read_duration = Histogram(
            "jm_ltm_read_duration_seconds",
            "Duration of one read (promotion or lookup) from the long-term store.",
            ["store"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.ltm_up = Gauge(
            "jm_ltm_up", "1 when the last long-term store call succeeded, else 0.", ["store"], registry=r
        )
        self.stm_vectors = Gauge("jm_stm_vectors", "Vectors held in the short-term tier.", registry=r)
        self.stm_bytes = Gauge(
            "jm_stm_bytes", "Estimated RAM of the short-term tier (vectors and records).", registry=r
        )
        self.stm_budget_bytes = Gauge("jm_stm_budget_bytes", "RAM budget of the short-term tier.", registry=r)
        self.stm_users = Gauge("jm_stm_users", "Users resident in the short-term tier.", registry=r)
        self.stm_evictions = Counter(
            "jm_stm_evictions_total",
            "Users evicted from the short-term tier to stay within budget.",
            registry=r,
        )
        self.admission_inflight = Gauge(
            "jm_admission_inflight", "Requests holding an admission slot.", ["operation"], registry=r
        )
        self.admission_rejected = Counter(
            "jm_admission_rejected_total",
            "Requests refused with 429/503 by admission control.",
            ["operation", "reason"],
            registry=r,
        )
        self.telemetry_exports = Counter(
            "jm_telemetry_exports_total",
            "OTLP export attempts of this process, by signal (traces, metrics) and result (success, failure).",
            ["signal", "result"],
            registry=r,
        )
        self.telemetry_dropped_spans = Counter(
            "jm_telemetry_dropped_spans_total",
            "Spans dropped before export (the export queue was full or the export failed).",
            registry=r,
        )
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
        self.gc_frozen_objects = Gauge(
            "jm_gc_frozen_objects",
            "Objects in the collector's permanent generation (frozen survivors the full collection skips).",
            registry=r,
        )
        self.build_info = Info("jm_build", "Version of the running service.", registry=r)
        self.build_info.info({"version": __version__, "python": platform.python_version()})
        ProcessCollector(registry=r)
        PlatformCollector(registry=r)
        self._initialise_known_children()

    def _initialise_known_children(self) -> None:
        """Create the known label combinations at zero, so a rate over them is 0, not "no data"."""
        for tier in ("cache", "stm", "ltm"):
            self.search_duration.labels(tier)
        for mode in ("single", "batch"):
            self.creation_duration.labels(mode)
        for operation in ("write", "read"):
            for reason in ("concurrency", "jm_embedding_backlog", "shuttle_backlog"):
                self.admission_rejected.labels(operation, reason)
        for signal in ("traces", "metrics"):
            for result in ("success", "failure"):
                self.telemetry_exports.labels(signal, result)
        for retryable in ("true", "false"):
            self.shuttle_failures.labels(retryable)


def metric_docs(metrics: Metrics | None = None) -> list[MetricDoc]:
    """Describe every family the service exposes: the single source of the metrics table in the docs.

    Label names come from the instruments' declarations, so a family documents its labels before
    any sample has used them.
    """
    metrics = metrics or Metrics()
    declared: dict[str, tuple[str, ...]] = {}
    for value in vars(metrics).values():
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
