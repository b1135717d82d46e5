"""A remote instance of this service as the store of record, killed mid-run."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from jean_memory_dev.processes import ServiceProcess
from tests.helpers import AddStream, all_ids, metric, wait_shipped, wait_until

pytestmark = pytest.mark.slow

KEY = "central-key-of-at-least-32-chars"


def test_remote_store_killed_mid_run(tmp_path: Path) -> None:
    remote = ServiceProcess(tmp_path / "remote", env={"JM_API_KEYS": KEY}).start()
    env = {"JM_LTM_URL": remote.url, "JM_LTM_API_KEY": KEY, "JM_LTM_TIMEOUT_S": "1"}
    local = ServiceProcess(tmp_path / "local", env=env).start()
    try:
        stream = AddStream(local.url, "edge-user", threads=3).start()
        wait_until(lambda: len(stream.acked) > 100, 30, "some writes before the outage")
        remote.kill()
        before = len(stream.acked)
        wait_until(lambda: len(stream.acked) > before + 300, 60, "writes acknowledged during the outage")
        wait_until(lambda: metric(local.url, "jm_shuttle_retries_total") > 0, 30, "the shuttle to retry")
        assert metric(local.url, "jm_ltm_up", store="http") == 0
        remote.start()
        acked = stream.stop()
        assert not stream.errors, stream.errors[:5]
        wait_shipped(local.url, timeout_s=90)
        with httpx.Client(base_url=remote.url, headers={"Authorization": f"Bearer {KEY}"}, timeout=30) as c:
            ids = all_ids(c, "edge-user")
        assert len(ids) == len(set(ids)) == len(acked), "every acknowledged write in the remote exactly once"
        assert set(ids) == set(acked)
    finally:
        local.stop()
        remote.stop()


def test_graceful_stop_ships_and_remote_promotion_reembeds(tmp_path: Path) -> None:
    remote = ServiceProcess(tmp_path / "remote").start()
    try:
        first = ServiceProcess(tmp_path / "a", env={"JM_LTM_URL": remote.url}).start()
        with httpx.Client(base_url=first.url) as c:
            items = [{"content": "the spare key is under the flower pot"}, {"content": "bins go out on monday"}]
            r = c.post("/v1/memories/batch", json={"user_id": "u", "items": items})
            assert r.status_code == 201
            ids = r.json()
        first.stop()  # a graceful stop ships the journal to the store before exiting
    except Exception:
        remote.stop()
        raise
    second = ServiceProcess(tmp_path / "b", env={"JM_LTM_URL": remote.url}).start()
    try:
        with httpx.Client(base_url=second.url) as c:
            hits = c.post("/v1/search", json={"user_id": "u", "query": "where is the spare key", "k": 1}).json()
            assert hits["results"][0]["content"] == "the spare key is under the flower pot"
            assert hits["results"][0]["id"] == ids["ids"][0]
    finally:
        second.stop()
        remote.stop()
