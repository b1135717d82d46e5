"""The history checker's short form: concurrent clients on every replica under every nemesis, and the
checker's verdict on what they saw (`jean_memory_dev.coherence`; the long form is `scripts/coherence`).

The verdict must be clean: no stale read, no wrong value, no search missing a memory by its newest
acknowledged text, no stale vector, no acknowledged version missing from a history, no lost
acknowledgement, every replica agreeing with PostgreSQL at the end.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from jean_memory_dev.coherence.checker import Verdict
from jean_memory_dev.coherence.nemesis import NEMESES, Target
from jean_memory_dev.coherence.workload import Plan, run
from jean_memory_dev.processes import PostgresServer, ServiceProcess
from tests.cluster.conftest import StartReplica

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

TOKEN = "coherence-admin-token-0123"
FAULTS = {"JM_FAULTS_ENABLED": "true", "JM_ADMIN_TOKEN": TOKEN}


def _verdict_message(verdict: Verdict) -> str:
    lines = [str(verdict.counts())]
    for kind, items in verdict.anomalies.items():
        lines += [f"{kind}: {item}" for item in items[:5]]
    return "\n".join(lines)


def test_three_replicas_under_every_nemesis_serve_no_stale_read(
    postgres: PostgresServer, start_replica: StartReplica
) -> None:
    replicas = [start_replica(f"r{n}", env=FAULTS) for n in range(3)]
    verdict, history = run(Target(replicas, postgres, TOKEN), Plan(duration_s=40, seed=20), NEMESES)
    assert verdict.clean, _verdict_message(verdict)
    counts = verdict.counts()
    assert counts["judged_reads"] > 1000, counts
    kinds = {e.kind for e in history.events if e.ok}
    assert kinds >= {"add", "patch", "delete", "forget", "get", "list", "search", "history", "export"}, kinds


def test_embedded_mode_with_one_replica_serves_no_stale_read(tmp_path: Path) -> None:
    replica = ServiceProcess(tmp_path / "embedded").start()
    try:
        verdict, _ = run(Target([replica]), Plan(duration_s=15, seed=21), ("pause",))
    finally:
        replica.stop()
    assert verdict.clean, _verdict_message(verdict)
    assert verdict.counts()["judged_reads"] > 500, verdict.counts()
