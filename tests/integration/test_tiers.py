"""The short-term tier stays within its budget by evicting cold users, and loses nothing doing so."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from jean_memory_dev.processes import ServiceProcess
from tests.helpers import all_ids, metric


@pytest.mark.slow
def test_eviction_keeps_budget_and_data(tmp_path: Path) -> None:
    budget = 1 << 20
    svc = ServiceProcess(tmp_path / "data", env={"JM_STM_BUDGET_BYTES": str(budget)}).start()
    try:
        with httpx.Client(base_url=svc.url, timeout=30) as c:
            users = [f"user{i}" for i in range(12)]
            ids: dict[str, list[str]] = {}
            for u in users:
                items = [{"content": f"{u} remembers fact {j}"} for j in range(300)]
                ids[u] = c.post("/v1/memories/batch", json={"user_id": u, "items": items}).json()["ids"]
            for u in users:  # read everyone back: cold users are promoted again
                hits = c.post("/v1/search", json={"user_id": u, "query": f"{u} remembers fact 7", "k": 1}).json()
                assert hits["results"][0]["id"] == ids[u][7]
                assert sorted(all_ids(c, u)) == sorted(ids[u])
        assert metric(svc.url, "jm_stm_evictions_total") > 0
        assert metric(svc.url, "jm_stm_bytes") <= budget
        assert metric(svc.url, "jm_shuttle_promotions_total") >= len(users)
    finally:
        svc.stop()


@pytest.mark.slow
def test_restart_without_warm_up_still_finds_every_memory(tmp_path: Path) -> None:
    """After a restart the Bloom filter is filled from the journal and the store before the service is
    ready; a get of a user who was not warmed up must find the memory (a regression: the filter was once
    filled with bare ids but asked about user-scoped keys, answering 404), and two users sharing one id
    are two memories."""
    env = {"JM_STM_WARM_USERS": "0"}
    data = tmp_path / "data"
    shared_id = "3f0e5a52-6f0b-4a53-9d55-0c5c1b0f0a11"
    svc = ServiceProcess(data, env=env).start()
    with httpx.Client(base_url=svc.url, timeout=30) as c:
        for user in ("alice", "bob"):
            r = c.post("/v1/memories", json={"user_id": user, "id": shared_id, "content": f"{user}'s own memory"})
            assert r.status_code == 201
        unshipped = c.post("/v1/memories", json={"user_id": "carol", "content": "carol's"}).json()["id"]
    svc.stop()
    svc = ServiceProcess(data, env=env).start()
    try:
        with httpx.Client(base_url=svc.url, timeout=30) as c:
            assert metric(svc.url, "jm_stm_users") == 0
            for user in ("alice", "bob"):
                r = c.get(f"/v1/memories/{shared_id}", params={"user_id": user})
                assert r.status_code == 200, r.text
                assert r.json()["content"] == f"{user}'s own memory"
            assert c.get(f"/v1/memories/{unshipped}", params={"user_id": "carol"}).status_code == 200
            assert c.get(f"/v1/memories/{shared_id}", params={"user_id": "carol"}).status_code == 404
    finally:
        svc.stop()
