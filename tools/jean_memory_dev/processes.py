"""Start and stop real local processes: the service and a PostgreSQL server.

Used by the tests, the benchmarks and the fire drills, so all of them exercise the real thing over
real sockets. Every process is started in its own process group and killed with it.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


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
        """kill -9: no shutdown hook runs."""
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        _stop(self.proc)

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


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

    As root the cluster runs as the `postgres` user, in a fresh folder it can reach (a test's
    temporary folder is private to root); `destroy()` removes it.
    """

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self._as_root = os.geteuid() == 0
        self.folder = Path(tempfile.mkdtemp(prefix="jm-pg-"))
        if self._as_root:
            shutil.chown(self.folder, "postgres", "postgres")

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        cmd = list(args)
        if self._as_root:  # PostgreSQL refuses to run as root
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        return subprocess.run(cmd, check=check, capture_output=True, text=True, timeout=120)

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def init(self) -> PostgresServer:
        self._run(
            _pg_bin("initdb"),
            "-D",
            str(self.folder / "data"),
            "-U",
            "postgres",
            "--auth=trust",
            "--no-sync",
            "-E",
            "UTF8",
        )
        return self

    def start(self) -> PostgresServer:
        opts = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run(
            _pg_bin("pg_ctl"),
            "-D",
            str(self.folder / "data"),
            "-o",
            opts,
            "-l",
            str(self.folder / "server.log"),
            "-w",
            "-t",
            "60",
            "start",
        )
        return self

    def stop(self, mode: str = "fast") -> None:
        self._run(_pg_bin("pg_ctl"), "-D", str(self.folder / "data"), "-m", mode, "-w", "stop", check=False)

    def destroy(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.folder, ignore_errors=True)

    def psql(self, sql: str) -> str:
        out = subprocess.run(["psql", self.url, "-At", "-c", sql], check=True, capture_output=True, text=True)
        return out.stdout.strip()


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
            "--web.enable-lifecycle",
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

    def stop(self) -> None:
        _stop(self.proc)


class AlertmanagerServer:
    """A real Alertmanager (Debian's 0.28), single node, on a free port."""

    def __init__(self, config: Path, folder: Path, port: int | None = None) -> None:
        self.config = config
        self.folder = folder
        self.port = port or free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> AlertmanagerServer:
        binary = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
        if not binary:
            raise FileNotFoundError("alertmanager not found: run scripts/install-system")
        cmd = [
            binary,
            f"--config.file={self.config}",
            f"--storage.path={self.folder / 'data'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            "--cluster.listen-address=",
        ]
        self.proc = _spawn(cmd, self.folder / "alertmanager.log")
        wait_http(f"{self.url}/-/ready", 60, self.proc)
        return self

    def stop(self) -> None:
        _stop(self.proc)


class ReceiverProcess:
    """scripts/alert-receiver on a free port: what Alertmanager delivered, for tests and drills."""

    def __init__(self, script: Path, log: Path, port: int | None = None) -> None:
        self.script = script
        self.log = log
        self.port = port or free_port()
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
        self.proc = _spawn(cmd, None)
        wait_http(f"{self.url}/healthz", 30, self.proc)
        return self

    def received(self) -> list[dict[str, object]]:
        alerts: list[dict[str, object]] = httpx.get(f"{self.url}/alerts", timeout=5).json()
        return alerts

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


def _stop(proc: subprocess.Popen[bytes] | None) -> None:
    if proc and proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
