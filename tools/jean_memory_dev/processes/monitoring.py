"""The monitoring as local processes: Prometheus, Alertmanager (one, or a peer of a gossip cluster) and the
alert receiver (scripts/alert-receiver), on free ports."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx

from jean_memory_dev.processes.spawn import free_port, kill_group, spawn, stop_group, wait_http


class PrometheusServer:
    """A real Prometheus (Debian's 2.53, whose OTLP receiver Debian disabled) with exemplar storage on."""

    def __init__(self, config: Path, folder: Path, port: int | None = None, extra_args: tuple[str, ...] = ()) -> None:
        self.config = config
        self.folder = folder
        self.port = port or free_port()
        self.extra_args = extra_args
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> PrometheusServer:
        binary = shutil.which("prometheus")
        if not binary:
            raise FileNotFoundError("prometheus not found: run scripts/install-system")
        cmd = [
            binary,
            f"--config.file={self.config}",
            f"--storage.tsdb.path={self.folder / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            "--enable-feature=exemplar-storage",
            *self.extra_args,
        ]
        self.proc = spawn(cmd, self.folder / "prometheus.log")
        wait_http(f"{self.url}/-/ready", 60, self.proc)
        return self

    def reload(self, timeout_s: float = 30.0) -> None:
        """SIGHUP: read the configuration again (scrape targets, rules) without a restart, which would drop
        its alerts' state; returns once the reload succeeded (`/api/v1/status/runtimeinfo`)."""
        if self.proc is None or self.proc.poll() is not None:
            raise RuntimeError(f"{self.folder.name} is not running")
        before = self._runtime()["lastConfigTime"]
        self.proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            info = self._runtime()
            if info["lastConfigTime"] != before:
                if not info["reloadConfigSuccess"]:
                    raise RuntimeError(f"{self.folder.name}: the configuration did not reload; see its log")
                return
            time.sleep(0.2)
        raise TimeoutError(f"{self.folder.name} did not reload its configuration in {timeout_s:g} s")

    def active_jobs(self) -> set[str]:
        """The jobs of the targets it scrapes now."""
        data = httpx.get(f"{self.url}/api/v1/targets", params={"state": "active"}, timeout=5).json()["data"]
        return {t["labels"]["job"] for t in data["activeTargets"]}

    def _runtime(self) -> dict[str, Any]:
        info: dict[str, Any] = httpx.get(f"{self.url}/api/v1/status/runtimeinfo", timeout=5).json()["data"]
        return info

    def query(self, promql: str) -> list[dict[str, object]]:
        r = httpx.get(f"{self.url}/api/v1/query", params={"query": promql}, timeout=10)
        r.raise_for_status()
        result: list[dict[str, object]] = r.json()["data"]["result"]
        return result

    def active_alerts(self) -> list[dict[str, Any]]:
        """`/api/v1/alerts`: what the rule manager holds active now (`state` pending or firing), with labels.

        Not the `ALERTS` series: Prometheus writes no stale markers when it stops, so after a restart an
        instant query still finds the alerts that fired before the stop for the 5-minute lookback, though
        none of them fires any more."""
        r = httpx.get(f"{self.url}/api/v1/alerts", timeout=10)
        r.raise_for_status()
        alerts: list[dict[str, Any]] = r.json()["data"]["alerts"]
        return alerts

    def query_range(self, promql: str, start: float, end: float, step: float) -> list[dict[str, object]]:
        """A range query (what Grafana sends for a time series): each series with its `values`."""
        params = {"query": promql, "start": f"{start:.3f}", "end": f"{end:.3f}", "step": f"{step:g}"}
        r = httpx.get(f"{self.url}/api/v1/query_range", params=params, timeout=30)
        r.raise_for_status()
        result: list[dict[str, object]] = r.json()["data"]["result"]
        return result

    def stop(self) -> None:
        stop_group(self.proc)

    def kill(self) -> None:
        """kill -9: no shutdown, no goodbye to Alertmanager (its alerts expire there on their own)."""
        kill_group(self.proc)

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


class AlertmanagerServer:
    """A real Alertmanager (Debian's 0.28) on a free port: a single node, or (with `cluster_port`) one peer
    of a gossip cluster on loopback that joins `peers` (`host:port` of their cluster ports).

    Peers share silences and the notification log; the peer at position `n` of the cluster waits
    `n * peer_timeout` before notifying, and does not if an earlier peer's notification reached it by then.
    """

    def __init__(
        self,
        config: Path,
        folder: Path,
        port: int | None = None,
        cluster_port: int | None = None,
        peers: Sequence[str] = (),
        peer_timeout: str | None = None,
    ) -> None:
        self.config = config
        self.folder = folder
        self.port = port or free_port()
        self.cluster_port = cluster_port
        self.peers = list(peers)
        self.peer_timeout = peer_timeout
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def cluster_args(self) -> list[str]:
        if self.cluster_port is None:
            return ["--cluster.listen-address="]
        args = [f"--cluster.listen-address=127.0.0.1:{self.cluster_port}"]
        args += [f"--cluster.peer={peer}" for peer in self.peers]
        if self.peer_timeout:
            args.append(f"--cluster.peer-timeout={self.peer_timeout}")
        return args

    def start(self) -> AlertmanagerServer:
        binary = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
        if not binary:
            raise FileNotFoundError("alertmanager not found: run scripts/install-system")
        cmd = [
            binary,
            f"--config.file={self.config}",
            f"--storage.path={self.folder / 'data'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            f"--web.external-url={self.url}",  # names the peer in its notifications (the webhook's externalURL)
            *self.cluster_args(),
        ]
        self.proc = spawn(cmd, self.folder / "alertmanager.log")
        wait_http(f"{self.url}/-/ready", 60, self.proc)
        return self

    def status(self) -> dict[str, Any]:
        """`/api/v2/status`: the cluster's peers as this Alertmanager sees them, its own name, the config."""
        status: dict[str, Any] = httpx.get(f"{self.url}/api/v2/status", timeout=5).json()
        return status

    def alerts(self) -> list[dict[str, Any]]:
        """The alerts it holds, each with `status.state` (active, suppressed) and `silencedBy`."""
        alerts: list[dict[str, Any]] = httpx.get(f"{self.url}/api/v2/alerts", timeout=5).json()
        return alerts

    def silences(self) -> list[dict[str, Any]]:
        silences: list[dict[str, Any]] = httpx.get(f"{self.url}/api/v2/silences", timeout=5).json()
        return silences

    def stop(self) -> None:
        stop_group(self.proc)

    def kill(self) -> None:
        """kill -9: its peers keep the cluster's state (silences, what was notified) without it."""
        kill_group(self.proc)

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


class ReceiverProcess:
    """scripts/alert-receiver on a free port: what Alertmanager delivered, for tests and drills.

    `deadman_after` (seconds) arms its dead man's switch: a page when no Watchdog arrived for that long.
    """

    def __init__(
        self,
        script: Path,
        log: Path,
        port: int | None = None,
        deadman_after: float | None = None,
        extra_args: Sequence[str] = (),
    ) -> None:
        self.script = script
        self.log = log
        self.port = port or free_port()
        self.deadman_after = deadman_after
        self.extra_args = list(extra_args)
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ReceiverProcess:
        self.log.parent.mkdir(parents=True, exist_ok=True)  # the receiver appends every alert there
        cmd = [
            sys.executable,
            str(self.script),
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--log",
            str(self.log),
        ]
        if self.deadman_after is not None:
            cmd += ["--deadman-after", f"{self.deadman_after:g}"]
        cmd += self.extra_args
        self.proc = spawn(cmd, None)
        wait_http(f"{self.url}/healthz", 30, self.proc)
        return self

    def received(self) -> list[dict[str, object]]:
        alerts: list[dict[str, object]] = httpx.get(f"{self.url}/alerts", timeout=5).json()
        return alerts

    def stop(self) -> None:
        stop_group(self.proc)

    def kill(self) -> None:
        kill_group(self.proc)
