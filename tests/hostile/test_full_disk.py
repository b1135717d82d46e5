"""A full disk: adds get 507 with Retry-After and nothing acknowledged is lost; reads keep working; the
shuttle retries (never dead-letters); once space returns the service recovers without a restart.

The data folder is on a real 8 MB tmpfs mounted by the test (the tests run as root) and filled by a
filler file, so SQLite meets a real ENOSPC.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import httpx
import pytest

from jean_memory_dev.mixin import load
from jean_memory_dev.processes import ServiceProcess
from tests.helpers import all_ids, metric, new_id, wait_shipped, wait_until

TOKEN = "full-disk-admin-token-0123"
ADMIN = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """An 8 MB tmpfs, unmounted afterwards."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mount = tmp_path / "disk"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(mount)], check=True)
    try:
        yield mount
    finally:
        if subprocess.run(["umount", str(mount)], check=False).returncode != 0:
            subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(path: Path) -> None:
    """Write a file until the filesystem has no block left (unbuffered: a failed flush cannot surprise)."""
    with path.open("wb", buffering=0) as f:
        for size in (65536, 4096, 512):
            try:
                while True:
                    f.write(b"\0" * size)
            except OSError:
                pass


@pytest.mark.slow
def test_full_disk_refuses_adds_keeps_reads_and_recovers(small_disk: Path, tmp_path: Path) -> None:
    # A vector computed while the disk is full may not reach its journal row: the shuttle then waits
    # JM_SHUTTLE_EMBED_WAIT_S (30 s by default) before it ships that memory without one.
    env = {
        "JM_FAULTS_ENABLED": "true",
        "JM_ADMIN_TOKEN": TOKEN,
        "JM_SHUTTLE_BACKOFF_MAX_S": "1",
        "JM_SHUTTLE_EMBED_WAIT_S": "2",
    }
    svc = ServiceProcess(small_disk / "data", env=env, log_path=tmp_path / "service.log").start()
    assert svc.proc is not None
    pid = svc.proc.pid
    acked: dict[str, str] = {}
    try:
        with httpx.Client(base_url=svc.url, timeout=30) as c:

            def add(text: str) -> httpx.Response:
                mid = new_id()
                r = c.post("/v1/memories", json={"user_id": "disk", "id": mid, "content": text})
                if r.status_code == 201:
                    acked[mid] = text
                return r

            # Memories the store has not received yet when the disk fills: the shuttle must keep them.
            assert c.put("/admin/faults", json={"ltm_unreachable": True}, headers=ADMIN).status_code == 200
            for i in range(150):
                assert add(f"before the disk filled {i} " + "p" * 3000).status_code == 201
            fill(small_disk / "filler")
            assert metric(svc.url, "jm_disk_free_bytes") < 64 * 1024
            # What JeanMemoryDiskAlmostFull compares (the drill cannot fill the host's disk: this test is its drill).
            ratio = metric(svc.url, "jm_disk_free_bytes") / metric(svc.url, "jm_disk_total_bytes")
            assert ratio < load().thresholds.disk_free_ratio_min

            refused = None
            for i in range(2000):  # the WAL's free frames take a few more adds first
                r = add(f"while the disk is full {i} " + "q" * 3000)
                if r.status_code == 507:
                    refused = r
                    break
                assert r.status_code == 201, r.text
            assert refused is not None, "adds are refused once the journal cannot grow"
            assert refused.headers["retry-after"] == "30"
            assert "disk holding the journal is full" in refused.json()["detail"]
            batch = [{"content": f"a batch on a full disk {i} " + "b" * 3000} for i in range(20)]
            assert c.post("/v1/memories/batch", json={"user_id": "disk", "items": batch}).status_code == 507

            # The store cannot grow either: the shuttle retries, and parks nothing.
            assert c.delete("/admin/faults", headers=ADMIN).status_code == 200
            retries = metric(svc.url, "jm_shuttle_retries_total")
            wait_until(lambda: metric(svc.url, "jm_shuttle_retries_total") > retries + 2, 30, "the shuttle to retry")
            assert metric(svc.url, "jm_shuttle_pending") > 0
            assert metric(svc.url, "jm_shuttle_dead_letters_total") == 0

            # Reads keep working (a promotion reads the store: reads need no space).
            some = next(iter(acked))
            assert c.get(f"/v1/memories/{some}", params={"user_id": "disk"}).json()["content"] == acked[some]
            assert set(all_ids(c, "disk")) == set(acked)
            assert c.post("/v1/search", json={"user_id": "disk", "query": "before the disk filled"}).status_code == 200

            # Space returns: adds succeed again and the backlog ships, without a restart.
            (small_disk / "filler").unlink()
            wait_until(lambda: add("after the disk was freed").status_code == 201, 10, "adds to succeed again")
            wait_shipped(svc.url, timeout_s=30)
            assert set(all_ids(c, "disk")) == set(acked)
            assert metric(svc.url, "jm_shuttle_dead_letters_total") == 0
        assert svc.proc.pid == pid and svc.proc.poll() is None, "the same process, never restarted"
    finally:
        svc.stop()
    with closing(sqlite3.connect(small_disk / "data" / "ltm.db")) as db:
        stored = {r[0] for r in db.execute("SELECT id FROM memories WHERE user_id = 'disk'")}
    assert stored == set(acked), "every acknowledged memory reached the store"
