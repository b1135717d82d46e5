"""The exporters from Debian against the real things they watch, with a real Prometheus on the drill's fast
rules: each fault the infrastructure alerts are for is caused for real and the alert must fire (and the
metric it reads must move), then clear. promtool proves each rule's logic on chosen series
(alerts/tests/jean-memory.test.yml); these prove the series exist, carry the labels the rules select on,
and move under the fault.

- PostgreSQL with a synchronous standby, one postgres exporter per server: connections held open past
  the threshold (JeanMemoryPostgresConnectionsNearLimit), the standby's replay paused while the primary
  writes (pg_replication_lag_seconds grows), the standby stopped (JeanMemoryPostgresDown).
- HAProxy in front of a real service, probed by the blackbox exporter: HAProxy stopped
  (JeanMemoryProbeFailing), while the replica's own probe stays up.
- The node exporter on a real 8 MB tmpfs filled to the brim (JeanMemoryHostDiskAlmostFull).
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from jean_memory_dev.exporters import BlackboxExporter, NodeExporter, PostgresExporter
from jean_memory_dev.mixin import INFRASTRUCTURE_METRICS, Alert, load
from jean_memory_dev.monitoringconfig import render_monitoring
from jean_memory_dev.pgconnections import HeldConnections
from jean_memory_dev.processes import (
    AlertmanagerServer,
    HaproxyProcess,
    PrometheusServer,
    ReplicatedPostgres,
    ServiceProcess,
    free_port,
)
from tests.helpers import firing_alerts, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

INFRA = load().infrastructure


def firing(prom: PrometheusServer, alert: Alert, **labels: str) -> list[dict[str, Any]]:
    return firing_alerts(prom, alert, **labels)


def value(prom: PrometheusServer, expr: str) -> float | None:
    result = prom.query(expr)
    return float(result[0]["value"][1]) if result else None  # type: ignore[index]


def prometheus(folder: Path, targets: dict[str, str], alertmanager_port: int | None = None) -> PrometheusServer:
    """A Prometheus on the drill's fast rules (1 s scrapes and evaluations), scraping `targets`."""
    config = folder / "config"
    render_monitoring(
        config,
        fast=True,
        prometheus_port=(port := free_port()),
        alertmanager_port=alertmanager_port or free_port(),
        receiver_port=free_port(),
        targets=targets,
    )
    return PrometheusServer(config / "prometheus.yml", folder / "prometheus", port).start()


@pytest.fixture
def cluster_pg(tmp_path: Path) -> Iterator[tuple[ReplicatedPostgres, PostgresExporter, PostgresExporter]]:
    pg = ReplicatedPostgres()
    pg.primary.settings["max_connections"] = "30"  # fewer connections to hold; the standby's 100 is >= it
    pg.start()
    exporters: list[PostgresExporter] = []
    try:
        for name, server in (("primary", pg.primary), ("standby", pg.standby)):
            url = f"postgresql://postgres@127.0.0.1:{server.port}/postgres"
            exporters.append(PostgresExporter(tmp_path / f"pg-exporter-{name}", url).start())
        yield pg, exporters[0], exporters[1]
    finally:
        for exporter in exporters:
            exporter.stop()
        pg.destroy()


def test_every_series_the_infrastructure_alerts_read_is_exposed(
    cluster_pg: tuple[ReplicatedPostgres, PostgresExporter, PostgresExporter], tmp_path: Path
) -> None:
    """INFRASTRUCTURE_METRICS (what the metric-name check accepts besides the service's registry) against
    the real exporters, Prometheus and Alertmanager: a name the rules read that nothing exposes fails here."""
    _, primary, standby = cluster_pg
    node = NodeExporter(tmp_path / "node").start()
    probe = BlackboxExporter(tmp_path / "blackbox").start()
    am_port = free_port()
    prom = prometheus(tmp_path / "prom", {}, alertmanager_port=am_port)
    am = AlertmanagerServer(tmp_path / "prom" / "config" / "alertmanager.yml", tmp_path / "am", am_port, free_port())
    try:
        am.start()
        # Series with labels appear once used: samples appended, an Alertmanager to notify (the Watchdog).
        up = f'up{{job="{INFRA.alertmanager_job}"}} == 1'
        wait_for(lambda: prom.query(up) and prom.query("ALERTS"), 30, "Alertmanager scraped, alerts evaluated")
        wait_for(lambda: "prometheus_notifications_errors_total{" in httpx.get(f"{prom.url}/metrics").text, 30, "sent")
        exposed = primary.metrics() + standby.metrics() + node.metrics() + httpx.get(f"{prom.url}/metrics").text
        target = f"127.0.0.1:{primary.port}"
        exposed += httpx.get(f"{probe.url}/probe", params={"module": "http_readyz", "target": target}).text
        exposed += httpx.get(f"{am.url}/metrics").text
    finally:
        am.stop()
        prom.stop()
        node.stop()
        probe.stop()
    names = {line.split("{")[0].split(" ")[0] for line in exposed.splitlines() if line and not line.startswith("#")}
    missing = [m for m in INFRASTRUCTURE_METRICS if m not in names]
    assert not missing, f"read by the rules or dashboards, exposed by nothing: {missing}"


def test_postgres_faults_move_the_series_and_fire_the_alerts(
    cluster_pg: tuple[ReplicatedPostgres, PostgresExporter, PostgresExporter], tmp_path: Path
) -> None:
    pg, primary, standby = cluster_pg
    prom = prometheus(tmp_path, {"POSTGRES_EXPORTER_TARGETS": f"{primary.target},{standby.target}"})
    job = f'job="{INFRA.postgres_job}"'
    try:
        wait_for(lambda: value(prom, f"count(pg_up{{{job}}} == 1)") == 2, 30, "both servers scraped")
        assert value(prom, f'pg_replication_is_replica{{{job}, instance="127.0.0.1:{standby.port}"}}') == 1

        # Connections held open (a leaking client) past the threshold: the ticket fires for the primary only.
        held = HeldConnections(pg.primary.url).fill_to(INFRA.postgres_connections_ratio_max + 0.1)
        try:
            alerts = wait_for(
                lambda: firing(prom, Alert.POSTGRES_CONNECTIONS_NEAR_LIMIT), 40, "connections near the limit"
            )
            assert [a["metric"]["instance"] for a in alerts] == [f"127.0.0.1:{primary.port}"]
        finally:
            held.close()
        wait_for(lambda: not firing(prom, Alert.POSTGRES_CONNECTIONS_NEAR_LIMIT), 40, "connections alert resolved")

        # The standby's replay paused while the primary commits (synchronous commit waits for the standby's
        # flush, not its replay): its lag grows from 0; resumed, it returns to 0.
        lag = f'pg_replication_lag_seconds{{{job}, instance="127.0.0.1:{standby.port}"}}'
        pg.primary.psql("CREATE TABLE drill_lag (at timestamptz)")
        pg.primary.psql("INSERT INTO drill_lag VALUES (now())")  # the lag is read from the last replayed commit:
        replayed = "SELECT pg_last_xact_replay_timestamp() IS NOT NULL"  # a fresh standby has none
        wait_for(lambda: pg.standby.psql(replayed) == "t", 30, "the standby replays a commit")
        pg.standby.psql("SELECT pg_wal_replay_pause()")
        try:
            deadline = time.monotonic() + 40
            while (value(prom, lag) or 0) < 3 and time.monotonic() < deadline:
                pg.primary.psql("INSERT INTO drill_lag VALUES (now())")
                time.sleep(0.5)
            assert (value(prom, lag) or 0) >= 3, "replication lag did not grow while replay was paused"
        finally:
            pg.standby.psql("SELECT pg_wal_replay_resume()")
        wait_for(lambda: value(prom, lag) == 0, 30, "replication lag back to 0 after resuming")

        # The standby stopped: its exporter answers pg_up 0, and the page fires for it.
        pg.standby.stop()
        alerts = wait_for(lambda: firing(prom, Alert.POSTGRES_DOWN), 40, "PostgresDown for the stopped standby")
        assert [a["metric"]["instance"] for a in alerts] == [f"127.0.0.1:{standby.port}"]
        pg.standby.start()
        wait_for(lambda: not firing(prom, Alert.POSTGRES_DOWN), 40, "PostgresDown resolved")
    finally:
        prom.stop()


def test_probe_through_haproxy_fails_when_haproxy_stops(tmp_path: Path) -> None:
    service = ServiceProcess(tmp_path / "service", env={"JM_EMBEDDER": "hash"}, log_path=tmp_path / "service.log")
    service.start()
    haproxy = HaproxyProcess(tmp_path / "haproxy", {"replica-1": service.port})
    probe = BlackboxExporter(tmp_path / "blackbox")
    prom: PrometheusServer | None = None
    try:
        haproxy.start()
        haproxy.wait_servers("UP")
        probe.start()
        prom = prometheus(
            tmp_path / "prom",
            {
                "PROBE_FRONT_TARGETS": f"'127.0.0.1:{haproxy.port}'",
                "PROBE_REPLICA_TARGETS": f"'127.0.0.1:{service.port}'",
                "BLACKBOX_EXPORTER_ADDR": f"127.0.0.1:{probe.port}",
            },
        )
        job = f'job="{INFRA.probe_job}"'
        front = f"http://127.0.0.1:{haproxy.port}/readyz"
        replica = f"http://127.0.0.1:{service.port}/readyz"
        ok = f"count(probe_success{{{job}}} == 1)"
        wait_for(lambda: value(prom, ok) == 2, 30, "both probes succeed")  # type: ignore[union-attr]

        haproxy.stop()
        alerts = wait_for(lambda: firing(prom, Alert.PROBE_FAILING), 40, "ProbeFailing")  # type: ignore[arg-type]
        assert [(a["metric"]["instance"], a["metric"]["role"]) for a in alerts] == [(front, INFRA.probe_front_role)]
        assert value(prom, f'probe_success{{{job}, instance="{replica}"}}') == 1, "the replica still answers"

        haproxy.start()
        wait_for(lambda: not firing(prom, Alert.PROBE_FAILING), 40, "ProbeFailing resolved")  # type: ignore[arg-type]
    finally:
        if prom:
            prom.stop()
        probe.stop()
        haproxy.stop()
        service.stop()


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a tmpfs needs root")
def test_a_full_filesystem_fires_the_host_disk_page(tmp_path: Path) -> None:
    mount = tmp_path / "disk"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(mount)], check=True)
    node = NodeExporter(tmp_path / "node")
    prom: PrometheusServer | None = None
    try:
        node.start()
        prom = prometheus(tmp_path / "prom", {"NODE_EXPORTER_TARGETS": node.target})
        free = f'node_filesystem_avail_bytes{{job="{INFRA.node_job}", mountpoint="{mount}"}}'
        wait_for(lambda: value(prom, free), 30, "the tmpfs is scraped")  # type: ignore[arg-type]
        assert not firing(prom, Alert.HOST_DISK_ALMOST_FULL, mountpoint=str(mount))

        filler = mount / "filler"
        with filler.open("wb") as f:  # until the filesystem refuses
            try:
                while True:
                    f.write(b"\0" * 65536)
                    f.flush()
            except OSError:
                pass
        alerts = wait_for(
            lambda: firing(prom, Alert.HOST_DISK_ALMOST_FULL, mountpoint=str(mount)),  # type: ignore[arg-type]
            40,
            "HostDiskAlmostFull for the full tmpfs",
        )
        assert alerts[0]["metric"]["fstype"] == "tmpfs"
        filler.unlink()
        wait_for(
            lambda: not firing(prom, Alert.HOST_DISK_ALMOST_FULL, mountpoint=str(mount)),  # type: ignore[arg-type]
            40,
            "HostDiskAlmostFull resolved",
        )
    finally:
        if prom:
            prom.stop()
        node.stop()
        if subprocess.run(["umount", str(mount)], check=False).returncode != 0:
            subprocess.run(["umount", "-l", str(mount)], check=False)


def test_the_native_cluster_runs_the_exporters_and_their_boards_draw(tmp_path: Path) -> None:
    """`scripts/cluster up --standby` as a class: the node, postgres (primary and standby) and blackbox
    exporters scraped, and every query of their boards returning data, as Grafana sends it (variables on
    All), the way the drill checks the other boards."""
    import json

    from jean_memory_dev.cluster import ClusterPorts, ClusterStack
    from jean_memory_dev.drill.dashcheck import draws, sent
    from jean_memory_dev.mixin.boards import EXPORTER_BOARDS
    from jean_memory_dev.mixin.layout import DASHBOARDS_JSON

    stack = ClusterStack(
        tmp_path,
        replicas=1,
        env={"JM_EMBEDDER": "hash"},
        fast=True,
        ports=ClusterPorts.free(),
        standby=True,
        exporters=True,
    )
    stack.up()
    try:
        jobs = (INFRA.node_job, INFRA.postgres_job, INFRA.probe_job)
        up = f'count by (job) (up{{job=~"{"|".join(jobs)}"}} == 1)'
        wanted = {INFRA.node_job: 1, INFRA.postgres_job: 2, INFRA.probe_job: 2}  # probes: HAProxy, the replica

        def scraped() -> bool:
            got = {r["metric"]["job"]: int(r["value"][1]) for r in stack.prometheus.query(up)}  # type: ignore[index]
            return got == wanted

        wait_for(scraped, 60, "every exporter scraped")
        stack.postgres.psql("CREATE TABLE boards (a int); INSERT INTO boards VALUES (1)")  # commits to draw
        empty: list[str] = []

        def drawn() -> bool:
            empty.clear()
            for board in EXPORTER_BOARDS:
                data = json.loads((DASHBOARDS_JSON / f"{board.uid}.json").read_text())
                for panel in data["panels"]:
                    for t in panel.get("targets", []):
                        if not draws(stack.prometheus, sent(data, t["expr"])):
                            empty.append(f"{board.uid} / {panel['title']}: {t['expr']}")
            return not empty

        assert wait_for_or_none(drawn, 30), "panels without data:\n" + "\n".join(empty)
    finally:
        stack.down()
    assert not any(e.running for e in stack.exporters), "down stops the exporters"


def wait_for_or_none(check: Callable[[], bool], timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(1)
    return True
