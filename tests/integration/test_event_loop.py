"""No operation holds the event loop: every callback of every operation, against a bar set in this run.

Every request of every tenant shares one event loop, so one callback that computes for long stalls all
of them. The service runs with `JM_SLOW_CALLBACK_MS` set, which times every callback it runs (in CPU
time and wall time, by operation: `telemetry/loopholds.py`), while the workload touches every path that
runs on the loop at the API's limits: batch adds of short and of maximum-size items, a deduplicated
batch, single adds, searches hot and cold (the promotion of a user with thousands of memories after a
restart), get, list, PATCH, delete, export and forget of a large user, the metrics scrape, and the
background work they cause (embedding, vector delivery, the shuttle, the GC policy's freeze).

The bar is exact, not lucky: a hold is measured in the loop thread's CPU time, which does not grow when
the machine is busy and the thread waits for a core, and it is compared with a calibration taken in the
same run on the same machine (`calibrate`: a fixed piece of pure-Python work; the median of nine taken
across the run, `Calibrations`), so a slower machine raises both together. The bar, `BAR_UNITS`
calibrations, is about 8 ms of CPU on this project's machine (asyncio's debug mode allowed 250 ms
before); a 1,000-item batch held the loop for 74 ms of CPU, 580 ms with dedupe, before the batch path
gave it back.
"""

from __future__ import annotations

import json
import statistics
import time
from pathlib import Path
from typing import Any

import httpx

from tests.conftest import StartService
from tests.helpers import add_batch, metric, wait_shipped

#: Longest callback allowed, in units of `calibrate()` (one unit is about half a millisecond here). What
#: is left under it is measured in docs/performance.md: with FAISS's storage grown by a worker thread (it
#: copied every vector on the loop, 4 to 7 ms at 4,100), the longest are a batch's slices and the list of
#: 1,000 memories, 3 to 6 ms of CPU on a machine whose other core is busy.
BAR_UNITS = 15.0
TIMED = {"JM_SLOW_CALLBACK_MS": "1000"}


def _reference_work() -> int:
    total = 0
    for i in range(5000):
        total += len(str(i * 7919))
    return total + len(json.loads(json.dumps([{"id": i, "text": "x" * 50} for i in range(150)])))


def calibrate(runs: int = 30) -> float:
    """CPU time of a fixed piece of work on this machine now: the best of `runs` (seconds)."""
    best = float("inf")
    for _ in range(runs):
        start = time.thread_time()
        _reference_work()
        best = min(best, time.thread_time() - start)
    return best


class Calibrations:
    """Calibrations taken at several moments of one run, the workload's steps between them; the unit is
    their median. One calibration alone came out at twice the usual on an unlucky run, which doubled that
    run's bar; slow phases last seconds (three in a row at the end of a run, 20 runs at load 3 to 7, the
    other core busy), so the calibrations are spread over the whole run, not taken together."""

    def __init__(self) -> None:
        self.taken: list[float] = []

    def take(self) -> None:
        self.taken.append(calibrate())

    def unit(self) -> float:
        self.take()
        return statistics.median(self.taken)


def _over_bar(report: dict[str, dict[str, Any]], bar_s: float) -> dict[str, str]:
    return {
        op: f"{1e3 * hold['max_cpu_s']:.2f} ms CPU ({1e3 * hold['max_wall_s']:.2f} ms wall): {hold['longest']}"
        for op, hold in report.items()
        if hold["max_cpu_s"] > bar_s
    }


def test_calibration_is_stable() -> None:
    """The unit itself: two calibrations in a row agree, so the bar does not move between them."""
    first, second = calibrate(), calibrate()
    assert 0.5 < first / second < 2.0, (first, second)


def test_no_operation_holds_the_event_loop(start_service: StartService, tmp_path: Path) -> None:
    calibrations = Calibrations()
    calibrations.take()
    data = tmp_path / "data"
    svc = start_service({**TIMED, "JM_STM_PARTIAL_USER_VECTORS": "4000"}, data_dir=data)
    with httpx.Client(base_url=svc.url, timeout=120) as c:
        c.delete("/debug/loop-holds")  # from ready on: start-up serves no request
        for batch in range(5):
            items = [{"content": f"note {batch}-{i} about the garden and the budget"} for i in range(1000)]
            assert add_batch(c, "big", items).status_code == 201
        calibrations.take()
        largest = {"content": "word " * 6500, "metadata": {"note": "m" * 8000}}
        assert add_batch(c, "largest", [largest] * 1000).status_code == 201
        calibrations.take()
        dup = [{"content": f"a repeated thought number {i % 300}"} for i in range(1000)]
        r = c.post("/v1/memories/batch", json={"user_id": "dedupe", "items": dup, "dedupe": True})
        assert r.status_code == 201 and sum(r.json()["deduplicated"]) >= 700
        ids = [c.post("/v1/memories", json={"user_id": f"u{i % 10}", "content": f"memory {i}"}).json()["id"]
               for i in range(200)]  # fmt: skip
        calibrations.take()
        for i in range(200):
            assert c.post("/v1/search", json={"user_id": f"u{i % 10}", "query": f"memory {i}"}).status_code == 200
        calibrations.take()
        assert c.get(f"/v1/memories/{ids[0]}", params={"user_id": "u0"}).status_code == 200
        assert c.patch(f"/v1/memories/{ids[1]}", params={"user_id": "u1"}, json={"content": "new"}).status_code == 200
        assert c.get("/v1/memories", params={"user_id": "big", "limit": 1000}).status_code == 200
        assert c.get("/v1/memories/export", params={"user_id": "big"}).content.count(b"\n") == 5000
        assert c.delete(f"/v1/memories/{ids[0]}", params={"user_id": "u0"}).status_code == 204
        wait_shipped(svc.url)
        time.sleep(2.5)  # housekeeping: the GC policy's freeze, eviction checks
        assert metric(svc.url, "jm_event_loop_lag_seconds_count") > 0
        first = c.get("/debug/loop-holds").json()
    svc.stop()
    calibrations.take()

    cold = start_service({**TIMED, "JM_STM_WARM_USERS": "0", "JM_STM_PARTIAL_USER_VECTORS": "4000"},
                         data_dir=data, port=svc.port)  # fmt: skip
    with httpx.Client(base_url=cold.url, timeout=120) as c:
        c.delete("/debug/loop-holds")
        r = c.post("/v1/search", json={"user_id": "big", "query": "garden budget"})  # partially resident now
        assert r.status_code == 200 and r.json()["results"]
        assert c.get("/v1/memories", params={"user_id": "big", "limit": 1000}).status_code == 200
        assert c.get("/v1/memories/export", params={"user_id": "big"}).content.count(b"\n") == 5000
        calibrations.take()
        r = c.post("/v1/search", json={"user_id": "u3", "query": "memory 3"})  # a whole user promoted
        assert r.status_code == 200 and r.json()["results"]
        calibrations.take()
        assert c.delete("/v1/memories", params={"user_id": "big"}).status_code == 200
        wait_shipped(cold.url)
        time.sleep(1.5)
        second = c.get("/debug/loop-holds").json()
    unit = calibrations.unit()
    bar = BAR_UNITS * unit
    worst = max(hold["max_cpu_s"] for hold in (*first.values(), *second.values()))
    print(f"longest callback {1e3 * worst:.2f} ms CPU ({worst / unit:.1f} units); bar {1e3 * bar:.2f} ms "
          f"({BAR_UNITS:g} x {1e3 * unit:.3f} ms, the median of " + ", ".join(f"{1e3 * u:.3f}" for u in
          calibrations.taken) + ")")  # fmt: skip
    ranked = sorted((*first.items(), *second.items()), key=lambda kv: -kv[1]["max_cpu_s"])
    for op, hold in ranked[:5]:
        print(f"  {1e3 * hold['max_cpu_s']:6.2f} ms CPU ({1e3 * hold['max_wall_s']:6.2f} wall) {op}: "
              f"{hold['longest'][-300:]}")  # fmt: skip
    assert {"POST /v1/memories/batch", "GET /v1/memories/export", "task embedding-worker"} <= set(first)
    assert _over_bar(first, bar) == {}, f"bar {1e3 * bar:.2f} ms ({BAR_UNITS} x {1e3 * unit:.2f} ms)"
    assert _over_bar(second, bar) == {}, f"bar {1e3 * bar:.2f} ms ({BAR_UNITS} x {1e3 * unit:.2f} ms)"
