"""Jean Memory / PostgreSQL: the cluster's store (postgres exporter, one per server: primary and standby).

One exporter per server, so `instance` names a server's exporter; which one is the primary is read from
`pg_replication_is_replica` (it changes at a failover). Another job's series: the replica filter does not
apply to them."""

from jean_memory_dev.mixin import boards
from jean_memory_dev.mixin.dashboards.common import CONFIG, RATE, at_least, make_dashboard, stat, target, timeseries

INFRA = CONFIG.infrastructure
PG = f'job="{INFRA.postgres_job}"'

dashboard = make_dashboard(
    boards.POSTGRES,
    [
        timeseries(
            "Servers up",
            [
                target(f"pg_up{{{PG}}}", "up {{instance}}"),
                target(f"pg_replication_is_replica{{{PG}}}", "standby {{instance}}", "B"),
            ],
            (0, 0, 12, 8),
            "short",
            description="1 while the exporter reaches its server (pg_up), and whether that server is a standby. "
            "A synchronous standby down blocks every commit on the primary.",
            valueMin=0,
            valueMax=1,
        ),
        stat(
            "Standbys streaming",
            f"count(pg_stat_replication_pg_wal_lsn_diff{{{PG}}}) or vector(0)",
            (12, 0, 12, 8),
            "short",
            at_least(1),
            description="Standbys the primary streams to (rows of pg_stat_replication). 0 with a standby "
            "configured means commits wait (synchronous replication) or the standby falls behind.",
        ),
        timeseries(
            "Connections vs max_connections",
            [
                target(
                    f"sum by (instance) (pg_stat_activity_count{{{PG}}})\n/ on (instance)\n"
                    f"max by (instance) (pg_settings_max_connections{{{PG}}})",
                    "{{instance}}",
                )
            ],
            (0, 8, 12, 8),
            "percentunit",
            threshold=INFRA.postgres_connections_ratio_max,
            description="Client connections over max_connections. Over "
            f"{INFRA.postgres_connections_ratio_max:.0%} files a ticket; at 100 % new connections fail.",
            valueMin=0,
        ),
        timeseries(
            "Replication lag",
            [
                target(f"pg_replication_lag_seconds{{{PG}}}", "replay lag {{instance}}"),
                target(
                    f"pg_stat_replication_pg_wal_lsn_diff{{{PG}}}",
                    "bytes behind {{application_name}} (primary's view)",
                    "B",
                ),
            ],
            (12, 8, 12, 8),
            "s",
            threshold=INFRA.postgres_replication_lag_seconds,
            description="On a standby: seconds since its last replayed transaction while WAL waits to be replayed "
            f"(0 when caught up); over {INFRA.postgres_replication_lag_seconds:g} s files a ticket. On the "
            "primary: bytes each standby has yet to replay.",
        ),
        timeseries(
            "Commits and rollbacks",
            [
                target(
                    f"sum by (instance) (rate(pg_stat_database_xact_commit{{{PG}}}[{RATE}]))", "commits {{instance}}"
                ),
                target(
                    f"sum by (instance) (rate(pg_stat_database_xact_rollback{{{PG}}}[{RATE}]))",
                    "rollbacks {{instance}}",
                    "B",
                ),
            ],
            (0, 16, 8, 8),
            "ops",
            description="Transactions per second, all databases: the replicas' group commits land here.",
        ),
        timeseries(
            "Locks",
            [target(f"sum by (instance, mode) (pg_locks_count{{{PG}}})", "{{mode}} {{instance}}")],
            (8, 16, 8, 8),
            "short",
            description="Locks held, by mode: a climb of exclusive locks with flat commits is contention.",
        ),
        timeseries(
            "Database size",
            [target(f"sum by (instance) (pg_database_size_bytes{{{PG}}})", "{{instance}}")],
            (16, 16, 8, 8),
            "bytes",
            description="Bytes on disk of every database; with the Host board's Filesystem free, how long is left.",
        ),
    ],
    tags=("jean-memory", "postgres"),
)
