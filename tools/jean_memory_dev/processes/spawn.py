"""Spawning and stopping local processes: each in its own process group, started and waited for over HTTP,
stopped (SIGTERM, then SIGKILL) with its whole group; the process table read from /proc; configuration
templates rendered with the stack's variables."""

from __future__ import annotations

import contextlib
import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import NamedTuple

import httpx
import psutil

from jean_memory_dev.paths import SCRIPTS

#: The kernel's ephemeral ports: where it takes the local port of every outgoing connection.
_EPHEMERAL = Path("/proc/sys/net/ipv4/ip_local_port_range")
#: Ports handed out by this process, never handed out twice.
_handed_out: set[int] = set()
_random = random.Random()


def _ephemeral_low() -> int:
    try:
        return int(_EPHEMERAL.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port() -> int:
    """A port nothing listens on, for a process started later, chosen below the kernel's ephemeral range.

    A port from that range (what binding to port 0 gives) stays free only until some outgoing
    connection, of any process, takes it as its local port; the process it was meant for then fails to
    bind (seen in the suite: a cluster replica's "address already in use" seconds after its port was
    chosen). Below the range no connection takes it by chance.
    """
    low = _ephemeral_low()
    first = max(1024, low - 12000)
    for _ in range(200):
        port = _random.randrange(first, low)
        if port in _handed_out:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        _handed_out.add(port)
        return port
    raise RuntimeError(f"no free port between {first} and {low}")


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


def spawn(cmd: list[str], log_path: Path | None, env: Mapping[str, str] | None = None) -> subprocess.Popen[bytes]:
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
    return any(p.pgrp == pgid and p.state not in ("Z", "X") for p in process_table())


def kill_group(proc: subprocess.Popen[bytes] | None) -> None:
    """kill -9 of a process group this module started (a crash: nothing runs on the way out)."""
    if proc and proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)


def stop_group(proc: subprocess.Popen[bytes] | None) -> None:
    if proc and proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


def pid_alive(pid: int) -> bool:
    """Whether `pid` runs (a zombie waiting for its parent to reap it does not)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state not in ("Z", "X")


def cpu_seconds(pid: int) -> float:
    """CPU seconds (user and system) the process has used so far: what benchmarks difference over a window."""
    times = psutil.Process(pid).cpu_times()
    return float(times.user + times.system)


def children_of(pid: int) -> list[int]:
    """The direct children of `pid`: a postmaster's backends and auxiliary processes."""
    return [p.pid for p in process_table() if p.ppid == pid]


class ProcEntry(NamedTuple):
    pid: int
    state: str
    ppid: int
    pgrp: int


def process_table() -> Iterator[ProcEntry]:
    """Every process, from /proc (a process may end while it is read: skipped)."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, IndexError, ProcessLookupError):
            continue
        yield ProcEntry(int(stat.parent.name), fields[0], int(fields[1]), int(fields[2]))
