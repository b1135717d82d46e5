"""Any replica serves any user: a read that starts after a write's 201, on any replica, sees it; an
acknowledged delete is never returned again by any replica; retries are idempotent across replicas."""

from __future__ import annotations

import asyncio
import threading
import uuid

import httpx
import pytest
from prometheus_client import CollectorRegistry

from jean_memory.cluster.coherence import VersionCheck
from jean_memory.cluster.committer import GroupCommitter, Op
from jean_memory.cluster.pg import Pg
from jean_memory.cluster.schema import PURGE_TOMBSTONES
from jean_memory.cluster.tiers import ClusterTiers
from jean_memory.config import Settings
from jean_memory.storage.stm import ShortTermTier
from jean_memory.telemetry.metrics import Metrics
from jean_memory_dev.processes import PostgresServer
from tests.cluster.conftest import StartReplica
from tests.helpers import all_ids, metric

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


def test_every_read_after_an_acknowledgement_sees_the_write(start_replica: StartReplica) -> None:
    a, b = start_replica("a"), start_replica("b")
    failures: list[str] = []

    def writer(worker: int) -> None:
        clients = [httpx.Client(base_url=r.url, timeout=30) for r in (a, b)]
        user = f"user{worker}"
        written: list[str] = []
        for i in range(60):
            w, r = clients[i % 2], clients[(i + 1) % 2]  # write on one replica, read on the other at once
            text = f"worker {worker} fact {i} about topic{i}"
            mid = w.post("/v1/memories", json={"user_id": user, "content": text}).json()["id"]
            written.append(mid)
            if r.get(f"/v1/memories/{mid}", params={"user_id": user}).status_code != 200:
                failures.append(f"get {mid} on the other replica")
            listed = [m["id"] for m in r.get("/v1/memories", params={"user_id": user, "limit": 5}).json()["items"]]
            if mid not in listed:
                failures.append(f"list on the other replica misses {mid}")
            hits = r.post("/v1/search", json={"user_id": user, "query": f"fact {i} topic{i}", "k": 3}).json()
            if mid not in [h["id"] for h in hits["results"]]:
                failures.append(f"search on the other replica misses {mid}")
        for c in clients:
            assert sorted(all_ids(c, user)) == sorted(written)
            c.close()

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not failures, failures[:5]
    checks = metric(b.url, "jm_cluster_version_checks_total")
    assert checks > 0 and metric(b.url, "jm_cluster_catchups_total", kind="incremental") > 0


def test_an_acknowledged_delete_is_never_returned_again(start_replica: StartReplica) -> None:
    a, b = start_replica("a"), start_replica("b")
    with httpx.Client(base_url=a.url) as ca, httpx.Client(base_url=b.url) as cb:
        items = [{"content": f"the blue kettle is on shelf {i}"} for i in range(20)]
        ids = ca.post("/v1/memories/batch", json={"user_id": "d", "items": items}).json()["ids"]
        for c in (ca, cb):  # both replicas hold the user, its results in their caches
            for _ in range(2):
                assert c.post("/v1/search", json={"user_id": "d", "query": "blue kettle shelf 3"}).status_code == 200
        gone = ids[3]
        assert ca.delete(f"/v1/memories/{gone}", params={"user_id": "d"}).status_code == 204
        for c in (cb, ca):
            assert c.get(f"/v1/memories/{gone}", params={"user_id": "d"}).status_code == 404
            assert gone not in all_ids(c, "d")
            hits = c.post("/v1/search", json={"user_id": "d", "query": "blue kettle shelf 3", "k": 20}).json()
            assert gone not in [h["id"] for h in hits["results"]]
        assert cb.delete(f"/v1/memories/{gone}", params={"user_id": "d"}).status_code == 404


def test_a_retry_on_another_replica_is_idempotent(start_replica: StartReplica) -> None:
    a, b = start_replica("a"), start_replica("b")
    mid = str(uuid.uuid4())
    body = {"user_id": "i", "id": mid, "content": "I moved to Berlin", "metadata": {"k": 1}}
    with httpx.Client(base_url=a.url) as ca, httpx.Client(base_url=b.url) as cb:
        first = ca.post("/v1/memories", json=body)
        again = cb.post("/v1/memories", json=body)
        assert first.status_code == again.status_code == 201 and first.json() == again.json()
        r = cb.post("/v1/memories", json={**body, "content": "I moved to Paris"})
        assert r.status_code == 409 and r.json()["errors"][0]["field"] == "id"
        batch = cb.post(
            "/v1/memories/batch", json={"user_id": "i", "items": [{"content": "new"}, {**body, "user_id": None}]}
        )
        assert batch.status_code == 422  # user_id is not an item field
        items = [{"content": "another"}, {"id": mid, "content": "I moved to Berlin", "metadata": {"k": 1}}]
        batch = cb.post("/v1/memories/batch", json={"user_id": "i", "items": items})
        assert batch.status_code == 201 and batch.json()["ids"][1] == mid
        assert sorted(all_ids(ca, "i")) == sorted(batch.json()["ids"])


def test_a_copy_older_than_the_purged_tombstones_reloads_in_full(postgres: PostgresServer) -> None:
    """A replica that missed the change notifications and whose copy predates purged tombstones cannot
    catch up from the changes alone (the deletes are gone): it reloads the user."""
    asyncio.run(_purge_scenario(postgres.url))


async def _purge_scenario(url: str) -> None:
    metrics = Metrics(CollectorRegistry(), mode="cluster")
    pg = Pg(url, pool_size=2, timeout_s=5, metrics=metrics.cluster, retry_after_s=1)
    stm = ShortTermTier(Settings(embedder="hash"), 8, metrics.stm)
    tiers = ClusterTiers(pg, stm, VersionCheck(pg, metrics.cluster), metrics.cluster, metrics.ltm, "hash")
    other = GroupCommitter(  # another replica's writes
        pg, metrics.cluster, replica_id="other", lease_s=15, max_group=10, max_pending=10, retry_after_s=1
    )
    other.start()
    try:
        await pg.ping()
        await other.submit("t", [Op("add", "x", "x", {}, 0.5, 1.0), Op("add", "y", "y", {}, 0.5, 1.0)])
        space, cold = await tiers.current("t")
        assert cold and sorted(space.records) == ["x", "y"]
        # Another replica deletes x and adds z; the tombstone is purged before this copy hears of it.
        await other.submit("t", [Op("delete", "x")])
        await other.submit("t", [Op("add", "z", "z", {}, 0.5, 2.0)])
        await pg.execute(PURGE_TOMBSTONES, 0.0)
        space, cold = await tiers.current("t")
        assert not cold and sorted(space.records) == ["y", "z"]
        assert metrics.cluster.catchups.labels("full")._value.get() == 2
    finally:
        await other.close()
        await pg.close()
