"""Bounded memory per request, all the way down: queries, filters and metadata keys have limits
(`JM_MAX_*`, published in the schema), the read caches are bounded by bytes and keyed by a digest, the
query-embedding cache is per tenant, and a filter key matches the same way in memory and in the store."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from jean_memory.config import Settings
from jean_memory_dev.processes import ServiceProcess
from tests.conftest import StartService
from tests.helpers import metric, wait_shipped

LIMITS = Settings()


def fields(r: httpx.Response) -> list[str]:
    return [e["field"] for e in r.json()["errors"]]


def test_oversized_queries_are_refused_and_leave_the_caches_empty(start_service: StartService) -> None:
    """150 distinct 290 KB queries (they fit the body limit) once added 44 MB that stayed."""
    svc = start_service()
    with httpx.Client(base_url=svc.url, timeout=30) as c:
        for n in range(150):
            query = f"{n:04d}" + "q" * 290_000
            r = c.post("/v1/search", json={"user_id": "u", "query": query})
            assert r.status_code == 422 and fields(r) == ["query"], r.text[:300]
        assert "longer than 4096 characters" in r.json()["detail"]
        at_limit = c.post("/v1/search", json={"user_id": "u", "query": "q" * LIMITS.max_query_chars})
        assert at_limit.status_code == 200, at_limit.text[:300]
    assert metric(svc.url, "jm_cache_bytes", level="l2") < 4096


def test_the_caches_are_bounded_by_bytes(start_service: StartService) -> None:
    bound = 1 << 16
    svc = start_service({"JM_EMBEDDING_CACHE_BYTES": str(bound), "JM_RESULT_CACHE_BYTES": str(bound)})
    with httpx.Client(base_url=svc.url, timeout=30) as c:
        items = [{"content": "w" * 6000 + f" {i}"} for i in range(20)]  # large hits: L1 entries cost their text
        assert c.post("/v1/memories/batch", json={"user_id": "u", "items": items}).status_code == 201
        for n in range(120):
            r = c.post("/v1/search", json={"user_id": "u", "query": f"{n} " + "q" * 4000, "k": 5})
            assert r.status_code == 200, r.text[:300]
    for level in ("l1", "l2"):
        held = metric(svc.url, "jm_cache_bytes", level=level)
        assert 0 < held <= bound, (level, held)


def test_filters_are_bounded(client: httpx.Client) -> None:
    many = {f"k{i}": i for i in range(20_000)}
    r = client.post("/v1/search", json={"user_id": "u", "query": "q", "filters": many})
    assert r.status_code == 422 and fields(r) == ["filters"], r.text[:300]
    assert f"more than {LIMITS.max_filter_keys} keys" in r.json()["detail"]
    at_limit = {f"k{i}": i for i in range(LIMITS.max_filter_keys)}
    assert client.post("/v1/search", json={"user_id": "u", "query": "q", "filters": at_limit}).status_code == 200
    long_key = {"k" * (LIMITS.max_key_chars + 1): 1}
    r = client.post("/v1/search", json={"user_id": "u", "query": "q", "filters": long_key})
    assert r.status_code == 422 and fields(r) == ["filters." + "k" * 64 + "..."], r.text  # the clause's path
    long_value = {"k": "v" * (LIMITS.max_metadata_bytes + 1)}
    r = client.post("/v1/search", json={"user_id": "u", "query": "q", "filters": long_value})
    assert r.status_code == 422 and fields(r) == ["filters.k"], r.text
    deep: dict[str, object] = {"k": 1}
    for _ in range(LIMITS.max_filter_depth):
        deep = {"$not": deep}
    r = client.post("/v1/search", json={"user_id": "u", "query": "q", "filters": deep})
    assert r.status_code == 422 and f"deeper than {LIMITS.max_filter_depth}" in r.json()["detail"], r.text
    wide = {"k": {"$in": list(range(LIMITS.max_filter_clauses + 1))}}
    r = client.post("/v1/search", json={"user_id": "u", "query": "q", "filters": wide})
    assert r.status_code == 422 and fields(r) == ["filters.k.$in"], r.text


def test_metadata_keys_are_bounded(client: httpx.Client, user: str) -> None:
    long_key = {"k" * (LIMITS.max_key_chars + 1): 1}
    r = client.post("/v1/memories", json={"user_id": user, "content": "ok", "metadata": long_key})
    assert r.status_code == 422 and fields(r) == ["metadata"], r.text
    items = [{"content": "ok"}, {"content": "ok", "metadata": long_key}]
    r = client.post("/v1/memories/batch", json={"user_id": user, "items": items})
    assert r.status_code == 422 and fields(r) == ["items[1].metadata"], r.text
    at_limit = {"k" * LIMITS.max_key_chars: 1}
    assert client.post("/v1/memories", json={"user_id": user, "content": "ok", "metadata": at_limit}).status_code == 201


def test_the_schema_states_the_limits_in_force(start_service: StartService) -> None:
    svc = start_service({"JM_MAX_QUERY_CHARS": "100", "JM_MAX_FILTER_KEYS": "5", "JM_MAX_KEY_CHARS": "20"})
    models = httpx.get(f"{svc.url}/openapi.json").json()["components"]["schemas"]
    search = models["SearchRequest"]["properties"]
    assert search["query"]["maxLength"] == 100
    assert {"$ref": "#/components/schemas/Filter"} in search["filters"]["anyOf"]
    assert models["Filter"]["maxProperties"] == 5 and "JM_MAX_KEY_CHARS" in search["filters"]["description"]
    assert "JM_MAX_KEY_CHARS" in models["AddMemory"]["properties"]["metadata"]["description"]
    r = httpx.post(f"{svc.url}/v1/search", json={"user_id": "u", "query": "q" * 101})
    assert r.status_code == 422 and fields(r) == ["query"]


def test_the_query_cache_is_per_tenant(start_service: StartService) -> None:
    """A hit answers faster than a miss: a shared cache would tell tenant B that tenant A searched it."""
    keys = {"JM_API_KEYS": "a" * 32 + ":acme," + "b" * 32 + ":globex"}
    svc = start_service(keys)
    acme = {"Authorization": "Bearer " + "a" * 32}
    globex = {"Authorization": "Bearer " + "b" * 32}

    def search(headers: dict[str, str], k: int) -> None:
        body = {"user_id": "u", "query": "the merger with initech", "k": k}
        assert httpx.post(f"{svc.url}/v1/search", json=body, headers=headers).status_code == 200

    search(acme, 1)
    misses = metric(svc.url, "jm_cache_misses_total", level="l2")
    search(globex, 2)
    assert metric(svc.url, "jm_cache_misses_total", level="l2") == misses + 1, "globex missed: not acme's entry"
    hits = metric(svc.url, "jm_cache_hits_total", level="l2")
    search(globex, 3)  # another k: past L1, to L2
    assert metric(svc.url, "jm_cache_hits_total", level="l2") == hits + 1, "globex's own entry is kept"


#: Keys that a JSON path would have to quote: `"` has no escape inside one. (`$.c` was one too, until a name
#: starting with `$` became an operator: tests/unit/test_filters.py.)
ODD = ['a"b', 'x"."y', "c.$", "d'e", "é ü", "[0]"]


def _metadata(i: int) -> dict[str, object]:
    return {
        ODD[0]: i % 3,
        ODD[1]: "v" if i % 5 == 0 else "w",
        ODD[2]: True,
        ODD[3]: i % 2,
        ODD[4]: "ü",
        ODD[5]: None if i % 4 == 0 else i,
        "plain": i,
    }


FILTERS: list[dict[str, object]] = [
    {ODD[0]: 0, ODD[1]: "v"},
    {ODD[2]: True, ODD[3]: 1, ODD[0]: 2},
    {ODD[4]: "ü", ODD[1]: "v"},
    {ODD[5]: None, ODD[0]: 1},
    {"missing": None, ODD[1]: "v"},
    {ODD[2]: 1, ODD[1]: "v"},  # true is not 1 (JSON's types), on either path
]


def _same(value: object, wanted: object) -> bool:
    """Equality as filters define it: a missing key equals null, and a boolean is not a number."""
    return value == wanted and isinstance(value, bool) == isinstance(wanted, bool)


def _expected(n: int, filters: dict[str, object]) -> set[str]:
    return {f"m{i}" for i in range(n) if all(_same(_metadata(i).get(k), v) for k, v in filters.items())}


@pytest.mark.slow
def test_odd_filter_keys_match_alike_in_memory_and_in_the_store(start_service: StartService, tmp_path: Path) -> None:
    """A user past its share of the tier is partially resident: filters run as SQL on the store; a small
    user's run in memory. `a"b` once never matched on the first path, and `x"."y` was an SQLite error."""
    env = {"JM_STM_PARTIAL_USER_VECTORS": "100", "JM_STM_WARM_USERS": "0"}
    svc = start_service(env, data_dir=tmp_path / "data")
    sizes = {"big": 300, "small": 60}
    with httpx.Client(base_url=svc.url, timeout=60) as c:
        for user, n in sizes.items():
            items = [{"content": f"m{i}", "metadata": _metadata(i)} for i in range(n)]
            assert c.post("/v1/memories/batch", json={"user_id": user, "items": items}).status_code == 201
        wait_shipped(svc.url)
    svc.stop()
    again = ServiceProcess(tmp_path / "data", env={"JM_EMBEDDER": "hash", **env}).start()  # big: from the store
    try:
        with httpx.Client(base_url=again.url, timeout=60) as c:
            for filters in FILTERS:
                for user, n in sizes.items():
                    r = c.post("/v1/search", json={"user_id": user, "query": "m", "k": 100, "filters": filters})
                    assert r.status_code == 200, r.text
                    got = {h["content"] for h in r.json()["results"]}
                    assert got == _expected(n, filters), (user, filters)
            assert metric(again.url, "jm_stm_mapped_bytes") > 0, "the big user was partially resident"
    finally:
        again.stop()
