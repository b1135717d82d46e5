"""The journal gives its space back once a backlog drains (it kept its peak size before: 309 MB for an
empty journal after 200,000 adds), and the disk bytes each memory costs are measured."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from contextlib import closing
from pathlib import Path

import httpx
import pytest

from jean_memory.memory import Memory
from jean_memory.storage.journal import Journal
from jean_memory_dev.processes import ServiceProcess
from tests.helpers import add_batch, metric, wait_shipped, wait_until
from tests.hostile.test_backup_restore import LatencyProbe

TOKEN = "hygiene-admin-token-0123"
ADMIN = {"Authorization": f"Bearer {TOKEN}"}
CONTENT = "Alice prefers window seats on long flights and always books the 7 am train to Lyon. "  # ~90 bytes


def journal_bytes(data: Path) -> int:
    """The journal's file and its WAL (truncated once a drained backlog's pages are handed back)."""
    return sum(p.stat().st_size for p in data.glob("journal.db*") if not p.name.endswith("-shm"))


@pytest.mark.slow
def test_journal_shrinks_after_a_backlog_drains(tmp_path: Path) -> None:
    data = tmp_path / "data"
    env = {"JM_FAULTS_ENABLED": "true", "JM_ADMIN_TOKEN": TOKEN, "JM_EMBEDDING_DIM": "384"}
    svc = ServiceProcess(data, env=env).start()
    try:
        with httpx.Client(base_url=svc.url, timeout=60) as c:
            empty = journal_bytes(data)
            c.put("/admin/faults", json={"ltm_unreachable": True}, headers=ADMIN).raise_for_status()
            users, per_batch = 40, 1000
            for u in range(users):
                items = [{"content": f"{CONTENT}#{u}-{i}", "metadata": {"kind": "travel"}} for i in range(per_batch)]
                add_batch(c, f"user{u}", items)
            n = users * per_batch
            wait_until(lambda: metric(svc.url, "jm_shuttle_pending") == n, 30, "the backlog to be journaled")
            peak = journal_bytes(data)
            probe = LatencyProbe(svc.url).start()
            try:
                began = time.monotonic()
                c.delete("/admin/faults", headers=ADMIN).raise_for_status()
                wait_shipped(svc.url, timeout_s=60)
                drained = time.monotonic()
                # The file and its WAL: the last TRUNCATE checkpoint may meet a reader (the shuttle's), and
                # is then retried when the journal is next idle (storage/vacuum.truncate_wal).
                wait_until(
                    lambda: (data / "journal.db").stat().st_size < 1 << 20 and journal_bytes(data) < 6 << 20,
                    30,
                    "the journal to shrink under 1 MB and, with its WAL, under 6 MB",
                )
                shrunk = time.monotonic()
            finally:
                probe.stop()
            after = journal_bytes(data)
            latencies = probe.between(began, shrunk)
    finally:
        svc.stop()
    store = (data / "ltm.db").stat().st_size  # at rest: the service stopped, its WAL checkpointed away
    with closing(sqlite3.connect(data / "ltm.db")) as db:
        stored = db.execute("SELECT count(*) FROM memories").fetchone()[0]
    assert stored >= n
    print(
        f"journal: {empty / 1e6:.2f} MB empty, {peak / 1e6:.1f} MB with {n} pending ({peak / n:.0f} bytes per "
        f"memory), {after / 1e6:.2f} MB with its WAL {shrunk - drained:.1f} s after the drain, which took "
        f"{drained - began:.1f} s; "
        f"store at rest: {store / 1e6:.1f} MB for {stored} ({store / stored:.0f} bytes per memory); "
        f"adds meanwhile: max {max(latencies) * 1000:.1f} ms over {len(latencies)}"
    )
    assert peak > 40 << 20, "the backlog made the journal large"
    assert after < 6 << 20, "the file and its WAL handed their pages back"


def test_an_old_journal_is_switched_to_incremental_vacuum(tmp_path: Path) -> None:
    path = tmp_path / "journal.db"

    async def write_then_read() -> list[str]:
        journal = Journal(path)
        await journal.start()
        try:
            await journal.append([("upsert", Memory(f"m{i}", "u", f"text {i}", {}, 0.5, 1.0)) for i in range(100)])
            return [op.memory.id for op in await journal.read_after(0, 1000)]
        finally:
            await journal.close()

    with closing(sqlite3.connect(path)) as old:  # made before auto-vacuum: tables exist, auto_vacuum NONE
        old.execute("CREATE TABLE legacy_marker (x)")
        assert old.execute("PRAGMA auto_vacuum").fetchone()[0] == 0
    ids = asyncio.run(write_then_read())
    assert len(ids) == 100
    with closing(sqlite3.connect(path)) as db:
        assert db.execute("PRAGMA auto_vacuum").fetchone()[0] == 2, "incremental after one VACUUM"
        assert db.execute("SELECT count(*) FROM journal").fetchone()[0] == 100
