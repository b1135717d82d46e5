"""Restore drills: a backup taken under load holds every memory acknowledged before it started, and a
service started on the restored files finds them all (embedded SQLite, and PostgreSQL by pg_dump)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from jean_memory_dev.processes import PostgresServer, ServiceProcess
from tests.helpers import AddStream, all_ids, wait_shipped, wait_until

pytestmark = pytest.mark.slow


def jean_memory(*args: str, data_dir: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """The `jean-memory` command, as an operator runs it beside the service (its own process)."""
    return subprocess.run(
        [sys.executable, "-m", "jean_memory", *args],
        env={**os.environ, "JM_DATA_DIR": str(data_dir), **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


class LatencyProbe:
    """Single adds in a loop, timing each: what a client sees while something else happens."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.samples: list[tuple[float, float]] = []  # (when, seconds)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with httpx.Client(base_url=self.url, timeout=30) as c:
            n = 0
            while not self._stop.is_set():
                n += 1
                start = time.perf_counter()
                c.post("/v1/memories", json={"user_id": "probe", "content": f"probe {n}"})
                self.samples.append((time.monotonic(), time.perf_counter() - start))
                time.sleep(0.005)

    def between(self, start: float, end: float) -> list[float]:
        return [s for t, s in self.samples if start <= t <= end]

    def start(self) -> LatencyProbe:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)


def test_backup_under_load_then_restore(tmp_path: Path) -> None:
    source = tmp_path / "source"
    # A shuttle slower than the load: the journal holds a backlog while the backup runs, so both files matter.
    svc = ServiceProcess(source, env={"JM_SHUTTLE_BATCH_SIZE": "200", "JM_SHUTTLE_MAX_WAIT_MS": "200"}).start()
    try:
        stream = AddStream(svc.url, "drill").start()
        probe = LatencyProbe(svc.url).start()
        wait_until(lambda: len(stream.acked) > 3000, 60, "load before the backup")
        acked_before = dict(stream.acked)  # acknowledged before the backup started
        began = time.monotonic()
        made = jean_memory("backup", str(tmp_path / "backup"), data_dir=source)
        ended = time.monotonic()
        time.sleep(1.0)
        acked = stream.stop()
        probe.stop()
        assert made.returncode == 0, made.stderr
        assert not stream.errors, stream.errors[:5]
        during = probe.between(began, ended)
        before = probe.between(0, began)
        print(
            f"backup of {len(acked_before)}+ memories under load: {ended - began:.2f} s (the command); "
            f"{made.stdout.strip()}; probe add p50/max {sorted(before)[len(before) // 2] * 1000:.1f}/"
            f"{max(before) * 1000:.1f} ms before, max {max(during, default=0) * 1000:.1f} ms during"
        )
        assert max(during, default=0) < 1.0, "the backup never blocked the service for long"
    finally:
        svc.stop()

    restored = tmp_path / "restored"
    done = jean_memory("restore", str(tmp_path / "backup"), data_dir=restored)
    assert done.returncode == 0, done.stderr
    again = ServiceProcess(restored).start()
    try:
        with httpx.Client(base_url=again.url, timeout=30) as c:
            listed = all_ids(c, "drill")
            assert len(listed) == len(set(listed)), "no duplicates"
            missing = set(acked_before) - set(listed)
            assert not missing, f"{len(missing)} memories acknowledged before the backup are missing"
            assert set(listed) <= set(acked), "nothing that was never acknowledged"
            mid, text = next(iter(acked_before.items()))
            assert c.get(f"/v1/memories/{mid}", params={"user_id": "drill"}).json()["content"] == text
            hits = c.post("/v1/search", json={"user_id": "drill", "query": text, "k": 3}).json()["results"]
            assert mid in [h["id"] for h in hits]
            wait_shipped(again.url)
        print(f"restored: {len(listed)} memories ({len(acked_before)} acknowledged before the backup started)")
    finally:
        again.stop()

    refused = jean_memory("restore", str(tmp_path / "backup"), data_dir=restored)
    assert refused.returncode == 1 and "is not empty" in refused.stderr and "--force" in refused.stderr
    assert jean_memory("restore", str(tmp_path / "backup"), "--force", data_dir=restored).returncode == 0


def test_a_damaged_backup_is_refused(tmp_path: Path) -> None:
    data = tmp_path / "data"
    svc = ServiceProcess(data).start()
    try:
        items = [{"content": f"memory {i}"} for i in range(50)]
        httpx.post(f"{svc.url}/v1/memories/batch", json={"user_id": "u", "items": items}).raise_for_status()
        assert jean_memory("backup", str(tmp_path / "backup"), data_dir=data).returncode == 0
        again = jean_memory("backup", str(tmp_path / "backup"), data_dir=data)
        assert again.returncode == 1 and "not empty" in again.stderr
    finally:
        svc.stop()
    with (tmp_path / "backup" / "ltm.db").open("r+b") as f:
        f.seek(4096 + 100)
        f.write(b"\xff" * 16)
    refused = jean_memory("restore", str(tmp_path / "backup"), data_dir=tmp_path / "fresh")
    assert refused.returncode == 1 and "damaged" in refused.stderr
    assert not (tmp_path / "fresh" / "ltm.db").exists()


def _pg(name: str) -> str:
    for version in ("17", "16", "15"):
        path = Path(f"/usr/lib/postgresql/{version}/bin/{name}")
        if path.exists():
            return str(path)
    found = shutil.which(name)
    if not found:
        pytest.skip(f"{name} not installed")
    return found


@pytest.mark.postgres
def test_pg_dump_restore_into_a_fresh_server(tmp_path: Path) -> None:
    first = PostgresServer().init().start()
    second: PostgresServer | None = None
    try:
        svc = ServiceProcess(tmp_path / "a", env={"JM_LTM_URL": first.url}).start()
        ids: dict[str, list[str]] = {}
        try:
            with httpx.Client(base_url=svc.url, timeout=30) as c:
                for u in range(5):
                    items = [{"content": f"user {u} remembers item {i}"} for i in range(200)]
                    r = c.post("/v1/memories/batch", json={"user_id": f"pg{u}", "items": items})
                    ids[f"pg{u}"] = r.json()["ids"]
                wait_shipped(svc.url)
        finally:
            svc.stop()
        dump = tmp_path / "store.dump"
        subprocess.run([_pg("pg_dump"), "-Fc", "-f", str(dump), first.url], check=True, timeout=120)
        second = PostgresServer().init().start()
        subprocess.run([_pg("pg_restore"), "--no-owner", "-d", second.url, str(dump)], check=True, timeout=120)
        fresh = ServiceProcess(tmp_path / "b", env={"JM_LTM_URL": second.url}).start()
        try:
            with httpx.Client(base_url=fresh.url, timeout=30) as c:
                for user, expected in ids.items():
                    assert sorted(all_ids(c, user)) == sorted(expected)
                hits = c.post("/v1/search", json={"user_id": "pg3", "query": "user 3 remembers item 7", "k": 1})
                assert hits.json()["results"][0]["id"] == ids["pg3"][7]
        finally:
            fresh.stop()
    finally:
        first.destroy()
        if second is not None:
            second.destroy()
