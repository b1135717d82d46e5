"""Nemeses: faults done to real processes while the clients run, each healed before the next.

- `pause`: SIGSTOP of a replica's process group for a second or more, then SIGCONT;
- `pg-fast`, `pg-immediate`: PostgreSQL restarted (`pg_ctl stop -m fast` / `-m immediate`, start);
- `kill-wipe`: kill -9 of a replica, its data folder deleted, the replica started again;
- `stall`: a replica acts on its group commits' answers late for a few seconds (the `commit_pause_ms`
  fault, so the replicas need `JM_FAULTS_ENABLED` and an admin token): other replicas' later commits
  reach its copies first, which is how a loaded replica met issue 20's first defect.

The same-id races (add against delete, PATCH against PATCH, forget against add) and expiry at the
boundary are not faults but the workload's choice of operations (`workload`).
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx

from jean_memory_dev.processes import PostgresServer, ServiceProcess

NEMESES = ("pause", "pg-fast", "pg-immediate", "kill-wipe", "stall")


@dataclass
class Target:
    """What the nemeses act on: the replicas, and PostgreSQL (None in embedded mode)."""

    replicas: list[ServiceProcess]
    postgres: PostgresServer | None = None
    admin_token: str | None = None


@dataclass
class Nemesis:
    target: Target
    kinds: tuple[str, ...]
    rng: random.Random
    #: Quiet time between faults, so clients see the healed cluster too.
    interval_s: float = 3.0
    log: list[tuple[float, str]] = field(default_factory=list)

    def run(self, stop: threading.Event) -> None:
        while not stop.wait(self.interval_s) and self.kinds:
            kind = self.rng.choice(self.kinds)
            self.log.append((time.time(), kind))
            self._faults()[kind]()

    def _faults(self) -> dict[str, Callable[[], None]]:
        return {
            "pause": self._pause,
            "pg-fast": lambda: self._restart_postgres("fast"),
            "pg-immediate": lambda: self._restart_postgres("immediate"),
            "kill-wipe": self._kill_wipe,
            "stall": self._stall,
        }

    def _pause(self) -> None:
        replica = self.rng.choice(self.target.replicas)
        assert replica.proc is not None
        os.killpg(replica.proc.pid, signal.SIGSTOP)
        try:
            time.sleep(self.rng.uniform(1.0, 2.5))
        finally:
            os.killpg(replica.proc.pid, signal.SIGCONT)

    def _restart_postgres(self, mode: str) -> None:
        postgres = self.target.postgres
        assert postgres is not None, "PostgreSQL nemeses need cluster mode"
        postgres.stop(mode)
        time.sleep(self.rng.uniform(0.2, 1.0))
        postgres.start()

    def _kill_wipe(self) -> None:
        assert self.target.postgres is not None, "a replica's folder holds nothing of record only in cluster mode"
        replica = self.rng.choice(self.target.replicas)
        replica.kill()
        shutil.rmtree(replica.data_dir, ignore_errors=True)
        replica.start()

    def _stall(self) -> None:
        assert self.target.admin_token, "the stall needs replicas started with faults enabled"
        replica = self.rng.choice(self.target.replicas)
        headers = {"Authorization": f"Bearer {self.target.admin_token}"}
        pause = {"commit_pause_ms": self.rng.uniform(20, 200)}
        try:
            httpx.put(f"{replica.url}/admin/faults", json=pause, headers=headers, timeout=10).raise_for_status()
            time.sleep(self.rng.uniform(1.0, 3.0))
        finally:
            httpx.delete(f"{replica.url}/admin/faults", headers=headers, timeout=10).raise_for_status()
