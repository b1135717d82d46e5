"""The native cluster launcher for real: PostgreSQL, two replicas in cluster mode (hash embedder),
HAProxy, Prometheus, Alertmanager and the receiver as processes, driven through `ClusterStack`.

What the tests and drills rely on: HAProxy routes to every ready replica, a rolling restart under
write traffic drops no request (the replica drains: HAProxy's /readyz checks take it out first), a
kill -9 is taken out, Prometheus scrapes every replica and HAProxy, and `down` from another shell
stops everything; and the PostgreSQL primary/synchronous-standby pair fails over.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from jean_memory_dev.cluster import ClusterPorts, ClusterStack
from jean_memory_dev.processes import ReplicatedPostgres
from tests.helpers import AddStream, all_ids, wait_until

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClusterStack]:
    folder = tmp_path_factory.mktemp("cluster")
    stack = ClusterStack(folder, replicas=2, env={"JM_EMBEDDER": "hash"}, fast=True, ports=ClusterPorts.free())
    stack.up()
    yield stack
    stack.down()


def test_haproxy_routes_to_every_ready_replica(cluster: ClusterStack) -> None:
    assert cluster.haproxy.server_status() == {"replica-1": "UP", "replica-2": "UP"}
    with httpx.Client(base_url=cluster.url, timeout=10) as client:
        assert client.get("/readyz").status_code == 200
        for n in range(20):
            r = client.post("/v1/memories", json={"user_id": "routing", "content": f"memory {n}"})
            assert r.status_code == 201, r.text
    sent = {name: int(row["stot"]) for name, row in cluster.haproxy.server_stats().items()}
    assert all(count > 0 for count in sent.values()), f"every replica took requests: {sent}"
    for replica in cluster.replicas:
        text = httpx.get(f"{replica.url}/metrics", timeout=5).text
        assert 'mode="cluster"' in next(line for line in text.splitlines() if line.startswith("jm_build_info"))
        assert "jm_ready 1.0" in text


def test_rolling_restart_drops_no_request(cluster: ClusterStack) -> None:
    stream = AddStream(cluster.url, "rolling", threads=3).start()
    wait_until(lambda: len(stream.acked) > 50, 10, "writes before the restart")
    code = cluster.restart(0)
    before = len(stream.acked)
    wait_until(lambda: len(stream.acked) > before + 50, 10, "writes after the restart")
    acked = stream.stop()
    assert code in (0, -15), f"replica-1 did not exit cleanly on SIGTERM ({code})"
    assert (stream.errors, stream.lost_in_flight, stream.refused) == ([], 0, 0), "a request failed during the restart"
    assert cluster.haproxy.server_status() == {"replica-1": "UP", "replica-2": "UP"}
    with httpx.Client(base_url=cluster.url, timeout=10) as client:
        wait_until(lambda: set(all_ids(client, "rolling")) >= set(acked), 10, "every acknowledged write listed")


def test_a_draining_replica_is_taken_out_before_it_stops(cluster: ClusterStack) -> None:
    """SIGTERM: the replica answers 503 on /readyz for JM_DRAIN_S (2 s) while it still serves; HAProxy
    must mark it down inside that window, so no new request reaches a replica that is about to stop."""
    replica = cluster.replicas[0]
    assert replica.proc is not None
    os.kill(replica.proc.pid, signal.SIGTERM)
    started = time.monotonic()
    cluster.haproxy.wait_servers("DOWN", ["replica-1"], timeout_s=5)
    taken_out_s = time.monotonic() - started
    assert replica.proc.poll() is None, "the replica stopped before HAProxy took it out"
    assert httpx.get(f"{replica.url}/readyz", timeout=2).status_code == 503
    assert taken_out_s < 2.0, f"HAProxy took {taken_out_s:.1f}s to take out a replica draining for 2 s"
    cluster.restart(0)


def test_prometheus_scrapes_every_replica_and_haproxy(cluster: ClusterStack) -> None:
    def scraped() -> bool:
        up = cluster.prometheus.query('up{job=~"jean-memory|haproxy"} == 1')
        jobs = sorted(str(r["metric"]["job"]) for r in up)  # type: ignore[index]
        return jobs == ["haproxy", "jean-memory", "jean-memory"]

    wait_until(scraped, 15, "Prometheus to scrape both replicas and HAProxy")
    modes = cluster.prometheus.query('jm_build_info{job="jean-memory", mode="cluster"}')
    assert len(modes) == 2


def test_kill_9_is_taken_out_and_restart_brings_it_back(cluster: ClusterStack) -> None:
    cluster.kill(1)
    cluster.haproxy.wait_servers("DOWN", ["replica-2"], timeout_s=5)
    with httpx.Client(base_url=cluster.url, timeout=10) as client:
        for n in range(20):
            assert client.post("/v1/memories", json={"user_id": "killed", "content": f"m{n}"}).status_code == 201
    cluster.restart(1)
    assert cluster.haproxy.server_status() == {"replica-1": "UP", "replica-2": "UP"}


def test_down_from_another_shell(cluster: ClusterStack) -> None:
    """A second ClusterStack on the same folder knows the ports and pids from state.json."""
    other = ClusterStack(cluster.folder)
    assert other.ports == cluster.ports
    assert all(other.status().values()), other.status()
    pg_folder = Path(cluster.postgres.folder)
    other.down()
    assert not any(other.status().values()), other.status()
    assert not other.state_file.exists()
    assert not pg_folder.exists(), "a PostgreSQL folder made under /tmp is removed"


def test_replicated_postgres_commits_on_the_standby_and_fails_over() -> None:
    """The helper drills use: a commit is on the synchronous standby when it returns; after a kill -9 of
    the primary and a promotion, the two-host URL finds the new primary and writes go on."""
    pg = ReplicatedPostgres().start()
    try:
        pg.primary.psql("CREATE TABLE t (x int); INSERT INTO t VALUES (1)")
        assert pg.standby.in_recovery() and pg.standby.psql("SELECT count(*) FROM t") == "1"
        old_port = pg.primary.port
        new = pg.failover()
        assert new.port != old_port and not new.in_recovery()
        out = subprocess.run(
            ["psql", pg.url, "-At", "-c", "INSERT INTO t VALUES (2); SELECT inet_server_port(), count(*) FROM t"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
        assert out[-1] == f"{new.port}|2"
    finally:
        pg.destroy()
