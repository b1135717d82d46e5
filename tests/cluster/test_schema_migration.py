"""A database written by the previous release's schema is migrated in place when a replica starts.

The previous release bound a stored vector to a `content_version` that several updates in one group
commit could share (`jm_set_vectors`); vectors are now bound to the MD5 of their text
(`jm_store_vectors`). A replica starting on the old database drops the old function (an old replica
still calling it fails to store, and its rows are re-embedded after their lease), serves the rows and
vectors written before, and stores new vectors under the new binding. The database is written with the
tables and the 12-argument `jm_write` of the release before scopes (`previous_schema.py`), which predate
this release as the old vector function does.
"""

from __future__ import annotations

import asyncio
import time

import asyncpg
import httpx
import pytest

from jean_memory.embedding.hashing import HashEmbedder
from jean_memory_dev.processes import PostgresServer
from tests.cluster.conftest import StartReplica
from tests.cluster.previous_schema import EXPIRE_FUNCTION, SCHEMA, WRITE_FUNCTION

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

#: The previous release's vector function, verbatim.
PREVIOUS_VECTORS_FUNCTION = """
CREATE OR REPLACE FUNCTION jm_set_vectors(
    p_user TEXT[], p_id TEXT[], p_content_version BIGINT[], p_embedding BYTEA[], p_model TEXT
) RETURNS TABLE (user_id TEXT, version BIGINT) LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    u TEXT;
    v BIGINT;
BEGIN
    FOR u IN SELECT DISTINCT x FROM unnest(p_user) AS x ORDER BY x LOOP
        INSERT INTO jm_user_versions AS uv (user_id, version) VALUES (u, 1)
            ON CONFLICT ON CONSTRAINT jm_user_versions_pkey DO UPDATE SET version = uv.version + 1
            RETURNING uv.version INTO v;
        UPDATE memories m SET embedding = x.embedding, model = p_model, version = v,
                              claimed_by = NULL, claim_expires = NULL
            FROM unnest(p_user, p_id, p_content_version, p_embedding) AS x(user_id, id, cv, embedding)
            WHERE x.user_id = u AND m.user_id = u AND m.id = x.id AND m.content_version = x.cv AND NOT m.deleted;
        PERFORM pg_notify('jm_changes', v || '|' || extract(epoch FROM clock_timestamp()) || '|' || u);
        user_id := u;
        version := v;
        RETURN NEXT;
    END LOOP;
END $$;
"""

MID = "5f0c6a2e-3d4b-4c1e-9a7f-2b8d1e6c9a01"
OLD_TEXT = "the red bicycle is chained by the station"
NEW_TEXT = "the green canoe rests upside down on the jetty"


async def _write_with_previous_schema(url: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        for sql in (SCHEMA, WRITE_FUNCTION, PREVIOUS_VECTORS_FUNCTION, EXPIRE_FUNCTION):
            await conn.execute(sql)
        (row,) = await conn.fetch(
            "SELECT version FROM jm_write($1, $2, $3, $4, $5, $6::jsonb[], $7, $8, $9, $10, $11, $12)",
            [1], ["add"], ["u"], [MID], [OLD_TEXT], ["{}"], [0.5], [time.time()], [None], [False], "old", 15.0,
        )  # fmt: skip
        embedder = HashEmbedder()
        vector = embedder.embed([OLD_TEXT])[0].tobytes()
        await conn.fetch(
            "SELECT * FROM jm_set_vectors($1, $2, $3, $4, $5)", ["u"], [MID], [row[0]], [vector], embedder.model_id
        )
    finally:
        await conn.close()


def _hit(client: httpx.Client, query: str, timeout_s: float = 10.0) -> dict | None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        results = client.post("/v1/search", json={"user_id": "u", "query": query, "k": 10}).json()["results"]
        hit = next((h for h in results if h["id"] == MID), None)
        if hit is not None and hit["tier"] == "stm":
            return hit
        time.sleep(0.05)
    return None


def test_a_database_of_the_previous_schema_is_migrated_on_start(
    postgres: PostgresServer, start_replica: StartReplica
) -> None:
    asyncio.run(_write_with_previous_schema(postgres.url))
    a = start_replica("a")
    assert postgres.psql("SELECT count(*) FROM pg_proc WHERE proname = 'jm_set_vectors'").strip() == "0"
    with httpx.Client(base_url=a.url, timeout=30) as ca:
        hit = _hit(ca, OLD_TEXT)
        assert hit is not None and hit["score"] > 0.99, "the vector stored by the previous release is served"
        patched = ca.patch(f"/v1/memories/{MID}", params={"user_id": "u"}, json={"content": NEW_TEXT})
        assert patched.status_code == 200 and patched.json()["version"] == 2
    b = start_replica("b")  # loads the row from PostgreSQL, with the vector stored under the new binding
    with httpx.Client(base_url=b.url, timeout=30) as cb:
        hit = _hit(cb, NEW_TEXT)
        assert hit is not None and hit["score"] > 0.99, hit
    stored = postgres.psql(f"SELECT model IS NOT NULL FROM memories WHERE user_id = 'u' AND id = '{MID}'").strip()
    assert stored == "t"
