"""The memory lifecycle across replicas: an update, a forget, an expiry or a deduplicated add made on
one replica is what every replica answers next, and PostgreSQL keeps the history."""

from __future__ import annotations

import threading
import time
import uuid

import httpx
import pytest

from jean_memory_dev.processes import PostgresServer
from tests.cluster.conftest import StartReplica
from tests.helpers import all_ids

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


def test_update_history_expiry_dedupe_and_export_across_replicas(
    start_replica: StartReplica, postgres: PostgresServer
) -> None:
    env = {"JM_EXPIRY_SWEEP_S": "0.5", "JM_DEDUP_THRESHOLD": "0.9"}
    a, b = start_replica("a", env=env), start_replica("b", env=env)
    with httpx.Client(base_url=a.url, timeout=30) as ca, httpx.Client(base_url=b.url, timeout=30) as cb:
        mid = ca.post("/v1/memories", json={"user_id": "l", "content": "the spare key is under the blue pot"}).json()[
            "id"
        ]
        assert cb.post("/v1/search", json={"user_id": "l", "query": "spare key blue pot"}).json()["results"]
        r = cb.patch(
            f"/v1/memories/{mid}", params={"user_id": "l"}, json={"content": "the spare key is with the neighbour"}
        )
        assert r.status_code == 200 and r.json()["version"] == 2
        hits = ca.post("/v1/search", json={"user_id": "l", "query": "spare key neighbour", "k": 1}).json()["results"]
        assert hits[0]["id"] == mid and hits[0]["content"] == "the spare key is with the neighbour"
        assert all("blue pot" not in h["content"] for h in ca.post(
            "/v1/search", json={"user_id": "l", "query": "blue pot"}).json()["results"])  # fmt: skip
        history = ca.get(f"/v1/memories/{mid}/history", params={"user_id": "l"}).json()["versions"]
        assert [(v["version"], v["event"]) for v in history] == [(1, "add"), (2, "update")]
        dup = cb.post("/v1/memories", json={"user_id": "l", "content": "the spare key is with the neighbour",
                                            "dedupe": True})  # fmt: skip
        assert dup.status_code == 200 and dup.json() == {**dup.json(), "id": mid, "deduplicated": True}
        soon = ca.post(
            "/v1/memories", json={"user_id": "l", "content": "the gate code is 4711", "expires_at": time.time() + 1}
        ).json()["id"]
        assert cb.get(f"/v1/memories/{soon}", params={"user_id": "l"}).status_code == 200
        time.sleep(1.2)
        assert cb.get(f"/v1/memories/{soon}", params={"user_id": "l"}).status_code == 404
        assert soon not in all_ids(ca, "l")
        deadline = time.monotonic() + 10
        while postgres.psql(f"SELECT deleted FROM memories WHERE id = '{soon}'") != "t":
            assert time.monotonic() < deadline, "the sweep did not expire the row"
            time.sleep(0.2)
        events = [
            v["event"] for v in cb.get(f"/v1/memories/{soon}/history", params={"user_id": "l"}).json()["versions"]
        ]
        assert events == ["add", "expire"]
        lines = cb.get("/v1/memories/export", params={"user_id": "l"}).text.splitlines()
        assert (
            len(lines) == 1
            and f'"id":"{mid}"' in lines[0].replace(" ", "")
            and '"version":2' in lines[0].replace(" ", "")
        )


def test_forget_is_atomic_with_concurrent_adds_on_other_replicas(
    start_replica: StartReplica, postgres: PostgresServer
) -> None:
    a, b = start_replica("a"), start_replica("b")
    acked: list[str] = []
    stop = threading.Event()

    def adder() -> None:
        with httpx.Client(base_url=b.url, timeout=30) as c:
            n = 0
            while not stop.is_set():
                mid = str(uuid.uuid4())
                if c.post("/v1/memories", json={"user_id": "f", "id": mid, "content": f"note {n}"}).status_code == 201:
                    acked.append(mid)
                n += 1

    threads = [threading.Thread(target=adder) for _ in range(3)]
    for t in threads:
        t.start()
    time.sleep(1.0)
    with httpx.Client(base_url=a.url, timeout=30) as ca:
        before = len(acked)
        forgotten = ca.delete("/v1/memories", params={"user_id": "f"}).json()["forgotten"]
        time.sleep(0.5)
        stop.set()
        for t in threads:
            t.join()
        survivors = set(all_ids(ca, "f"))
        with httpx.Client(base_url=b.url, timeout=30) as cb:
            assert set(all_ids(cb, "f")) == survivors, "both replicas agree"
        stored = set(postgres.psql("SELECT id FROM memories WHERE user_id = 'f' AND NOT deleted").split())
        assert stored == survivors, "the store of record agrees"
        assert survivors <= set(acked), "nothing unacknowledged appeared"
        assert forgotten + len(survivors) == len(acked), "every acknowledged add was forgotten or survived, wholly"
        assert forgotten >= before and survivors, "adds were made on both sides of the forget"
        history = [i for i in set(acked) - survivors][:3]
        for mid in history:
            assert ca.get(f"/v1/memories/{mid}/history", params={"user_id": "f"}).status_code == 404
