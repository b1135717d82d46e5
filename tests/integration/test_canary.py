"""The synthetic user against a real service: its rounds succeed through the API with its own tenant's key,
it leaves nothing behind, and its time to searchable rises under the `embed_delay_ms` fault and recovers.

The canary and the service are real processes (`jean-memory canary`, `jean-memory serve`); the canary's
figures are read from its own /metrics, as Prometheus scrapes them. The drill (`make drill`, fault
`embedding_slow`) takes the same fault through Prometheus and Alertmanager to JeanMemoryTimeToSearchableHigh.
"""

from __future__ import annotations

import time
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from jean_memory_dev.processes import CanaryProcess, ServiceProcess, free_port

ADMIN_TOKEN = "canary-test-admin-token-0123456789"
CANARY_KEY = "canary-key-" + "k" * 32
#: Every embedding call this much slower: a round's memory is searchable once it has its vector, so its
#: time to searchable is at least this by construction (a lower bound, not a timing guess).
DELAY_S = 2.0


def figures(canary: CanaryProcess) -> tuple[float, float, float]:
    """(successful rounds, sum of their time to searchable, rounds that did not succeed), from /metrics."""
    text = httpx.get(canary.metrics_url, timeout=5).text
    ok = failed = tts_sum = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "jm_canary_rounds_total":
                if sample.labels["result"] == "success":
                    ok = sample.value
                else:
                    failed += sample.value
            elif sample.name == "jm_canary_time_to_searchable_seconds_sum":
                tts_sum = sample.value
    return ok, tts_sum, failed


def query_embeddings(svc: ServiceProcess) -> float:
    """How many searches needed their query embedded (L2 cache misses), from the service's /metrics."""
    for family in text_string_to_metric_families(httpx.get(f"{svc.url}/metrics", timeout=5).text):
        for sample in family.samples:
            if sample.name == "jm_cache_misses_total" and sample.labels.get("level") == "l2":
                return sample.value
    return 0.0


def rounds(canary: CanaryProcess, since: tuple[float, float, float], n: int, timeout_s: float) -> float:
    """Wait for `n` more successful rounds after `since`; their mean time to searchable."""
    deadline = time.monotonic() + timeout_s
    while True:
        now = figures(canary)
        if now[0] - since[0] >= n:
            return (now[1] - since[1]) / (now[0] - since[0])
        assert time.monotonic() < deadline, f"{n} rounds did not succeed in {timeout_s} s: {now} since {since}"
        time.sleep(0.2)


def test_time_to_searchable_rises_under_an_embedding_delay_and_recovers(tmp_path: Path) -> None:
    env = {
        "JM_FAULTS_ENABLED": "true",
        "JM_ADMIN_TOKEN": ADMIN_TOKEN,
        "JM_API_KEYS": f"{CANARY_KEY}:jm-canary",
    }
    svc = ServiceProcess(tmp_path / "data", env=env).start()
    key_file = tmp_path / "canary-key"
    key_file.write_text(f"# the canary's own key\n{CANARY_KEY}:jm-canary\n")
    canary = CanaryProcess(svc.url, free_port(), tmp_path / "canary.log", api_key_file=key_file, schedule=(0.3, 20.0))
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    try:
        canary.start()
        healthy = rounds(canary, (0.0, 0.0, 0.0), 3, 60)
        # The same question every round: embedded once, then answered from the cache, so the canary does
        # not lower the users' cache hit ratio.
        assert query_embeddings(svc) == 1

        before = figures(canary)
        httpx.put(f"{svc.url}/admin/faults", json={"embed_delay_ms": DELAY_S * 1000}, headers=admin).raise_for_status()
        time.sleep(DELAY_S * 3)  # the round under way when the fault came may have its vectors already
        delayed = rounds(canary, figures(canary), 3, 120)
        assert delayed >= DELAY_S, f"under a {DELAY_S} s embedding delay, time to searchable was {delayed:.3f} s"

        httpx.delete(f"{svc.url}/admin/faults", headers=admin).raise_for_status()
        time.sleep(DELAY_S * 3)  # the round under way when the fault cleared still waits for its batches
        recovered = rounds(canary, figures(canary), 3, 60)
        print(f"time to searchable (mean of 3 rounds): healthy {healthy:.3f} s, delayed {delayed:.3f} s, "
              f"recovered {recovered:.3f} s")  # fmt: skip
        assert recovered < DELAY_S / 2, f"time to searchable stayed {recovered:.3f} s after the fault cleared"
        assert healthy < DELAY_S / 2, f"healthy time to searchable {healthy:.3f} s"
        assert figures(canary)[2] == before[2] == 0, "every round succeeded, delayed or not"
    finally:
        canary.stop()
    try:
        # Nothing left behind, and the canary's user is its tenant's: the default tenant has no such user.
        with httpx.Client(base_url=svc.url, headers={"Authorization": f"Bearer {CANARY_KEY}"}) as c:
            assert c.get("/v1/memories", params={"user_id": "jm-canary"}).json()["items"] == []
    finally:
        svc.stop()
