"""Which drill raises each alert of the catalogue (`coverage()`), and why the others cannot be drilled on this
machine: read by the docs' table and by a test that checks none is left out. Its own module, above the
faults and the runs it names.
"""

from __future__ import annotations

from dataclasses import dataclass

from jean_memory_dev.drill.faults import cluster_faults, deadman, full_embedded, quick
from jean_memory_dev.drill.infrafaults import infrastructure
from jean_memory_dev.mixin import DEADMAN_ALERT, Alert


@dataclass(frozen=True)
class Covered:
    """How one alert of the catalogue is drilled: by which run and fault (or why it cannot be)."""

    alert: str
    runs: tuple[str, ...]
    why_not: str = ""


#: Drills the cluster run performs itself (see `cluster.py`), by the alerts they expect.
CLUSTER_OWN = {
    Alert.REPLICA_DOWN.value: (
        "quick: replica_killed (ticket; kill -9 under load, the load's errors within the SLO budget)",
        "full: replica_maintenance (silenced: not delivered)",
    ),
    Alert.TOO_FEW_REPLICAS_READY.value: (
        "quick: two_replicas_killed (page; one Alertmanager and one Prometheus killed with kill -9 meanwhile)",
    ),
}


#: Alerts no drill raises on this machine, and what covers them instead.
NOT_DRILLED = {
    Alert.HOST_DISK_ALMOST_FULL.value: "needs a host filesystem nearly full (the drill's is the shared machine's "
    "disk); tests/cluster/test_exporters.py fills a real 8 MB tmpfs under the node exporter and sees it fire in a "
    "real Prometheus, and promtool tests the rule",
    Alert.HOST_DISK_FILLING_UP.value: "needs hours of steady growth toward a full filesystem; promtool tests the rule "
    "on a falling series, the Host dashboard draws node_filesystem_avail_bytes",
    Alert.HOST_MEMORY_PRESSURE.value: "needs the shared machine's memory nearly exhausted; promtool tests the rule, "
    "tests/cluster/test_exporters.py checks the node exporter exposes the series it reads",
    Alert.POSTGRES_REPLICATION_LAG.value: "needs a standby over 30 s behind; tests/cluster/test_exporters.py pauses a "
    "real standby's replay while the primary commits and sees pg_replication_lag_seconds grow (and return to 0), "
    "and promtool tests the rule",
    Alert.RULE_EVALUATION_FAILURES.value: "tests/stack/test_watchers.py: a rule failing every evaluation "
    "(many-to-many matching) loaded into the HA monitoring fires it",
    Alert.NOTIFICATIONS_FAILING.value: "tests/stack/test_watchers.py: the receiver killed under the HA monitoring "
    "fires it (the Watchdog's notifications fail)",
    Alert.CONFIG_RELOAD_FAILED.value: "tests/stack/test_watchers.py: a rule file that does not parse, reloaded "
    "(SIGHUP), fires it",
    Alert.ALERTMANAGER_MEMBERS_MISSING.value: "tests/stack/test_watchers.py: one of three Alertmanagers killed fires "
    "it on the two left (the quick cluster drill's two_replicas_killed raises it too, as a ticket)",
    Alert.SCRAPE_TARGET_DOWN.value: "tests/stack/test_watchers.py: the killed Alertmanager's target fires it",
    Alert.PROMETHEUS_NOT_INGESTING.value: "needs a Prometheus whose storage refuses samples (a full or read-only "
    "disk); promtool tests the rule on a flat counter",
    Alert.DISK_ALMOST_FULL.value: "needs the data folder on a nearly full filesystem (the drill's is the host's "
    "disk); tests/hostile/test_full_disk.py fills a real 8 MB tmpfs under the service (507, recovery, "
    "jm_disk_free_bytes) and promtool tests the rule",
    Alert.DISK_FILLING_UP.value: "needs hours of steady growth toward a full filesystem; promtool tests the rule "
    "on a falling series, the quality dashboard draws jm_disk_free_bytes",
    Alert.ERROR_BUDGET_EXHAUSTED.value: "fires in the drill after the error faults have spent the fast rules' "
    "10-minute period's budget, but clears only once the period has passed them (the drill does not wait a "
    "period); promtool tests the rule and the period's recordings (budget left, metadata)",
    Alert.DATA_FILE_DAMAGED.value: "needs a damaged store large enough to be checked after the start; "
    "tests/hostile/test_corruption.py damages a real store's page and sees the background check set "
    "jm_data_file_damaged and /readyz answer 503, and promtool tests the rule",
}


def coverage() -> list[Covered]:
    """Every alert of the catalogue (and the dead man's switch's page), with the drills that raise it."""
    runs: dict[str, list[str]] = {a.value: [] for a in Alert}
    runs[DEADMAN_ALERT] = []
    for tag, faults in (
        ("quick", quick()),
        ("full", full_embedded()),
        ("full", (*cluster_faults(), *infrastructure())),
    ):
        for fault in faults:
            for e in fault.expect:
                runs[e.name].append(f"{tag}: {fault.name} ({e.severity.route})")
    runs[DEADMAN_ALERT].append(f"quick: {deadman().name} (page)")
    runs[Alert.WATCHDOG.value].append("quick: every run waits for it; prometheus_gone stops it")
    for name, drills in CLUSTER_OWN.items():
        runs[name] += drills
    return [Covered(name, tuple(found), NOT_DRILLED.get(name, "")) for name, found in runs.items()]
