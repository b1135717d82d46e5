"""Large groups give the event loop back and stay whole: a group with much text is sent to PostgreSQL
ahead in slices (a staging table in the same transaction), and a replica's own group goes into its copy
a slice at a time while reads of that user wait, so no read sees part of an unacknowledged batch."""

from __future__ import annotations

import asyncio
import threading
from collections import Counter

import httpx
import pytest
from prometheus_client import CollectorRegistry

from jean_memory.cluster.coherence import VersionCheck
from jean_memory.cluster.committer import STAGE_CHARS, GroupCommitter, Op
from jean_memory.cluster.pg import Pg
from jean_memory.cluster.tiers import ClusterTiers
from jean_memory.config import Settings
from jean_memory.storage.stm import ShortTermTier
from jean_memory.telemetry.metrics import Metrics
from jean_memory_dev.processes import PostgresServer
from tests.cluster.conftest import StartReplica

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


def test_a_group_with_much_text_is_committed_whole(postgres: PostgresServer) -> None:
    asyncio.run(_staged_scenario(postgres.url))


async def _staged_scenario(url: str) -> None:
    metrics = Metrics(CollectorRegistry(), mode="cluster")
    pg = Pg(url, pool_size=2, timeout_s=30, metrics=metrics.cluster, retry_after_s=1)
    stm = ShortTermTier(Settings(embedder="hash"), 8, metrics.stm)
    tiers = ClusterTiers(pg, stm, VersionCheck(pg, metrics.cluster), metrics.cluster, metrics.ltm, "hash")
    committer = GroupCommitter(
        pg, metrics.cluster, replica_id="r", lease_s=15, max_group=1000, max_pending=5000, retry_after_s=1
    )
    committer.start()
    try:
        await pg.ping()
        big = [
            Op("add", f"m{i}", f"text {i} " + "é" * 30000, {"n": i, "note": "ü" * 8000}, 0.5, 1.0 + i)
            for i in range(60)
        ]
        assert sum(len(op.content or "") for op in big) > 1.5 * STAGE_CHARS
        ops = [*big, Op("add", "small", "a small one", {}, 0.1, 100.0)]
        first = await committer.submit("big", ops)
        assert [o.status for o in first] == ["inserted"] * len(ops)
        assert len({o.version for o in first}) == 1  # one commit: one version for the user
        space, cold = await tiers.current("big")
        assert cold and len(space.records) == len(ops)
        for op in big:
            stored = space.records[op.id]
            assert (stored.content, stored.metadata) == (op.content, op.metadata)
        assert space.records["small"].metadata == {}
        again = await committer.submit("big", ops)  # a repeat: every item already there, as it was
        assert [o.status for o in again] == ["existing"] * len(ops) and again[5].content == big[5].content
        clash = [*big[:59], Op("add", "m59", "other text " + "x" * 30000, {}, 0.5, 2.0)]
        refused = await committer.submit("big", clash)  # all or nothing: the other items are skipped
        assert [o.status for o in refused] == ["skipped"] * 59 + ["conflict"]
        mixed = [Op("update", "m1", "new " + "y" * 30000), Op("delete", "m2"), *big[3:50]]
        assert [o.status for o in await committer.submit("big", mixed)][:2] == ["updated", "deleted"]
        space, _ = await tiers.current("big")
        assert space.records["m1"].content.startswith("new ") and "m2" not in space.records
    finally:
        await committer.close()
        await pg.close()


def test_no_read_sees_part_of_a_batch_going_into_the_copy(start_replica: StartReplica) -> None:
    """Readers listing the user on the writing replica, over and over while three batches go in: each
    list holds every item of a batch or none of it (the own commit's apply is sliced, reads wait)."""
    r = start_replica("a")
    size, batches = 330, 3
    seen: list[Counter[str]] = []
    done = threading.Event()

    def reader() -> None:
        with httpx.Client(base_url=r.url, timeout=30) as c:
            while not done.is_set():
                items = c.get("/v1/memories", params={"user_id": "u", "limit": 1000}).json()["items"]
                seen.append(Counter(m["content"].split(" ")[1] for m in items))

    with httpx.Client(base_url=r.url, timeout=60) as c:
        assert c.post("/v1/memories", json={"user_id": "u", "content": "batch x resident"}).status_code == 201
        assert c.get("/v1/memories", params={"user_id": "u"}).status_code == 200  # the copy is loaded
        readers = [threading.Thread(target=reader) for _ in range(4)]
        for thread in readers:
            thread.start()
        try:
            for b in range(batches):
                items = [{"content": f"batch {b} item {i} " + "word " * 40} for i in range(size)]
                assert c.post("/v1/memories/batch", json={"user_id": "u", "items": items}).status_code == 201
                listed = c.get("/v1/memories", params={"user_id": "u", "limit": 1000}).json()["items"]
                assert sum(m["content"].startswith(f"batch {b} ") for m in listed) == size  # read after ack
        finally:
            done.set()
            for thread in readers:
                thread.join()
    partial = [dict(counts) for counts in seen if any(counts[str(b)] not in (0, size) for b in range(batches))]
    assert len(seen) > batches and not partial, partial[:3]
