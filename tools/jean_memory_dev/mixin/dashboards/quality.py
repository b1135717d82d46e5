"""Jean Memory / Retrieval quality and lifecycle: is retrieval still any good (the best match's similarity,
searches that find nothing), what the lifecycle does to the memories (updates, deduplicated adds, expiry,
forgotten users), the disk the data folder lives on, and the golden set's recall (the recall SLI).

Nothing here needs labels per user or tenant: quality is watched as a distribution over every search, so a
model that breaks (or is swapped for one whose vectors do not match the stored ones) shows as the median
falling away from its own baseline, which is what the retrieval-quality alert watches.
"""

from jean_memory_dev.mixin import boards
from jean_memory_dev.mixin.catalogue import Alert
from jean_memory_dev.mixin.dashboards.common import (
    PRODUCTION,
    RATE,
    SEL,
    SLO,
    TH,
    at_least,
    make_dashboard,
    quantiles,
    target,
    timeseries,
)

BASELINE = PRODUCTION.windows.baseline

dashboard = make_dashboard(
    boards.QUALITY,
    [
        timeseries(
            "Best-match similarity",
            [
                *quantiles("jm_search_top_score", qs=("0.1", "0.5", "0.9")),
                target(
                    f"{TH.retrieval_score_drop_ratio} * histogram_quantile(0.5, sum by (le) "
                    f"(rate(jm_search_top_score_bucket{{{SEL}}}[{BASELINE}])))",
                    f"alert line ({TH.retrieval_score_drop_ratio:g} x the {BASELINE} median)",
                    "D",
                ),
            ],
            (0, 0, 16, 8),
            "percentunit",
            description="Cosine similarity of each search's best result (1 is identical). The median falling "
            "under the alert line (a share of its own baseline median) means the model and the stored vectors "
            "no longer agree: a broken or swapped model, noise vectors.",
            valueMin=0,
            valueMax=1,
        ),
        timeseries(
            "Searches with no result",
            [
                target(
                    f"sum(rate(jm_search_empty_total{{{SEL}}}[{RATE}]))"
                    f" / sum(rate(jm_search_duration_seconds_count{{{SEL}}}[{RATE}]))",
                    "share of searches",
                )
            ],
            (16, 0, 8, 8),
            "percentunit",
            description="Users searching with no memory that matches (or none at all).",
            valueMin=0,
        ),
        timeseries(
            "Lifecycle operations",
            [
                target(f"sum(rate(jm_memory_updates_total{{{SEL}}}[{RATE}]))", "updated"),
                target(f"sum(rate(jm_memory_deduplicated_total{{{SEL}}}[{RATE}]))", "deduplicated adds", "B"),
                target(f"sum(rate(jm_memory_expired_total{{{SEL}}}[{RATE}]))", "expired", "C"),
                target(f"sum(rate(jm_memory_forgotten_total{{{SEL}}}[{RATE}]))", "forgotten with their user", "D"),
            ],
            (0, 8, 12, 8),
            "ops",
            description="Memories per second changed or removed by the lifecycle (PATCH, dedupe: true, "
            "expires_at, DELETE /v1/memories?user_id=).",
        ),
        timeseries(
            "Deduplicated share of adds",
            [
                target(
                    f"sum(rate(jm_memory_deduplicated_total{{{SEL}}}[{RATE}]))"
                    f" / sum(rate(jm_memory_creation_duration_seconds_count{{{SEL}}}[{RATE}]))",
                    "deduplicated / adds",
                )
            ],
            (12, 8, 12, 8),
            "percentunit",
            description="How much of what agents send is already known: junk build-up avoided.",
            valueMin=0,
        ),
        timeseries(
            "Disk free (data folder)",
            [target(f"jm_disk_free_bytes{{{SEL}}} / jm_disk_total_bytes{{{SEL}}}", "{{instance}}")],
            (0, 16, 12, 8),
            "percentunit",
            threshold=TH.disk_free_ratio_min,
            description="Free share of the filesystem holding JM_DATA_DIR (journal, embedded store): adds get "
            f"507 when it is full. Alerts: {Alert.DISK_ALMOST_FULL} (page), {Alert.DISK_FILLING_UP} (ticket).",
            valueMin=0,
            valueMax=1,
        ),
        timeseries(
            "Disk bytes free",
            [target(f"jm_disk_free_bytes{{{SEL}}}", "{{instance}}")],
            (12, 16, 12, 8),
            "bytes",
            description="Bytes free on the data folder's filesystem, by replica: with the share beside it, how "
            "much room and how fast it goes. Free space by deleting old data or growing the volume before adds "
            "get 507.",
        ),
        timeseries(
            "Data files damaged",
            [target(f"jm_data_file_damaged{{{SEL}}}", "{{instance}} {{file}}")],
            (0, 24, 12, 6),
            "none",
            description="1 when an integrity check found the journal or the store damaged (a large store is checked "
            f"in the background after the start; the replica then leaves readiness). Alert: {Alert.DATA_FILE_DAMAGED}.",
            valueMin=0,
            valueMax=1,
        ),
        timeseries(
            "Golden-set recall",
            [
                target(
                    f"sum(rate(jm_golden_hits_total{{{SEL}}}[{RATE}]))"
                    f" / sum(rate(jm_golden_expected_total{{{SEL}}}[{RATE}]))",
                    "recall@k (all replicas)",
                ),
                target(
                    f"sum by (instance) (rate(jm_golden_hits_total{{{SEL}}}[{RATE}])) "
                    f"/ sum by (instance) (rate(jm_golden_expected_total{{{SEL}}}[{RATE}]))",
                    "{{instance}}",
                    "B",
                ),
            ],
            (0, 30, 12, 8),
            "percentunit",
            description="Share of the golden set's expected memories (JM_GOLDEN_SET) found in their search's top "
            f"JM_GOLDEN_K, replayed by the service every JM_GOLDEN_INTERVAL_S: the recall SLI (objective "
            f"{SLO.recall.objective:.0%}, the dashed line). Alert: {Alert.RECALL_BUDGET_BURN}. Empty: no golden set, "
            "or no replay in the window.",
            thresholds=at_least(SLO.recall.objective),
            thresholdsStyleMode="dashed",
            valueMin=0,
            valueMax=1,
        ),
        timeseries(
            "Golden-set searches",
            [target(f"sum by (result) (rate(jm_golden_queries_total{{{SEL}}}[{RATE}]))", "{{result}}")],
            (12, 30, 12, 8),
            "reqps",
            description="Golden searches replayed per second, by outcome: `error` ones (overload, an outage) are "
            "left out of recall, so a replay that fails shows here, not as a recall drop.",
            valueMin=0,
        ),
        timeseries(
            "Golden-set replay age",
            [target(f"time() - (max(jm_golden_last_run_timestamp_seconds{{{SEL}}}) > 0)", "since the last replay")],
            (0, 38, 12, 6),
            "s",
            description="Seconds since a replica last finished replaying the golden set: should stay under "
            "JM_GOLDEN_INTERVAL_S plus one replay's duration (jm_golden_run_duration_seconds).",
            valueMin=0,
        ),
    ],
)
