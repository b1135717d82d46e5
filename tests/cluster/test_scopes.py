"""Scopes in cluster mode: a database written by the release before scopes is migrated in place when a
replica starts, and two replicas over it agree on every scope: a restricted search or list on one never
returns another scope's memories written on the other, a retry in another scope is a conflict whichever
replica takes it, and forgetting a run on one leaves the other runs and the unscoped memories on both.
A replica of the previous release keeps writing (its 12-argument `jm_write` is left in place)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable

import asyncpg
import httpx
import pytest

from jean_memory_dev.processes import PostgresServer
from tests.cluster import previous_schema
from tests.cluster.conftest import StartReplica

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

OLD = "7a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
ROLLING = "8b2c3d4e-5f6a-4b7c-9d8e-0f1a2b3c4d5e"


async def _old_add(url: str, memory_id: str, content: str, *, schema: bool) -> None:
    """An add as a replica of the previous release commits it (its schema first, when `schema`)."""
    conn = await asyncpg.connect(url)
    try:
        if schema:
            for sql in (previous_schema.SCHEMA, previous_schema.WRITE_FUNCTION, previous_schema.EXPIRE_FUNCTION,
                        previous_schema.VECTORS_FUNCTION):  # fmt: skip
                await conn.execute(sql)
        await conn.fetch(
            "SELECT version FROM jm_write($1, $2, $3, $4, $5, $6::jsonb[], $7, $8, $9, $10, $11, $12)",
            [1], ["add"], ["u"], [memory_id], [content], ["{}"], [0.5], [time.time()], [None], [False], "old", 15.0,
        )  # fmt: skip
    finally:
        await conn.close()


def _eventually(check: Callable[[], bool], what: str, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def _ids(client: httpx.Client, **scope: str) -> set[str]:
    page = client.get("/v1/memories", params={"user_id": "u", "limit": 1000, **scope}).json()
    return {m["id"] for m in page["items"]}


def _found(client: httpx.Client, **scope: str) -> set[str]:
    body = {"user_id": "u", "query": "the harbour at dusk", "k": 20, **scope}
    return {h["id"] for h in client.post("/v1/search", json=body).json()["results"]}


def _add(client: httpx.Client, content: str, **extra: object) -> str:
    r = client.post("/v1/memories", json={"user_id": "u", "content": content, **extra})
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def test_two_replicas_over_a_migrated_database_agree_on_every_scope(
    postgres: PostgresServer, start_replica: StartReplica
) -> None:
    asyncio.run(_old_add(postgres.url, OLD, "an old memory of the harbour at dusk", schema=True))
    a, b = start_replica("a"), start_replica("b")
    columns = postgres.psql("SELECT column_name FROM information_schema.columns WHERE table_name = 'memory_history'")
    assert {"agent_id", "run_id"} <= set(columns.split())
    indexes = postgres.psql("SELECT indexname FROM pg_indexes WHERE tablename = 'memories'")
    assert {"memories_user_run", "memories_user_agent"} <= set(indexes.split())
    with httpx.Client(base_url=a.url, timeout=30) as ca, httpx.Client(base_url=b.url, timeout=30) as cb:
        old = cb.get(f"/v1/memories/{OLD}", params={"user_id": "u"}).json()
        assert (old["agent_id"], old["run_id"]) == (None, None)
        run_a = _add(ca, "the harbour at dusk, seen in run a", run_id="run-a", agent_id="x")
        run_b = _add(ca, "the harbour at dusk, seen in run b", run_id="run-b", agent_id="x")
        plain = _add(ca, "the harbour at dusk, seen without a run")
        for client in (ca, cb):
            _eventually(lambda c=client: _ids(c) == {OLD, run_a, run_b, plain}, "every memory on both replicas")
            assert _ids(client, run_id="run-a") == {run_a}
            assert _ids(client, agent_id="x") == {run_a, run_b}
            assert _found(client, run_id="run-b") == {run_b}
            assert _found(client) == {OLD, run_a, run_b, plain}, "by default every scope of the user"

        mid = str(uuid.uuid4())
        first = ca.post("/v1/memories", json={"user_id": "u", "content": "a retried fact", "id": mid, "run_id": "r"})
        retry = cb.post("/v1/memories", json={"user_id": "u", "content": "a retried fact", "id": mid, "run_id": "r"})
        assert first.status_code == 201 and retry.status_code == 201 and retry.json()["id"] == mid
        moved = cb.post("/v1/memories", json={"user_id": "u", "content": "a retried fact", "id": mid, "run_id": "s"})
        assert moved.status_code == 409 and moved.json()["errors"][0]["field"] == "id", moved.text
        got = ca.get(f"/v1/memories/{mid}", params={"user_id": "u"}).json()
        assert got["run_id"] == "r"

        dup = cb.post("/v1/memories", json={"user_id": "u", "content": "the harbour at dusk, seen in run a",
                                            "run_id": "run-c", "dedupe": True})  # fmt: skip
        assert dup.status_code == 201, "a near-duplicate in another run is not a duplicate"
        same = cb.post("/v1/memories", json={"user_id": "u", "content": "the harbour at dusk, seen in run a",
                                             "run_id": "run-a", "agent_id": "x", "dedupe": True})  # fmt: skip
        assert same.status_code == 200 and same.json()["id"] == run_a

        forgotten = cb.delete("/v1/memories", params={"user_id": "u", "run_id": "run-a"})
        assert forgotten.json() == {"user_id": "u", "forgotten": 1, "agent_id": None, "run_id": "run-a"}
        for client in (ca, cb):
            _eventually(lambda c=client: run_a not in _ids(c), "the forgotten run is gone on both replicas")
            assert _found(client, run_id="run-a") == set()
            assert {OLD, run_b, plain} <= _found(client)
        history = ca.get(f"/v1/memories/{run_a}/history", params={"user_id": "u"}).json()["versions"]
        assert [(v["event"], v["run_id"]) for v in history] == [("add", "run-a"), ("delete", "run-a")]

        asyncio.run(_old_add(postgres.url, ROLLING, "written by a replica of the previous release", schema=False))
        _eventually(lambda: ROLLING in _ids(cb), "an old replica's add is served")
        assert ca.get(f"/v1/memories/{ROLLING}", params={"user_id": "u"}).json()["run_id"] is None
