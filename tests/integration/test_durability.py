"""Acknowledged means durable: kill -9 at any moment loses nothing; a restart rebuilds the tiers."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import httpx
import pytest

from jean_memory_dev.processes import ServiceProcess
from tests.helpers import AddStream, all_ids, wait_shipped


@pytest.mark.slow
def test_kill_9_during_adds_loses_no_acknowledged_memory(tmp_path: Path) -> None:
    data = tmp_path / "data"
    svc = ServiceProcess(data).start()
    stream = AddStream(svc.url, "crash-user").start()
    time.sleep(2.0)
    svc.kill()  # kill -9 mid-stream: requests in flight are lost, acknowledged ones must not be
    acked = stream.stop()
    assert len(acked) > 200, "the stream should have had time to write"

    again = ServiceProcess(data, port=svc.port).start()
    try:
        with httpx.Client(base_url=again.url, timeout=30) as c:
            listed = all_ids(c, "crash-user")
            assert len(listed) == len(set(listed)), "no duplicates"
            missing = set(acked) - set(listed)
            assert not missing, f"{len(missing)} acknowledged memories lost"
            for mid in list(acked)[:: max(1, len(acked) // 50)]:
                got = c.get(f"/v1/memories/{mid}", params={"user_id": "crash-user"})
                assert got.status_code == 200 and got.json()["content"] == acked[mid]
            wait_shipped(again.url)
        with sqlite3.connect(data / "ltm.db") as db:
            stored = {r[0] for r in db.execute("SELECT id FROM memories WHERE user_id = 'crash-user'")}
        assert set(acked) <= stored, "everything acknowledged reaches the long-term store"
    finally:
        again.stop()


@pytest.mark.slow
def test_restart_rebuilds_tiers_and_search_from_disk(tmp_path: Path) -> None:
    data = tmp_path / "data"
    svc = ServiceProcess(data).start()
    texts = ["my passport is in the blue drawer", "the wifi password is on the fridge", "dentist on tuesday"]
    with httpx.Client(base_url=svc.url) as c:
        ids = c.post("/v1/memories/batch", json={"user_id": "u", "items": [{"content": t} for t in texts]}).json()[
            "ids"
        ]
        before = c.post("/v1/search", json={"user_id": "u", "query": "where is my passport"}).json()["results"]
        wait_shipped(svc.url)
    svc.stop()
    again = ServiceProcess(data, port=svc.port).start()
    try:
        with httpx.Client(base_url=again.url) as c:
            after = c.post("/v1/search", json={"user_id": "u", "query": "where is my passport"}).json()["results"]
            assert [h["id"] for h in after] == [h["id"] for h in before]
            assert after[0]["id"] == ids[0]
            assert after[0]["score"] == pytest.approx(before[0]["score"], abs=1e-5)
            assert sorted(all_ids(c, "u")) == sorted(ids)
    finally:
        again.stop()
