"""Cluster fixtures: a real PostgreSQL server and real replica processes (hash embedder) over HTTP."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from jean_memory_dev.processes import PostgresServer, ServiceProcess

StartReplica = Callable[..., ServiceProcess]


@pytest.fixture
def postgres() -> Iterator[PostgresServer]:
    server = PostgresServer().init().start()
    yield server
    server.destroy()


@pytest.fixture
def start_replica(postgres: PostgresServer, tmp_path: Path) -> Iterator[StartReplica]:
    """Start cluster replicas over `postgres`; every one is stopped afterwards."""
    started: list[ServiceProcess] = []

    def start(name: str | None = None, env: dict[str, str] | None = None, url: str | None = None) -> ServiceProcess:
        name = name or f"r{len(started)}"
        base = {"JM_CLUSTER": "true", "JM_LTM_URL": url or postgres.url, "JM_REPLICA_ID": name}
        proc = ServiceProcess(tmp_path / name, env={**base, **(env or {})})
        started.append(proc)
        return proc.start()

    yield start
    for proc in started:
        proc.stop()
