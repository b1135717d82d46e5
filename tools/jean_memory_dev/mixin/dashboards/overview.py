"""Jean Memory / Overview: the product plan's panels, each against its target, and each replica's share."""

from grafanalib.core import GridPos, Table, Threshold

from jean_memory_dev.mixin import boards
from jean_memory_dev.mixin.dashboards.common import (
    ALERTS_SEL,
    HTTP,
    PROMETHEUS,
    RATE,
    SEL,
    TH,
    T,
    make_dashboard,
    quantiles,
    replica_latency,
    replica_throughput,
    stat,
    target,
    timeseries,
)
from jean_memory_dev.mixin.promql import cache_hit_ratio, error_ratio, operations_rate

dashboard = make_dashboard(
    boards.OVERVIEW,
    [
        timeseries(
            "Memory creation latency",
            quantiles("jm_memory_creation_duration_seconds"),
            (0, 0, 12, 8),
            "s",
            threshold=T.creation_avg_seconds,
            description="Time to a durable acknowledgement (p50/p95/p99). "
            f"Target: {T.creation_avg_seconds * 1000:g} ms "
            "on average. Dots are exemplars: click one for its trace.",
        ),
        timeseries(
            "Search latency",
            quantiles("jm_search_duration_seconds", by="tier"),
            (12, 0, 12, 8),
            "s",
            threshold=T.hot_search_p99_seconds,
            description=f"By tier: cache (L1 result), stm (hot), ltm (cold: promoted). Hot target: "
            f"{T.hot_search_p99_seconds * 1000:g} ms.",
        ),
        timeseries(
            "Cache hit rate",
            [target(cache_hit_ratio(SEL, RATE, by=()), "searches without the model")],
            (0, 8, 8, 7),
            "percentunit",
            threshold=T.cache_hit_ratio,
            description=f"Target over {T.cache_hit_ratio:.0%}; alert under {TH.cache_hit_ratio_min:.0%}.",
            valueMin=0,
            valueMax=1,
        ),
        timeseries(
            "Throughput",
            [
                target(operations_rate(SEL, RATE, by=()), "adds + searches /s"),
                target(f"sum(rate({HTTP}_count{{{SEL}}}[{RATE}]))", "all requests /s", "B"),
            ],
            (8, 8, 8, 7),
            "reqps",
            threshold=T.throughput_ops_per_second,
            description=f"Target over {T.throughput_ops_per_second} operations/s (at saturation), "
            "summed over the replicas selected.",
        ),
        timeseries(
            "Error rate",
            [target(error_ratio(SEL, RATE, by=()), "5xx share")],
            (16, 8, 8, 7),
            "percentunit",
            threshold=T.error_ratio,
            description=f"Target under {T.error_ratio:.1%}; alert over {TH.error_ratio_max:.0%}.",
        ),
        timeseries(
            "Process memory (RSS)",
            [
                target(f"process_resident_memory_bytes{{{SEL}}}", "RSS {{instance}}"),
                target(f"jm_stm_bytes{{{SEL}}}", "STM {{instance}}", "B"),
            ],
            (0, 15, 12, 7),
            "bytes",
            threshold=T.stm_bytes,
            description=f"The short-term tier must stay under {T.stm_bytes // 2**20} MB.",
        ),
        stat(
            "Admission rejections",
            f"sum(rate(jm_admission_rejected_total{{{SEL}}}[{RATE}]))",
            (12, 15, 4, 7),
            "reqps",
            [Threshold("green", 0, 0.0), Threshold("red", 1, float(TH.admission_rejections_per_second))],
            description="Requests per second refused with 429/503 because the service is at capacity. Red: "
            "clients are being turned away; see Throughput and Event-loop lag (STM and caches) for why.",
        ),
        Table(
            title="Active alerts",
            dataSource=PROMETHEUS,
            gridPos=GridPos(h=7, w=8, x=16, y=15),
            targets=[target(f"sum by (alertname, severity) (ALERTS{{{ALERTS_SEL}}})", "{{alertname}}")],
            description="Alerts firing now (Prometheus ALERTS), by name and severity: the job's, and those "
            "about the replicas selected.",
        ),
        replica_throughput((0, 22, 12, 8)),
        replica_latency((12, 22, 12, 8)),
    ],
)
