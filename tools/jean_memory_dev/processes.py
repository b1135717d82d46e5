"""Start and stop real local processes: the service, PostgreSQL (alone or with a synchronous standby),
HAProxy, Prometheus, Alertmanager and the alert receiver.

Used by the tests, the benchmarks, the fire drills and the native launchers, so all of them exercise
the real thing over real sockets. Every process is started in its own process group and killed with it.
"""

from __future__ import annotations

import contextlib
import csv
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import httpx

from jean_memory_dev.paths import ROOT, SCRIPTS


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def render_config(template: Path, out: Path, env: Mapping[str, str]) -> Path:
    """Render a template with scripts/render-config, the same renderer compose runs, so the native
    launchers and compose cannot drift apart; `env` is laid over this process's environment."""
    subprocess.run(
        [sys.executable, str(SCRIPTS / "render-config"), str(template), str(out)],
        check=True,
        env={**os.environ, **env},
    )
    return out


def wait_http(
    url: str, timeout_s: float, proc: subprocess.Popen[bytes] | None = None, ok: tuple[int, ...] = (200,)
) -> None:
    deadline = time.monotonic() + timeout_s
    last: object = None
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} while waiting for {url}")
        try:
            r = httpx.get(url, timeout=1.0)
            if r.status_code in ok:
                return
            last = r.status_code
        except httpx.HTTPError as exc:
            last = exc
        time.sleep(0.05)
    raise TimeoutError(f"{url} not ready after {timeout_s}s (last: {last})")


class ServiceProcess:
    """The service as a subprocess (`python -m jean_memory serve`), configured by JM_* variables."""

    def __init__(
        self,
        data_dir: Path,
        env: Mapping[str, str] | None = None,
        port: int | None = None,
        log_path: Path | None = None,
    ) -> None:
        self.data_dir = data_dir
        self.port = port or free_port()
        self.env = {"JM_EMBEDDER": "hash", **(env or {})}
        self.log_path = log_path or data_dir.parent / f"service-{self.port}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, wait: str = "/readyz", timeout_s: float = 120.0) -> ServiceProcess:
        env = {
            **os.environ,
            **self.env,
            "JM_PORT": str(self.port),
            "JM_HOST": "127.0.0.1",
            "JM_DATA_DIR": str(self.data_dir),
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
        }
        self.proc = _spawn([sys.executable, "-m", "jean_memory", "serve"], self.log_path, env)
        wait_http(self.url + wait, timeout_s, self.proc)
        return self

    def kill(self) -> None:
        """kill -9 of the whole process group: no shutdown hook runs, nothing drains (a crash)."""
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def terminate(self, timeout_s: float = 60.0) -> int | None:
        """SIGTERM to the service alone, as an orchestrator stops a container, then wait for it to exit.

        The service drains (`JM_DRAIN_S`: not ready, still serving), finishes what is in flight and
        exits; only past `timeout_s` is the group killed. Returns the exit status (None: never started).
        """
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        with contextlib.suppress(ProcessLookupError):  # helpers the service left behind, if any
            os.killpg(self.proc.pid, signal.SIGKILL)
        return self.proc.returncode

    def stop(self) -> None:
        _stop(self.proc)

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


class CanaryProcess:
    """The synthetic user as a subprocess (`python -m jean_memory canary`), against `target` (the service,
    or HAProxy's front door), serving its metrics on `port`; `interval_s` and `search_timeout_s` come from
    the thresholds file's `canary` section (production's, or the drill's with `fast`)."""

    def __init__(
        self,
        target: str,
        port: int,
        log_path: Path,
        *,
        fast: bool = False,
        api_key_file: Path | None = None,
        schedule: tuple[float, float] | None = None,
    ) -> None:
        from jean_memory_dev.mixin import load

        self.target = target
        self.port = port
        self.log_path = log_path
        #: (interval, search timeout): the config's unless a test says otherwise.
        self.interval_s, self.search_timeout_s = schedule or load().canary.schedule(fast)
        self.api_key_file = api_key_file
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/metrics"

    def start(self, timeout_s: float = 30.0) -> CanaryProcess:
        cmd = [
            sys.executable, "-m", "jean_memory", "canary",
            "--url", self.target,
            "--port", str(self.port),
            "--interval", f"{self.interval_s:g}",
            "--search-timeout", f"{self.search_timeout_s:g}",
        ]  # fmt: skip
        if self.api_key_file is not None:
            cmd += ["--api-key-file", str(self.api_key_file)]
        self.proc = _spawn(cmd, self.log_path, dict(os.environ))
        wait_http(self.metrics_url, timeout_s, self.proc)
        return self

    def stop(self) -> None:
        _stop(self.proc)


def _pg_bin(name: str) -> str:
    for version in ("17", "16", "15"):
        path = Path(f"/usr/lib/postgresql/{version}/bin/{name}")
        if path.exists():
            return str(path)
    found = shutil.which(name)
    if not found:
        raise FileNotFoundError(f"PostgreSQL's {name} not found: run scripts/install-system")
    return found


class PostgresServer:
    """A throwaway PostgreSQL cluster in a folder of its own, on a free port, trust auth on loopback.

    As root the cluster runs as the `postgres` user, in a folder it can reach (a test's temporary
    folder is private to root, so the default is a fresh folder under /tmp); `destroy()` removes it.
    `settings` become `-c name=value` options at start, so they stay with this server and are not
    copied into a standby by `pg_basebackup` (a promoted standby must not wait for a standby of its own).
    """

    def __init__(
        self, port: int | None = None, folder: Path | None = None, settings: Mapping[str, str] | None = None
    ) -> None:
        self.port = port or free_port()
        self._as_root = os.geteuid() == 0
        self.folder = folder.resolve() if folder else Path(tempfile.mkdtemp(prefix="jm-pg-"))
        self.folder.mkdir(parents=True, exist_ok=True)
        if self._as_root:
            shutil.chown(self.folder, "postgres", "postgres")
        self.settings = dict(settings or {})

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        cmd = list(args)
        if self._as_root:  # PostgreSQL refuses to run as root
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        return subprocess.run(cmd, check=check, capture_output=True, text=True, timeout=120)

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    @property
    def data(self) -> Path:
        return self.folder / "data"

    @property
    def initialised(self) -> bool:
        return (self.data / "PG_VERSION").exists()

    def init(self, replication: bool = False) -> PostgresServer:
        """initdb; `replication` also lets a standby stream from this server (WAL for replicas, senders,
        a trust line for replication connections on loopback); synchronous it is made by ReplicatedPostgres."""
        self._run(_pg_bin("initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8")
        if replication:
            self.settings = {**REPLICATION_SETTINGS, **self.settings}
            hba = self.data / "pg_hba.conf"
            line = "host replication all 127.0.0.1/32 trust"
            if not any(x.split() == line.split() for x in hba.read_text().splitlines()):
                with hba.open("a") as f:
                    f.write(f"{line}\n")
        return self

    def start(self) -> PostgresServer:
        for lock in [self.data / "postmaster.pid", *self.folder.glob(".s.PGSQL.*.lock")]:
            pid = _pid_in(lock)
            if pid is not None and not _alive(pid):
                # A killed postmaster this machine's init has not reaped yet: PostgreSQL would take the
                # zombie for a live server; its locks are as stale as after a real crash.
                lock.unlink()
        options = {"listen_addresses": "127.0.0.1", "fsync": "off", **self.settings}
        # pg_ctl hands -o to a shell: quote every value ('*' of synchronous_standby_names above all).
        opts = " ".join(
            [f"-p {self.port}", f"-k {shlex.quote(str(self.folder))}"]
            + [f"-c {shlex.quote(f'{k}={v}')}" for k, v in options.items()]
        )
        log = str(self.folder / "server.log")
        self._run(_pg_bin("pg_ctl"), "-D", str(self.data), "-o", opts, "-l", log, "-w", "-t", "60", "start")
        return self

    def stop(self, mode: str = "fast") -> None:
        self._run(_pg_bin("pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop", check=False)

    def destroy(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.folder, ignore_errors=True)

    def psql(self, sql: str) -> str:
        out = subprocess.run(["psql", self.url, "-At", "-c", sql], check=True, capture_output=True, text=True)
        return out.stdout.strip()

    @property
    def pid(self) -> int | None:
        """The postmaster's pid, from postmaster.pid (None when it is not running)."""
        pid = _pid_in(self.data / "postmaster.pid")
        return pid if pid is not None and _alive(pid) else None

    def kill(self) -> None:
        """kill -9 of the postmaster and its backends, as a machine that loses power: no checkpoint, no
        goodbye to clients or standbys. The next `start()` runs crash recovery."""
        pid = self.pid
        if pid is None:
            return
        victims = [pid, *_children(pid)]
        for victim in victims:
            with contextlib.suppress(ProcessLookupError):
                os.kill(victim, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while any(_alive(v) for v in victims) and time.monotonic() < deadline:
            time.sleep(0.02)

    def standby(self, name: str = "standby", port: int | None = None, folder: Path | None = None) -> PostgresServer:
        """A streaming standby of this running server: `pg_basebackup -R` into a new folder (not started).

        Its walreceiver reports `name` (its `cluster_name`) as application_name, which is what the
        primary's `synchronous_standby_names` and `pg_stat_replication` know it by.
        """
        standby = PostgresServer(port, folder, settings=standby_settings(name))
        self.copy_to(standby)
        return standby

    def copy_to(self, standby: PostgresServer) -> None:
        """pg_basebackup of this running server into `standby`'s (empty) data folder, with the settings
        that make it stream from here (-R: standby.signal and primary_conninfo)."""
        source = ["-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres"]
        copy = ["-D", str(standby.data), "-R", "-X", "stream", "-c", "fast", "--no-sync"]
        standby._run(_pg_bin("pg_basebackup"), *source, *copy)

    def promote(self) -> None:
        """Turn this standby into a primary (pg_ctl promote, waiting until it accepts writes)."""
        self._run(_pg_bin("pg_ctl"), "-D", str(self.data), "-w", "-t", "60", "promote")

    def in_recovery(self) -> bool:
        """True on a standby (read-only), False on a primary."""
        return self.psql("SELECT pg_is_in_recovery()") == "t"

    def wait_sync_standby(self, name: str, timeout_s: float = 30.0) -> None:
        """Wait until `name` streams from this primary as its synchronous standby."""
        sql = f"SELECT sync_state FROM pg_stat_replication WHERE application_name = '{name}'"
        deadline = time.monotonic() + timeout_s
        while self.psql(sql) != "sync":
            if time.monotonic() > deadline:
                raise TimeoutError(f"standby {name} is not a synchronous standby after {timeout_s}s")
            time.sleep(0.1)


#: What a primary needs to stream to standbys (PostgreSQL 15's defaults, spelled out so they hold).
REPLICATION_SETTINGS = {"wal_level": "replica", "max_wal_senders": "10", "max_replication_slots": "10"}

#: A commit returns only once a standby has it: a failover after an acknowledged write loses nothing.
#: (With no standby connected, commits wait: set only where one is started, never on a lone server.)
SYNCHRONOUS_SETTINGS = {"synchronous_commit": "on", "synchronous_standby_names": "*"}


def standby_settings(name: str) -> dict[str, str]:
    """A standby's own settings: read-only queries while it replays, and the name it streams under."""
    return {"hot_standby": "on", "cluster_name": name}


class ReplicatedPostgres:
    """A primary with one synchronous streaming standby, for failover drills and cluster tests.

    `url` names both hosts with `target_session_attrs=read-write`, so a client finds whichever is the
    primary; `failover()` kills the primary and promotes the standby, the way an operator (or
    Patroni) would. Writes block while the standby is away: that is what synchronous means.

        pg = ReplicatedPostgres().start()
        env = {"JM_LTM_URL": pg.url}
        ...
        pg.failover()
        pg.destroy()
    """

    def __init__(self, folder: Path | None = None, ports: tuple[int, int] | None = None, name: str = "standby") -> None:
        self.ports = ports or (free_port(), free_port())
        self.name = name
        self.primary = PostgresServer(self.ports[0], folder / "primary" if folder else None)
        self.standby = PostgresServer(self.ports[1], folder / "standby" if folder else None, standby_settings(name))

    @property
    def url(self) -> str:
        hosts = ",".join(f"127.0.0.1:{port}" for port in self.ports)
        return f"postgresql://postgres@{hosts}/postgres?target_session_attrs=read-write"

    def start(self) -> ReplicatedPostgres:
        """Start both (making them on first use: initdb, then a base backup), and wait until the standby
        streams synchronously. A folder kept from an earlier run is started as it is."""
        if not self.primary.initialised:
            self.primary.init(replication=True)
        self.primary.settings = {**REPLICATION_SETTINGS, **SYNCHRONOUS_SETTINGS, **self.primary.settings}
        self.primary.start()
        if not self.standby.initialised:
            self.primary.copy_to(self.standby)
        # Set at every start (a command-line setting wins over the one -R wrote): ports change between runs.
        conninfo = f"host=127.0.0.1 port={self.primary.port} user=postgres application_name={self.name}"
        self.standby.settings["primary_conninfo"] = conninfo
        self.standby.start()
        self.primary.wait_sync_standby(self.name)
        return self

    def failover(self) -> PostgresServer:
        """kill -9 the primary, promote the standby; returns the new primary (which has no standby)."""
        self.primary.kill()
        self.standby.promote()
        self.primary, self.standby = self.standby, self.primary
        return self.primary

    def stop(self) -> None:
        self.primary.stop()
        self.standby.stop()

    def destroy(self) -> None:
        self.primary.destroy()
        self.standby.destroy()


def _pid_in(lock: Path) -> int | None:
    """The pid on the first line of a PostgreSQL lock file (None: no file, or not a pid)."""
    try:
        return int(lock.read_text().split()[0])
    except (FileNotFoundError, IndexError, ValueError):
        return None


def _alive(pid: int) -> bool:
    """Whether `pid` runs (a zombie waiting for its parent to reap it does not)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state not in ("Z", "X")


def _children(pid: int) -> list[int]:
    """The direct children of `pid`: a postmaster's backends and auxiliary processes."""
    return [p.pid for p in _processes() if p.ppid == pid]


class _Proc(NamedTuple):
    pid: int
    state: str
    ppid: int
    pgrp: int


def _processes() -> Iterator[_Proc]:
    """Every process, from /proc (a process may end while it is read: skipped)."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, IndexError, ProcessLookupError):
            continue
        yield _Proc(int(stat.parent.name), fields[0], int(fields[1]), int(fields[2]))


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
        self.proc = _spawn(cmd, self.folder / "prometheus.log")
        wait_http(f"{self.url}/-/ready", 60, self.proc)
        return self

    def query(self, promql: str) -> list[dict[str, object]]:
        r = httpx.get(f"{self.url}/api/v1/query", params={"query": promql}, timeout=10)
        r.raise_for_status()
        result: list[dict[str, object]] = r.json()["data"]["result"]
        return result

    def query_range(self, promql: str, start: float, end: float, step: float) -> list[dict[str, object]]:
        """A range query (what Grafana sends for a time series): each series with its `values`."""
        params = {"query": promql, "start": f"{start:.3f}", "end": f"{end:.3f}", "step": f"{step:g}"}
        r = httpx.get(f"{self.url}/api/v1/query_range", params=params, timeout=30)
        r.raise_for_status()
        result: list[dict[str, object]] = r.json()["data"]["result"]
        return result

    def stop(self) -> None:
        _stop(self.proc)

    def kill(self) -> None:
        """kill -9: no shutdown, no goodbye to Alertmanager (its alerts expire there on their own)."""
        _kill(self.proc)

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
        self.proc = _spawn(cmd, self.folder / "alertmanager.log")
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
        _stop(self.proc)

    def kill(self) -> None:
        """kill -9: its peers keep the cluster's state (silences, what was notified) without it."""
        _kill(self.proc)

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
        self.proc = _spawn(cmd, None)
        wait_http(f"{self.url}/healthz", 30, self.proc)
        return self

    def received(self) -> list[dict[str, object]]:
        alerts: list[dict[str, object]] = httpx.get(f"{self.url}/alerts", timeout=5).json()
        return alerts

    def stop(self) -> None:
        _stop(self.proc)

    def kill(self) -> None:
        _kill(self.proc)


class HaproxyProcess:
    """HAProxy in front of local replicas, from haproxy/haproxy.cfg rendered with their loopback ports.

    `servers` maps a server name to its port; HAProxy routes by `/readyz`, so `wait_servers()` is how a
    caller knows which replicas take traffic. Its own metrics are at `metrics_url`, the stats page at
    `stats_url`.
    """

    TEMPLATE = ROOT / "haproxy" / "haproxy.cfg"

    def __init__(
        self, folder: Path, servers: Mapping[str, int], port: int | None = None, stats_port: int | None = None
    ) -> None:
        self.folder = folder
        self.servers = dict(servers)
        self.port = port or free_port()
        self.stats_port = stats_port or free_port()
        self.config = folder / "haproxy.cfg"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def stats_url(self) -> str:
        return f"http://127.0.0.1:{self.stats_port}/stats"

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.stats_port}/metrics"

    def render(self) -> Path:
        lines = [f"server {name} 127.0.0.1:{port} check" for name, port in self.servers.items()]
        env = {
            "HAPROXY_BIND": f"127.0.0.1:{self.port}",
            "HAPROXY_STATS_BIND": f"127.0.0.1:{self.stats_port}",
            "HAPROXY_SERVERS": "\n    ".join(lines),
            "HAPROXY_RESOLVERS": "",
        }
        return render_config(self.TEMPLATE, self.config, env)

    def start(self) -> HaproxyProcess:
        binary = shutil.which("haproxy")
        if not binary:
            raise FileNotFoundError("haproxy not found: run scripts/install-system")
        self.render()
        self.proc = _spawn([binary, "-db", "-f", str(self.config)], self.folder / "haproxy.log")
        wait_http(self.metrics_url, 30, self.proc)
        return self

    def server_stats(self) -> dict[str, dict[str, str]]:
        """Each replica's row of HAProxy's stats CSV: `status` (UP, DOWN, MAINT, `UP 1/2`...), `stot`
        (requests sent to it), `eresp`, `wretr`, `wredis`... (see HAProxy's management guide, 9.1)."""
        r = httpx.get(f"{self.stats_url};csv", timeout=5)
        r.raise_for_status()
        rows = csv.DictReader(r.text.lstrip("# ").splitlines())
        return {row["svname"]: row for row in rows if row["pxname"] == "replicas" and row["svname"] in self.servers}

    def server_status(self) -> dict[str, str]:
        """Each replica's state as HAProxy sees it: UP, DOWN, MAINT, or a transition such as `UP 1/2`."""
        return {name: row["status"] for name, row in self.server_stats().items()}

    def wait_servers(self, status: str, names: Iterable[str] | None = None, timeout_s: float = 30.0) -> None:
        """Wait until every named server (default all) is exactly in `status` (e.g. "UP" or "DOWN")."""
        wanted = list(names or self.servers)
        deadline = time.monotonic() + timeout_s
        while True:
            seen = self.server_status()
            if all(seen.get(name) == status for name in wanted):
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"HAProxy servers {wanted} not all {status} after {timeout_s}s: {seen}")
            time.sleep(0.1)

    def stop(self) -> None:
        _stop(self.proc)


def _spawn(cmd: list[str], log_path: Path | None, env: Mapping[str, str] | None = None) -> subprocess.Popen[bytes]:
    """Start a process in its own session (so it is stopped with its children), output to a log file."""
    if log_path is None:
        return subprocess.Popen(
            cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
        )
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        return subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def stop_groups(pids: Iterable[int], timeout_s: float = 20.0) -> None:
    """Stop process groups known only by pid (what a launcher recorded in its state file, for a
    `down` from another shell): SIGTERM to all at once, so they shut down in parallel, then SIGKILL
    to what is left after `timeout_s`."""
    pending = []
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGTERM)
            pending.append(pid)
    deadline = time.monotonic() + timeout_s
    while pending and time.monotonic() < deadline:
        pending = [pid for pid in pending if _group_alive(pid)]
        time.sleep(0.1)
    for pid in pending:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)


def _group_alive(pgid: int) -> bool:
    """Whether any process of group `pgid` still runs (zombies do not: their parent may be the caller)."""
    return any(p.pgrp == pgid and p.state not in ("Z", "X") for p in _processes())


def _kill(proc: subprocess.Popen[bytes] | None) -> None:
    """kill -9 of a process group this module started (a crash: nothing runs on the way out)."""
    if proc and proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)


def _stop(proc: subprocess.Popen[bytes] | None) -> None:
    if proc and proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
