"""Jean Memory / Host: the machine under the service (node exporter): filesystems, memory, CPU, disks, network.

The node exporter's series are another job's, not a replica's: the replica filter does not apply to them."""

from jean_memory_dev.mixin import boards
from jean_memory_dev.mixin.dashboards.common import CONFIG, RATE, make_dashboard, target, timeseries

INFRA = CONFIG.infrastructure
NODE = f'job="{INFRA.node_job}"'
FS = f'{NODE}, fstype!="", mountpoint!~"/(dev|proc|sys|run)(/.*)?"'

dashboard = make_dashboard(
    boards.HOST,
    [
        timeseries(
            "Filesystem free",
            [
                target(
                    f"node_filesystem_avail_bytes{{{FS}}} / node_filesystem_size_bytes{{{FS}}}",
                    "{{instance}} {{mountpoint}}",
                )
            ],
            (0, 0, 12, 8),
            "percentunit",
            threshold=INFRA.host_fs_free_ratio_min,
            description="Share of each filesystem still available to unprivileged writers (PostgreSQL, "
            f"Prometheus, the service). Under {INFRA.host_fs_free_ratio_min:.0%} pages; under "
            f"{INFRA.host_fs_fill_free_ratio_max:.0%} and falling toward 0 files a ticket.",
            valueMin=0,
            valueMax=1,
        ),
        timeseries(
            "Memory available",
            [
                target(
                    f"node_memory_MemAvailable_bytes{{{NODE}}} / node_memory_MemTotal_bytes{{{NODE}}}",
                    "{{instance}}",
                )
            ],
            (12, 0, 12, 8),
            "percentunit",
            threshold=INFRA.host_memory_available_ratio_min,
            description="MemAvailable over MemTotal: what the kernel can give without swapping. Under "
            f"{INFRA.host_memory_available_ratio_min:.0%} files a ticket.",
            valueMin=0,
            valueMax=1,
        ),
        timeseries(
            "CPU busy",
            [
                target(
                    f'1 - avg by (instance) (rate(node_cpu_seconds_total{{{NODE}, mode="idle"}}[{RATE}]))',
                    "{{instance}}",
                ),
                target(f"node_load1{{{NODE}}}", "load1 {{instance}}", "B"),
            ],
            (0, 8, 12, 8),
            "percentunit",
            description="Share of CPU time not idle, all cores averaged; the 1-minute load beside it (a number of "
            "runnable tasks, not a share).",
        ),
        timeseries(
            "Disk I/O",
            [
                target(f"sum by (instance) (rate(node_disk_read_bytes_total{{{NODE}}}[{RATE}]))", "read {{instance}}"),
                target(
                    f"sum by (instance) (rate(node_disk_written_bytes_total{{{NODE}}}[{RATE}]))",
                    "written {{instance}}",
                    "B",
                ),
            ],
            (12, 8, 12, 8),
            "Bps",
            description="Bytes read and written per second, all disks: a filesystem filling up shows here first.",
        ),
        timeseries(
            "Network",
            [
                target(
                    f'sum by (instance) (rate(node_network_receive_bytes_total{{{NODE}, device!="lo"}}[{RATE}]))',
                    "received {{instance}}",
                ),
                target(
                    f'sum by (instance) (rate(node_network_transmit_bytes_total{{{NODE}, device!="lo"}}[{RATE}]))',
                    "sent {{instance}}",
                    "B",
                ),
            ],
            (0, 16, 24, 8),
            "Bps",
            description="Bytes per second over every interface but loopback.",
        ),
    ],
    tags=("jean-memory", "host"),
)
