"""PostgreSQL as local processes: one server (initdb, start, stop, kill -9, psql), or a primary with a
synchronous streaming standby that can be failed over."""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path

from jean_memory_dev.processes.spawn import children_of, free_port, pid_alive

#: What a primary needs to stream to standbys (PostgreSQL 15's defaults, spelled out so they hold).
REPLICATION_SETTINGS = {"wal_level": "replica", "max_wal_senders": "10", "max_replication_slots": "10"}
#: A commit returns only once a standby has it: a failover after an acknowledged write loses nothing.
#: (With no standby connected, commits wait: set only where one is started, never on a lone server.)
SYNCHRONOUS_SETTINGS = {"synchronous_commit": "on", "synchronous_standby_names": "*"}


def pg_bin(name: str) -> str:
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
        self._run(pg_bin("initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8")
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
            if pid is not None and not pid_alive(pid):
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
        self._run(pg_bin("pg_ctl"), "-D", str(self.data), "-o", opts, "-l", log, "-w", "-t", "60", "start")
        return self

    def stop(self, mode: str = "fast") -> None:
        self._run(pg_bin("pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop", check=False)

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
        return pid if pid is not None and pid_alive(pid) else None

    def kill(self) -> None:
        """kill -9 of the postmaster and its backends, as a machine that loses power: no checkpoint, no
        goodbye to clients or standbys. The next `start()` runs crash recovery."""
        pid = self.pid
        if pid is None:
            return
        victims = [pid, *children_of(pid)]
        for victim in victims:
            with contextlib.suppress(ProcessLookupError):
                os.kill(victim, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while any(pid_alive(v) for v in victims) and time.monotonic() < deadline:
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
        standby._run(pg_bin("pg_basebackup"), *source, *copy)

    def promote(self) -> None:
        """Turn this standby into a primary (pg_ctl promote, waiting until it accepts writes)."""
        self._run(pg_bin("pg_ctl"), "-D", str(self.data), "-w", "-t", "60", "promote")

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
