"""Export the prometheus-client registry over OTLP: one instrument, two paths, one series name.

Every metric is defined once, in `metrics.py`, with prometheus-client. `/metrics` exposes it for a
scrape; this module snapshots the same registry every `OTEL_METRIC_EXPORT_INTERVAL` ms and sends it
through the OpenTelemetry SDK's OTLP exporter (to the collector, or straight to Prometheus's OTLP
receiver). Names and units are chosen so that Prometheus's OTLP translation (unit suffixes, `_total`
for monotonic sums) yields exactly the names `/metrics` shows:

    counter  jm_cache_hits{level}              -> Sum(monotonic) "jm_cache_hits"    -> jm_cache_hits_total
    gauge    jm_stm_bytes                      -> Gauge "jm_stm_bytes", unit "By"   -> jm_stm_bytes
    hist     jm_search_duration_seconds{tier}  -> Histogram "jm_search_duration_seconds", unit "s"
    info     jm_build{version}                 -> Gauge "jm_build_info" = 1

Exemplars (trace and span ids) travel with histogram buckets either way. A failed export is counted
(`jm_telemetry_exports_total{signal="metrics",result="failure"}`) and dropped: each export is a fresh
snapshot, so nothing accumulates while the collector is down.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
import time
from collections import defaultdict
from typing import Any

from opentelemetry.sdk.metrics._internal.exemplar import Exemplar
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    Gauge,
    Histogram,
    HistogramDataPoint,
    Metric,
    MetricExporter,
    MetricExportResult,
    MetricsData,
    NumberDataPoint,
    ResourceMetrics,
    ScopeMetrics,
    Sum,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from prometheus_client.registry import Collector
from prometheus_client.samples import Sample

from jean_memory import __version__
from jean_memory.telemetry.collected import Collected
from jean_memory.telemetry.metrics import Metrics

log = logging.getLogger(__name__)
_SCOPE = InstrumentationScope("jean_memory", __version__)
#: prometheus-client keeps no min/max; None leaves OTLP's optional fields unset (the SDK types say float).
_NO_VALUE: Any = None


def unit_of(name: str) -> str:
    """UCUM unit for a base-unit suffix; none otherwise (a "1" unit would add `_ratio`)."""
    if name.endswith("_seconds"):
        return "s"
    if name.endswith("_bytes"):
        return "By"
    return ""


def _exemplar(sample: Sample) -> list[Exemplar]:
    ex = sample.exemplar
    if ex is None or "trace_id" not in ex.labels:
        return []
    try:
        trace_id = int(ex.labels["trace_id"], 16)
        span_id = int(ex.labels.get("span_id", "0"), 16)
    except ValueError:
        return []
    ts = int(float(ex.timestamp or time.time()) * 1e9)
    return [Exemplar({}, ex.value, ts, span_id, trace_id)]


def _key(labels: dict[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((k, v) for k, v in labels.items() if k != "le"))


def registry_to_metrics(registry: Collector, start_ns: int, now_ns: int) -> list[Metric]:
    """Translate one scrape of the registry into OTLP metrics (cumulative temporality)."""
    out: list[Metric] = []
    for family in registry.collect():
        name, kind = family.name, family.type
        if kind == "counter":
            points = [
                NumberDataPoint(dict(s.labels), start_ns, now_ns, s.value, exemplars=_exemplar(s))
                for s in family.samples
                if s.name.endswith("_total")
            ]
            if points:  # a labelled counter with no children yet has no series on /metrics either
                data: Any = Sum(points, AggregationTemporality.CUMULATIVE, is_monotonic=True)
                out.append(Metric(name, family.documentation, unit_of(name), data))
        elif kind in ("gauge", "info", "unknown"):
            metric_name = f"{name}_info" if kind == "info" else name
            points = [NumberDataPoint(dict(s.labels), start_ns, now_ns, s.value) for s in family.samples]
            if points:
                out.append(Metric(metric_name, family.documentation, unit_of(name), Gauge(points)))
        elif kind == "histogram":
            series: dict[tuple[tuple[str, str], ...], dict[str, Any]] = defaultdict(
                lambda: {"buckets": [], "count": 0.0, "sum": 0.0, "exemplars": []}
            )
            for s in family.samples:
                entry = series[_key(s.labels)]
                if s.name.endswith("_bucket"):
                    entry["buckets"].append((float(s.labels["le"]), s.value))
                    entry["exemplars"] += _exemplar(s)
                elif s.name.endswith("_count"):
                    entry["count"] = s.value
                elif s.name.endswith("_sum"):
                    entry["sum"] = s.value
            hist_points = []
            for labels, entry in series.items():
                cumulative = sorted(entry["buckets"])
                bounds = [le for le, _ in cumulative if le != float("inf")]
                counts, previous = [], 0.0
                for _, c in cumulative:
                    counts.append(int(c - previous))
                    previous = c
                hist_points.append(
                    HistogramDataPoint(
                        dict(labels),
                        start_ns,
                        now_ns,
                        int(entry["count"]),
                        entry["sum"],
                        counts,
                        bounds,
                        _NO_VALUE,
                        _NO_VALUE,
                        exemplars=entry["exemplars"],
                    )
                )
            if hist_points:
                data = Histogram(hist_points, AggregationTemporality.CUMULATIVE)
                out.append(Metric(name, family.documentation, unit_of(name), data))
    return out


class OtlpMetricsBridge:
    """A daemon thread that exports the registry every `interval_s` seconds (and once at shutdown).

    The registry is collected on the event loop, not on this thread: collecting calls the gauges'
    functions, which read state only the loop mutates (the short-term tier's users, the backlogs).
    Read from another thread, a dict could change size mid-iteration, and the failed export fired
    the telemetry-pipeline alert under healthy load (seen in a fire drill). Only the network export
    runs here.
    """

    def __init__(self, metrics: Metrics, exporter: MetricExporter, resource: Resource, interval_s: float) -> None:
        self._metrics = metrics
        self._exporter = exporter
        self._resource = resource
        self._interval = interval_s
        self._start_ns = time.time_ns()
        self.blocked = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="otlp-metrics", daemon=True)
        self._loop: asyncio.AbstractEventLoop | None = None

    def _collect_on_loop(self) -> list[Metric]:
        """The registry collected on the event loop; translated to OTLP here, on the exporting thread."""
        loop = self._loop
        if loop is None or not loop.is_running() or threading.current_thread() is not self._thread:
            collected = Collected(self._metrics.registry)
        else:
            done: concurrent.futures.Future[Collected] = concurrent.futures.Future()

            def run() -> None:
                try:
                    done.set_result(Collected(self._metrics.registry))
                except BaseException as exc:  # handed to the exporting thread, which counts the failure
                    done.set_exception(exc)

            loop.call_soon_threadsafe(run)
            collected = done.result(timeout=10)
        return registry_to_metrics(collected, self._start_ns, time.time_ns())

    def snapshot(self) -> MetricsData:
        metrics = self._collect_on_loop()
        scope = ScopeMetrics(_SCOPE, metrics, "")
        return MetricsData([ResourceMetrics(self._resource, [scope], "")])

    def export_once(self) -> bool:
        if self.blocked:  # the fire drill's collector_unreachable fault
            self._metrics.pipeline.exports.labels("metrics", "failure").inc()
            return False
        try:
            ok = self._exporter.export(self.snapshot(), timeout_millis=10_000) is MetricExportResult.SUCCESS
        except Exception:  # the exporter should not raise, but a broken pipeline must not kill the thread
            log.exception("OTLP metrics export raised")
            ok = False
        self._metrics.pipeline.exports.labels("metrics", "success" if ok else "failure").inc()
        return ok

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self.export_once()

    def start(self) -> None:
        """Start exporting; called on the event loop, whose thread then does every collection."""
        try:
            self._loop = asyncio.get_running_loop()
        except RuntimeError:
            self._loop = None
        self._thread.start()

    def shutdown(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=self._interval + 1)
        self.export_once()
        self._exporter.shutdown()
