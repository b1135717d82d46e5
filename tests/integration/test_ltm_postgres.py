"""PostgreSQL as the store of record: a real server, stopped mid-run."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from jean_memory_dev.processes import PostgresServer, ServiceProcess
from tests.helpers import AddStream, all_ids, metric, wait_shipped, wait_until

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


@pytest.fixture(scope="module")
def postgres() -> Iterator[PostgresServer]:
    server = PostgresServer().init().start()
    yield server
    server.destroy()


def test_roundtrip_and_promotion_from_postgres(postgres: PostgresServer, tmp_path: Path) -> None:
    env = {"JM_LTM_URL": postgres.url}
    svc = ServiceProcess(tmp_path / "a", env=env).start()
    try:
        with httpx.Client(base_url=svc.url) as c:
            items = [{"content": t} for t in ("the red bicycle is in the garage", "milk expires friday", "call mum")]
            ids = c.post("/v1/memories/batch", json={"user_id": "pg-user", "items": items}).json()["ids"]
            wait_shipped(svc.url)
    finally:
        svc.stop()
    rows = postgres.psql(
        "SELECT count(*), count(DISTINCT id), count(embedding) FROM memories WHERE user_id = 'pg-user'"
    )
    assert rows == "3|3|3", "rows, distinct ids and vectors all in PostgreSQL"
    # A fresh instance (empty journal, empty STM) serves the user from PostgreSQL alone.
    fresh = ServiceProcess(tmp_path / "b", env=env).start()
    try:
        with httpx.Client(base_url=fresh.url) as c:
            hits = c.post("/v1/search", json={"user_id": "pg-user", "query": "where is the bicycle"}).json()
            assert hits["results"][0]["id"] == ids[0]
            assert sorted(all_ids(c, "pg-user")) == sorted(ids)
        assert metric(fresh.url, "jm_embedding_batch_size_count") <= 2, "vectors came from the store, not the model"
    finally:
        fresh.stop()


def test_postgres_outage_mid_run(postgres: PostgresServer, tmp_path: Path) -> None:
    svc = ServiceProcess(tmp_path / "data", env={"JM_LTM_URL": postgres.url, "JM_LTM_TIMEOUT_S": "1"}).start()
    try:
        stream = AddStream(svc.url, "outage-user", threads=3).start()
        wait_until(lambda: len(stream.acked) > 100, 30, "some writes before the outage")
        postgres.stop("immediate")
        before = len(stream.acked)
        wait_until(lambda: len(stream.acked) > before + 300, 60, "writes acknowledged during the outage")
        wait_until(lambda: metric(svc.url, "jm_shuttle_retries_total") > 0, 30, "the shuttle to retry")
        assert metric(svc.url, "jm_ltm_up", store="postgres") == 0
        assert httpx.get(f"{svc.url}/readyz").status_code == 503
        postgres.start()
        acked = stream.stop()
        assert not stream.errors, stream.errors[:5]
        wait_shipped(svc.url, timeout_s=90)
        assert metric(svc.url, "jm_ltm_up", store="postgres") == 1
    finally:
        svc.stop()
    ids = postgres.psql("SELECT id FROM memories WHERE user_id = 'outage-user'").split()
    assert len(ids) == len(set(ids)) == len(acked), "every acknowledged write in PostgreSQL exactly once"
    assert set(ids) == set(acked)
