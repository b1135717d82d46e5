"""promtool cases of the write and telemetry pipelines: the cluster's shared embedding queue, coherence lag
between replicas, the telemetry pipeline (the service's failed exports, the collector's failed sends)."""

from __future__ import annotations

from typing import Any

from jean_memory_dev.mixin.catalogue import Alert
from jean_memory_dev.mixin.config import Severity
from jean_memory_dev.mixin.promtool.cases import Cases
from jean_memory_dev.mixin.promtool.series import counter, gauge, histogram


def pipeline_cases(c: Cases) -> list[dict[str, Any]]:
    """The shared embedding queue, coherence lag, the telemetry pipeline."""
    j, job = c.j, c.job
    cases: list[dict[str, Any]] = []
    # The shared embedding queue: every replica reports the same oldest age (10 minutes; 5 s is silent).
    for age, fires in ((600, True), (5, False)):
        series = [
            gauge("jm_cluster_embed_queue_oldest_age_seconds", {**j, "instance": i}, age, 20)
            for i in ("a:8766", "b:8766")
        ]
        exp = [
            {
                "exp_labels": c.labels(Severity.WARNING, job=job),
                "exp_annotations": c.annotations(
                    Alert.EMBED_QUEUE_STALE,
                    "The oldest memory in PostgreSQL without a vector is 10m 0s old (threshold 120 s; a dead "
                    "replica's claims are taken over after the 15 s lease).",
                    "10m 0s",
                ),
            }
        ]
        cases.append(c.case(Alert.EMBED_QUEUE_STALE, series, "10m", exp if fires else []))

    # Coherence lag: every notification in (1 s, 2.5 s] gives a p99 of 2.485 s; in (25, 50] ms, silence.
    for bucket, fires in (("2.5", True), ("0.05", False)):
        series = histogram("jm_cluster_invalidation_lag_seconds", {**j, "instance": "a:8766"}, 60, bucket, 30)
        exp = [
            {
                "exp_labels": c.labels(Severity.WARNING, job=job),
                "exp_annotations": c.annotations(
                    Alert.COHERENCE_LAG_HIGH,
                    "p99 from a commit on any replica to its change notification on another is 2.485s over 5m "
                    "(threshold 1 s); reads stay correct but catch up from PostgreSQL first.",
                    "2.485s",
                ),
            }
        ]
        cases.append(c.case(Alert.COHERENCE_LAG_HIGH, series, "20m", exp if fires else []))

    # Telemetry: the service's failed exports, or the collector's failed sends; both silent when 0.
    telemetry_desc = (
        "{} failed exports or refused/dropped items per second "
        "(service OTLP exports, collector receivers and exporters)."
    )
    for series, value in (
        ([counter("jm_telemetry_exports_total", {**j, "signal": "traces", "result": "failure"}, 60, 20)], "1"),
        (
            [
                counter(
                    "otelcol_exporter_send_failed_spans_total",
                    {"job": "otel-collector", "exporter": "otlp/tempo"},
                    90,
                    20,
                )
            ],
            "1.5",
        ),
    ):
        exp = [
            {
                "exp_labels": c.labels(Severity.WARNING),
                "exp_annotations": c.annotations(Alert.TELEMETRY_PIPELINE_BROKEN, telemetry_desc.format(value), value),
            }
        ]
        cases.append(c.case(Alert.TELEMETRY_PIPELINE_BROKEN, series, "10m", exp))
    cases.append(
        c.case(
            Alert.TELEMETRY_PIPELINE_BROKEN,
            [
                counter("jm_telemetry_exports_total", {**j, "signal": "traces", "result": "success"}, 60, 20),
                counter("otelcol_exporter_send_failed_spans_total", {"job": "otel-collector"}, 0, 20),
            ],
            "10m",
            [],
        )
    )

    return cases
