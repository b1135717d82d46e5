"""The golden set's recall SLI, end to end: a real service replays a small golden set of its own (two
tenants), recall@1 is exact while ranking is sound, falls under the `noisy_vectors` fault, and comes back
when the fault is cleared; a bad golden set stops the start, naming the line.

The recall is read from the service's own counters (`jm_golden_hits_total / jm_golden_expected_total`)
between two replays, as the recording rules read them; the alert on it is proven by promtool cases
(alerts/tests) and in the full fire drill (`noisy_vectors`).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from jean_memory_dev.processes import ServiceProcess, free_port
from tests.helpers import add_batch, metric, wait_until

ADMIN = "golden-admin-token-0123456789"
DEFAULT_KEY = "d" * 40
ACME_KEY = "a" * 40
USERS = (("", "golden-ann", DEFAULT_KEY), ("acme", "golden-bob", ACME_KEY))
MEMORIES = 60  # per user: pure noise would find the right one at rank 1 about once in 60 tries
QUERIES = 10  # per user
#: Seconds between replays: a reading taken as one replay ends is far from the next one's start.
INTERVAL_S = 2
NS = uuid.UUID("6b1f3c2e-8a6d-4f0e-9d7a-2c5b1e0f4a11")


def _memories(user: str) -> list[dict[str, str]]:
    """Each memory three words no other memory of the user has; its query is two of them."""
    return [
        {"id": str(uuid.uuid5(NS, f"{user}/{i}")), "content": f"kestrel{i} marigold{i} lantern{i}"}
        for i in range(MEMORIES)
    ]


def _golden_lines() -> list[str]:
    lines = []
    for tenant, user, _ in USERS:
        for i in range(0, MEMORIES, MEMORIES // QUERIES):
            line = {
                "user_id": user,
                "query": f"lantern{i} kestrel{i}",
                "expected_ids": [str(uuid.uuid5(NS, f"{user}/{i}"))],
            }
            lines.append(json.dumps({"tenant": tenant, **line} if tenant else line))
    return lines


def _counters(url: str) -> tuple[float, float, float]:
    """(hits, expected, last replay's end) from one scrape: one consistent reading."""
    text = httpx.get(f"{url}/metrics", timeout=10).text
    values = {s.name: s.value for f in text_string_to_metric_families(text) for s in f.samples if not s.labels}
    return (
        values["jm_golden_hits_total"],
        values["jm_golden_expected_total"],
        values["jm_golden_last_run_timestamp_seconds"],
    )


def _recall_over_next_runs(url: str, runs: int = 2) -> float:
    """Recall over the next `runs` whole replays. Each reading is the first scrape that sees a replay's end:
    a replay is counted search by search as it goes, and the next one starts INTERVAL_S later, so that
    scrape holds every search of the replay that ended and none of the next."""

    def after_a_run() -> tuple[float, float, float]:
        last = _counters(url)[2]
        seen: list[tuple[float, float, float]] = []

        def ended() -> bool:
            seen.append(_counters(url))
            return seen[-1][2] > last

        wait_until(ended, 30, "a replay of the golden set to finish", interval_s=0.05)
        return seen[-1]

    hits0, expected0, _ = after_a_run()
    for _ in range(runs - 1):
        after_a_run()
    hits1, expected1, _ = after_a_run()
    assert expected1 - expected0 == runs * len(USERS) * QUERIES, "a reading split a replay"
    return (hits1 - hits0) / (expected1 - expected0)


def test_recall_drops_under_noisy_query_vectors_and_recovers(tmp_path: Path) -> None:
    golden = tmp_path / "golden.ndjson"
    golden.write_text("# two tenants' users, seeded below\n" + "\n".join(_golden_lines()) + "\n")
    env = {
        "JM_API_KEYS": f"{DEFAULT_KEY},{ACME_KEY}:acme",
        "JM_GOLDEN_SET": str(golden),
        "JM_GOLDEN_INTERVAL_S": str(INTERVAL_S),
        "JM_GOLDEN_K": "1",
        "JM_FAULTS_ENABLED": "true",
        "JM_ADMIN_TOKEN": ADMIN,
    }
    svc = ServiceProcess(tmp_path / "data", env=env).start()
    try:
        for _, user, key in USERS:
            with httpx.Client(base_url=svc.url, headers={"Authorization": f"Bearer {key}"}, timeout=30) as c:
                add_batch(c, user, _memories(user))
        assert metric(svc.url, "jm_golden_set_queries") == len(USERS) * QUERIES
        assert metric(svc.url, "jm_golden_k") == 1

        assert _recall_over_next_runs(svc.url) == 1.0

        admin = {"Authorization": f"Bearer {ADMIN}"}
        httpx.put(f"{svc.url}/admin/faults", json={"noisy_vectors": 0.9}, headers=admin).raise_for_status()
        degraded = _recall_over_next_runs(svc.url, runs=3)
        assert degraded < 0.5, degraded

        httpx.delete(f"{svc.url}/admin/faults", headers=admin).raise_for_status()
        assert _recall_over_next_runs(svc.url) == 1.0
        assert metric(svc.url, "jm_golden_queries_total", result="error") == 0
    finally:
        svc.stop()


def test_a_bad_golden_set_stops_the_start_naming_the_line(tmp_path: Path) -> None:
    golden = tmp_path / "golden.ndjson"
    good = json.dumps({"user_id": "u", "query": "private words", "expected_ids": ["a"]})
    bad = json.dumps({"user_id": "u", "query": "secret query text", "expected_ids": []})
    golden.write_text(f"{good}\n\n{bad}\n")
    clean = {k: v for k, v in os.environ.items() if not k.startswith("JM_")}
    env = {
        **clean,
        "JM_EMBEDDER": "hash",
        "JM_DATA_DIR": str(tmp_path / "data"),
        "JM_PORT": str(free_port()),
        "JM_GOLDEN_SET": str(golden),
    }
    result = subprocess.run(
        [sys.executable, "-m", "jean_memory", "serve"], env=env, capture_output=True, text=True, timeout=60
    )
    out = result.stdout + result.stderr
    assert result.returncode != 0, out
    assert f"JM_GOLDEN_SET: {golden} line 3: expected_ids:" in out, out
    assert "secret query text" not in out and "Traceback" not in out, out
