"""Fault injection wraps the use cases at their edges; admission refuses what the backlogs cannot take."""

from __future__ import annotations

import time

from starlette.testclient import TestClient

from tests.core.conftest import MakeClient
from tests.helpers import wait_until

TOKEN = "in-process-admin-token-0123"


def test_injected_errors_and_the_store_outage(make_client: MakeClient) -> None:
    c = make_client(faults_enabled=True, admin_token=TOKEN)
    admin = {"Authorization": f"Bearer {TOKEN}"}
    assert c.put("/admin/faults", json={"error_ratio": {"add": 1.0}}).status_code == 401
    assert c.put("/admin/faults", json={"error_ratio": {"add": 1.0}}, headers=admin).status_code == 200
    assert c.post("/v1/memories", json={"user_id": "f", "content": "x"}).status_code == 500
    assert c.post("/v1/search", json={"user_id": "f", "query": "x"}).status_code == 200
    assert c.put("/admin/faults", json={"ltm_unreachable": True}, headers=admin).status_code == 200
    assert c.post("/v1/memories", json={"user_id": "f", "content": "journaled"}).status_code == 201
    r = c.get("/v1/memories", params={"user_id": "cold-user"})
    assert r.status_code == 503 and "retry-after" in r.headers
    assert c.delete("/admin/faults", headers=admin).json()["ltm_unreachable"] is False
    assert c.get("/v1/memories", params={"user_id": "cold-user"}).status_code == 200


def test_noisy_query_vectors_degrade_ranking_and_leave_nothing_behind(make_client: MakeClient) -> None:
    """Under `noisy_vectors` a repeated search is ranked again with a noisy query vector (the caches were
    emptied, so the sound answer is not served from them); once cleared, the very same answer as before
    (the caches were emptied again, and the stored vectors were never touched)."""
    c = make_client(faults_enabled=True, admin_token=TOKEN)
    admin = {"Authorization": f"Bearer {TOKEN}"}
    items = [{"content": f"heron{i} cobalt{i} orchard{i}"} for i in range(20)]
    assert c.post("/v1/memories/batch", json={"user_id": "n", "items": items}).status_code == 201
    query = {"user_id": "n", "query": "orchard7 heron7", "k": 3}

    def ranked() -> bool:
        return all(r["tier"] != "pending" for r in c.post("/v1/search", json=query).json()["results"])

    wait_until(ranked, 10, "every memory to have its vector")
    sound = c.post("/v1/search", json=query).json()["results"]
    assert sound[0]["content"] == "heron7 cobalt7 orchard7"
    assert c.post("/v1/search", json=query).json()["results"] == sound  # cached (L1)
    assert c.put("/admin/faults", json={"noisy_vectors": 1.0}, headers=admin).status_code == 200
    noisy = c.post("/v1/search", json=query).json()["results"]
    assert [r["score"] for r in noisy] != [r["score"] for r in sound]
    assert c.delete("/admin/faults", headers=admin).json()["noisy_vectors"] == 0
    assert c.post("/v1/search", json=query).json()["results"] == sound
    assert c.put("/admin/faults", json={"noisy_vectors": 1.5}, headers=admin).status_code == 422


def test_fault_routes_do_not_exist_unless_enabled(client: TestClient) -> None:
    assert client.put("/admin/faults", json={}).status_code == 404


def test_shuttle_backlog_full_is_503(make_client: MakeClient) -> None:
    c = make_client(journal_max_pending=3, faults_enabled=True, admin_token=TOKEN, shutdown_drain_s=0)
    c.put("/admin/faults", json={"ltm_unreachable": True}, headers={"Authorization": f"Bearer {TOKEN}"})
    codes = [c.post("/v1/memories", json={"user_id": "b", "content": f"w{i}"}).status_code for i in range(5)]
    assert codes[:3] == [201, 201, 201] and codes[3:] == [503, 503]
    assert 'reason="shuttle_backlog"} 2.0' in c.get("/metrics").text


def test_slow_commits_delay_every_acknowledged_write(make_client: MakeClient) -> None:
    """`commit_pause_ms` in embedded mode: the journal's thread answers each commit that much later (a slow
    disk's fsync), inline commits included (they stand aside for the thread), so an add is acknowledged no
    sooner; cleared, the pause is gone."""
    c = make_client(faults_enabled=True, admin_token=TOKEN)
    admin = {"Authorization": f"Bearer {TOKEN}"}
    assert c.put("/admin/faults", json={"commit_pause_ms": 300}, headers=admin).status_code == 200
    for content in ("first", "second"):  # the second finds the writer idle: it would have gone inline
        start = time.perf_counter()
        assert c.post("/v1/memories", json={"user_id": "s", "content": content}).status_code == 201
        assert time.perf_counter() - start >= 0.3
    assert c.delete("/admin/faults", headers=admin).json()["commit_pause_ms"] == 0
    assert c.post("/v1/memories", json={"user_id": "s", "content": "third"}).status_code == 201
