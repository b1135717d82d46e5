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
