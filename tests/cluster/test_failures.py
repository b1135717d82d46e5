"""Failures in cluster mode: a replica killed with kill -9 under load loses and hides nothing; its
unembedded writes are taken over by a live replica within the lease; PostgreSQL down means 503 with
Retry-After (never an acknowledgement without durability), and recovery needs no restart."""

from __future__ import annotations

import time
import uuid

import httpx
import pytest

from jean_memory_dev.processes import PostgresServer
from tests.cluster.conftest import StartReplica
from tests.helpers import AddStream, all_ids, metric, wait_until

pytestmark = [pytest.mark.postgres, pytest.mark.slow]
ADMIN = "cluster-test-admin-token-000"


def test_kill_a_replica_under_load_loses_and_hides_nothing(
    start_replica: StartReplica, postgres: PostgresServer
) -> None:
    a, b = start_replica("a"), start_replica("b")
    on_a, on_b = AddStream(a.url, "shared-user", threads=3).start(), AddStream(b.url, "shared-user", threads=3).start()
    wait_until(lambda: len(on_a.acked) > 200 and len(on_b.acked) > 200, 60, "writes through both replicas")
    a.kill()
    killed_at = len(on_a.acked)
    time.sleep(2)
    acked = {**on_a.stop(), **on_b.stop()}
    assert len(on_a.acked) == killed_at, "nothing is acknowledged by a dead replica"
    with httpx.Client(base_url=b.url, timeout=30) as c:
        listed = all_ids(c, "shared-user")
        assert set(acked) <= set(listed), f"{len(set(acked) - set(listed))} acknowledged writes hidden"
        assert len(listed) == len(set(listed))
        for mid in list(acked)[:: max(1, len(acked) // 50)]:
            assert c.get(f"/v1/memories/{mid}", params={"user_id": "shared-user"}).json()["content"] == acked[mid]
        # A request in flight on the dead replica got no answer; its retry on a live one is idempotent.
        mid = str(uuid.uuid4())
        for _ in range(2):
            r = c.post("/v1/memories", json={"user_id": "shared-user", "id": mid, "content": "retried"})
            assert r.status_code == 201 and r.json()["id"] == mid
    rows = postgres.psql("SELECT count(*) FROM memories WHERE user_id = 'shared-user' AND NOT deleted")
    assert int(rows) == len(listed) + 1
    print(
        f"acknowledged {len(acked)}; on the killed replica: {on_a.lost_in_flight} requests lost in flight, "
        f"{on_a.refused} refused afterwards"
    )
    assert on_a.lost_in_flight <= 3, "at most one request in flight per client thread"


def test_a_dead_replicas_unembedded_writes_are_taken_over(
    start_replica: StartReplica, postgres: PostgresServer
) -> None:
    lease = 2.0
    env = {"JM_CLUSTER_LEASE_S": str(lease)}
    a = start_replica("a", env={**env, "JM_FAULTS_ENABLED": "true", "JM_ADMIN_TOKEN": ADMIN})
    b = start_replica("b", env=env)
    headers = {"Authorization": f"Bearer {ADMIN}"}
    assert httpx.put(f"{a.url}/admin/faults", json={"embedding": "failing"}, headers=headers).status_code == 200
    items = [{"content": f"orphaned fact number {i}"} for i in range(50)]
    ids = httpx.post(f"{a.url}/v1/memories/batch", json={"user_id": "o", "items": items}).json()["ids"]
    assert postgres.psql("SELECT count(*) FROM memories WHERE user_id = 'o' AND embedding IS NULL") == "50"
    a.kill()
    killed = time.monotonic()
    wait_until(
        lambda: postgres.psql("SELECT count(*) FROM memories WHERE user_id = 'o' AND embedding IS NULL") == "0",
        lease + 20,
        "a live replica to embed the dead one's writes",
    )
    took = time.monotonic() - killed
    assert took <= lease + 5, f"took {took:.1f} s"
    assert metric(b.url, "jm_cluster_embed_claims_total", origin="orphan") >= 50
    hits = httpx.post(f"{b.url}/v1/search", json={"user_id": "o", "query": "orphaned fact number 7", "k": 1}).json()
    assert hits["results"][0]["id"] == ids[7] and hits["results"][0]["tier"] == "stm"
    print(f"orphaned embeddings stored {took:.1f} s after the kill (lease {lease} s)")


def test_postgres_down_means_503_and_recovery_is_automatic(
    start_replica: StartReplica, postgres: PostgresServer
) -> None:
    a = start_replica("a", env={"JM_LTM_TIMEOUT_S": "1"})
    with httpx.Client(base_url=a.url, timeout=10) as c:
        before = c.post("/v1/memories", json={"user_id": "p", "content": "written before the outage"}).json()["id"]
        postgres.stop("immediate")
        r = c.post("/v1/memories", json={"user_id": "p", "content": "during the outage"})
        assert r.status_code == 503 and int(r.headers["retry-after"]) >= 1, r.text
        r = c.get(f"/v1/memories/{before}", params={"user_id": "p"})
        assert r.status_code == 503 and "retry-after" in r.headers
        wait_until(lambda: c.get("/readyz").status_code == 503, 10, "readiness to notice")
        assert metric(a.url, "jm_ready") == 0
        postgres.start()
        wait_until(lambda: c.get("/readyz").status_code == 200, 30, "readiness to recover without a restart")
        assert c.get(f"/v1/memories/{before}", params={"user_id": "p"}).status_code == 200
        assert c.post("/v1/memories", json={"user_id": "p", "content": "after"}).status_code == 201
        contents = [m["content"] for m in c.get("/v1/memories", params={"user_id": "p"}).json()["items"]]
        assert "during the outage" not in contents
