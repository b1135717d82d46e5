"""Jean Memory / Cluster: the replicas over one PostgreSQL, each scraped as its own `instance`.

Top to bottom, the questions on-call asks: are enough replicas up and ready; is the load spread and
is one replica slow or failing; do replicas see each other's writes (every read checks its user's
version in PostgreSQL first, change notifications invalidate ahead of it); does every memory get its
vector (the shared embedding queue, claims under a lease taken over from dead replicas); is PostgreSQL
keeping up (pool, group commits). Thresholds are `cluster:` in alerts/thresholds.yaml.

The queue's depth and oldest age are read from PostgreSQL by every replica's janitor (every 5 s), so
every replica reports the same queue: the panels take the max, not the sum.
"""

from jean_memory_dev.mixin import boards
from jean_memory_dev.mixin.catalogue import Alert
from jean_memory_dev.mixin.dashboards.common import (
    CLUSTER,
    INSTANCE,
    RATE,
    SEL,
    TH,
    T,
    at_least,
    make_dashboard,
    quantiles,
    replica_latency,
    replica_throughput,
    row,
    stat,
    target,
    timeseries,
)
from jean_memory_dev.mixin.promql import error_ratio

BY_REPLICA = f"{{{{{INSTANCE}}}}}"
READY = CLUSTER.min_ready_replicas

dashboard = make_dashboard(
    boards.CLUSTER,
    [
        row("Replicas", 0),
        stat(
            "Replicas ready",
            f"sum(jm_ready{{{SEL}}})",
            (0, 1, 4, 7),
            "none",
            at_least(READY),
            description=f"Replicas answering /readyz (jm_ready == 1). Under {READY} in cluster mode pages "
            f"({Alert.TOO_FEW_REPLICAS_READY}).",
        ),
        stat(
            "Replicas up",
            f"sum(up{{{SEL}}})",
            (4, 1, 4, 7),
            "none",
            at_least(READY),
            description="Replicas whose scrape succeeds; one down while another is up files a ticket "
            f"({Alert.REPLICA_DOWN}), none up pages ({Alert.DOWN}).",
        ),
        timeseries(
            "Replicas: expected, up, ready",
            [
                target(f"count(up{{{SEL}}})", "expected (scrape targets)"),
                target(f"sum(up{{{SEL}}})", "up", "B"),
                target(f"sum(jm_ready{{{SEL}}})", "ready", "C"),
            ],
            (8, 1, 8, 7),
            "none",
            threshold=READY,
            description=f"Ready under the line ({READY}): one more loss and the cluster cannot serve. A replica is "
            "not ready while starting, draining or cut off from PostgreSQL.",
        ),
        timeseries(
            "Up and ready by replica",
            [
                target(f"up{{{SEL}}}", f"up {BY_REPLICA}"),
                target(f"jm_ready{{{SEL}}}", f"ready {BY_REPLICA}", "B"),
            ],
            (16, 1, 8, 7),
            "none",
            description="Per replica: 1 while its scrape succeeds (up) and while it is ready (jm_ready).",
            valueMin=0,
            valueMax=1,
        ),
        row("Traffic by replica", 8),
        replica_throughput((0, 9, 8, 8)),
        replica_latency((8, 9, 8, 8)),
        timeseries(
            "Errors by replica",
            [target(error_ratio(SEL, RATE, by=(INSTANCE,)), f"5xx share {BY_REPLICA}")],
            (16, 9, 8, 8),
            "percentunit",
            threshold=TH.error_ratio_max,
            description="5xx share by replica: a replica cut off from PostgreSQL answers 503 while the others serve.",
        ),
        row("Coherence", 17),
        timeseries(
            "Version checks by result",
            [
                target(
                    f"sum by (result) (rate(jm_cluster_version_checks_total{{{SEL}}}[{RATE}]))",
                    "{{result}}",
                )
            ],
            (0, 18, 8, 8),
            "ops",
            description="Every read checks its user's version in PostgreSQL first (batched): current (served from "
            "this replica's copy), behind (caught up first), cold (loaded first).",
        ),
        timeseries(
            "Catch-ups by kind",
            [target(f"sum by (kind) (rate(jm_cluster_catchups_total{{{SEL}}}[{RATE}]))", "{{kind}}")],
            (8, 18, 8, 8),
            "ops",
            description="Resident users brought up to date from PostgreSQL: incremental (the changes since its "
            "version) or full (a reload, when tombstones it needed were purged).",
        ),
        timeseries(
            "Invalidations",
            [
                target(
                    f"sum by ({INSTANCE}) (rate(jm_cluster_invalidations_total{{{SEL}}}[{RATE}]))",
                    f"invalidations/s {BY_REPLICA}",
                )
            ],
            (16, 18, 8, 8),
            "ops",
            description="Change notifications (LISTEN/NOTIFY) that found the user resident on this replica.",
        ),
        timeseries(
            "Invalidation lag",
            quantiles("jm_cluster_invalidation_lag_seconds", qs=("0.5", "0.99")),
            (0, 26, 6, 8),
            "s",
            threshold=CLUSTER.invalidation_lag_p99_seconds,
            description="From a commit on any replica to its change notification here (this replica's clock minus "
            f"PostgreSQL's). p99 over {CLUSTER.invalidation_lag_p99_seconds:g} s warns "
            f"({Alert.COHERENCE_LAG_HIGH}); reads stay correct, they catch up first.",
        ),
        timeseries(
            "Version check duration",
            quantiles("jm_cluster_version_check_duration_seconds", qs=("0.5", "0.99")),
            (6, 26, 6, 8),
            "s",
            threshold=T.hot_search_p99_seconds,
            description="One batched version check in PostgreSQL: every read waits for one, so it counts against "
            f"the {T.hot_search_p99_seconds * 1000:g} ms hot-search target.",
        ),
        timeseries(
            "Own commits into the local copy",
            [target(f"sum by (outcome) (rate(jm_cluster_local_applies_total{{{SEL}}}[{RATE}]))", "{{outcome}}")],
            (12, 26, 6, 8),
            "ops",
            description="This replica's own group commits, per user: applied to its copy (the copy was one version "
            "behind), or skipped because a catch-up had brought them already (newer) or other replicas' changes "
            "came between (behind: the next catch-up brings all of it). A copy only moves forward: skipping is "
            "how a late result is kept from overwriting a newer copy.",
        ),
        timeseries(
            "Vectors refused as stale",
            [
                target(
                    f"sum by ({INSTANCE}) (rate(jm_cluster_vectors_refused_total{{{SEL}}}[{RATE}]))",
                    f"refused/s {BY_REPLICA}",
                )
            ],
            (18, 26, 6, 8),
            "ops",
            description="Vectors PostgreSQL would not store because their row no longer holds the text they were "
            "computed from (updated, deleted or forgotten meanwhile). Expected under concurrent updates of one "
            "memory; each refusal is a stale vector kept off a newer text.",
        ),
        row("Shared embedding queue", 34),
        timeseries(
            "Embedding queue",
            [target(f"max by (state) (jm_cluster_embed_queue{{{SEL}}})", "{{state}}")],
            (0, 35, 8, 8),
            "short",
            description="Memories in PostgreSQL waiting for a vector: claimed (a live replica's lease) or "
            "unclaimed (waiting for a janitor). Every replica reports the same queue.",
        ),
        timeseries(
            "Embedding queue oldest age",
            [target(f"max(jm_cluster_embed_queue_oldest_age_seconds{{{SEL}}})", "oldest")],
            (8, 35, 8, 8),
            "s",
            threshold=CLUSTER.embed_queue_oldest_seconds,
            description="Age of the oldest memory without a vector. Over "
            f"{CLUSTER.embed_queue_oldest_seconds:g} s warns ({Alert.EMBED_QUEUE_STALE}).",
        ),
        timeseries(
            "Embedding claims by origin",
            [
                target(
                    f"sum by ({INSTANCE}, origin) (rate(jm_cluster_embed_claims_total{{{SEL}}}[{RATE}]))",
                    f"{{{{origin}}}} {BY_REPLICA}",
                )
            ],
            (16, 35, 8, 8),
            "ops",
            description="Memories claimed for embedding: own (this replica's writes) or orphan (taken over after "
            "another replica's lease expired).",
        ),
        row("PostgreSQL", 43),
        timeseries(
            "PostgreSQL pool connections",
            [target(f"jm_cluster_pg_pool_connections{{{SEL}}}", f"{{{{state}}}} {BY_REPLICA}")],
            (0, 44, 8, 8),
            "short",
            description="Each replica's pool: busy, idle, and its max. Busy at max means requests queue for a "
            "connection.",
        ),
        timeseries(
            "Commit latency",
            quantiles("jm_cluster_commit_duration_seconds", qs=("0.5", "0.99")),
            (8, 44, 8, 8),
            "s",
            threshold=TH.creation_p99_seconds,
            description="One group commit to PostgreSQL. A write is acknowledged only after its commit, so this "
            f"bounds memory creation (p99 alert at {TH.creation_p99_seconds * 1000:g} ms).",
        ),
        timeseries(
            "Commit group size",
            [
                target(
                    f"sum by ({INSTANCE}) (rate(jm_cluster_commit_group_size_sum{{{SEL}}}[{RATE}]))\n/\n"
                    f"sum by ({INSTANCE}) (rate(jm_cluster_commit_group_size_count{{{SEL}}}[{RATE}]))",
                    f"mean operations per commit {BY_REPLICA}",
                ),
                target(
                    f"sum by ({INSTANCE}) (rate(jm_cluster_commit_group_size_count{{{SEL}}}[{RATE}]))",
                    f"commits/s {BY_REPLICA}",
                    "B",
                ),
            ],
            (16, 44, 8, 8),
            "short",
            description="Write operations sharing one commit: under load many acknowledgements share a round trip.",
        ),
    ],
    tags=("jean-memory", "cluster"),
)
