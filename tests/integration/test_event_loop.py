"""No blocking call on the event loop: every operation, in asyncio debug mode, with no slow callback.

The service runs with `JM_SLOW_CALLBACK_MS`, so asyncio logs any callback that holds the loop
longer (a blocking call would hold it for the call's whole duration). The workload
touches every path that runs on the loop: batch and single adds, searches hot and cold (promotion
of a user with thousands of memories after a restart), get, list, delete, and the background work
that follows (shuttle batches, vector indexing, the GC policy's freeze).
"""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from tests.conftest import StartService
from tests.helpers import add_batch, metric, wait_shipped

#: Debug mode itself slows the loop (it records a traceback for every future created: a 1,000-item
#: batch add, ~25 ms normally, takes ~180 ms in debug mode), so the bar is 250 ms: far above any
#: healthy step, far below what a blocking call on a loaded store or a large promotion would take.
DEBUG = {"JM_SLOW_CALLBACK_MS": "250"}


def _slow_callbacks(logs: str) -> list[str]:
    return [line for line in logs.splitlines() if "Executing" in line and "took" in line]


def test_no_operation_blocks_the_event_loop(start_service: StartService, tmp_path: Path) -> None:
    data = tmp_path / "data"
    svc = start_service(DEBUG, data_dir=data)
    with httpx.Client(base_url=svc.url, timeout=60) as c:
        for batch in range(5):
            items = [{"content": f"note {batch}-{i} about the garden and the budget"} for i in range(1000)]
            assert add_batch(c, "big", items).status_code == 201
        ids = [c.post("/v1/memories", json={"user_id": f"u{i % 10}", "content": f"memory {i}"}).json()["id"]
               for i in range(200)]  # fmt: skip
        for i in range(200):
            assert c.post("/v1/search", json={"user_id": f"u{i % 10}", "query": f"memory {i}"}).status_code == 200
        assert c.get(f"/v1/memories/{ids[0]}", params={"user_id": "u0"}).status_code == 200
        assert c.get("/v1/memories", params={"user_id": "big", "limit": 100}).status_code == 200
        assert c.delete(f"/v1/memories/{ids[0]}", params={"user_id": "u0"}).status_code == 204
        wait_shipped(svc.url)
        time.sleep(2.5)  # housekeeping: the GC policy's freeze, eviction checks
        assert metric(svc.url, "jm_event_loop_lag_seconds_count") > 0
    assert _slow_callbacks(svc.logs()) == []
    svc.stop()

    cold = start_service({**DEBUG, "JM_STM_WARM_USERS": "0"}, data_dir=data, port=svc.port)
    with httpx.Client(base_url=cold.url, timeout=60) as c:
        r = c.post("/v1/search", json={"user_id": "big", "query": "garden budget"})  # promotes 5,000 memories
        assert r.status_code == 200 and r.json()["results"]
        time.sleep(1.5)
    assert _slow_callbacks(cold.logs()) == []
