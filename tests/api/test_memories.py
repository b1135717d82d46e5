"""Add, batch add, get, list, delete over real HTTP, on the embedded default store."""

from __future__ import annotations

import uuid

import httpx


def add(client: httpx.Client, user: str, content: str, **extra: object) -> dict:
    r = client.post("/v1/memories", json={"user_id": user, "content": content, **extra})
    assert r.status_code == 201, r.text
    return r.json()


def test_add_then_get_returns_the_memory(client: httpx.Client, user: str) -> None:
    created = add(client, user, "I like green tea", metadata={"topic": "drink"}, salience=0.9)
    assert created["user_id"] == user
    uuid.UUID(created["id"])
    r = client.get(f"/v1/memories/{created['id']}", params={"user_id": user})
    assert r.status_code == 200
    body = r.json()
    assert body["content"] == "I like green tea"
    assert body["metadata"] == {"topic": "drink"}
    assert body["salience"] == 0.9
    assert body["created_at"] == created["created_at"]


def test_batch_add_returns_ids_in_order(client: httpx.Client, user: str) -> None:
    items = [{"content": f"fact number {i}"} for i in range(25)]
    r = client.post("/v1/memories/batch", json={"user_id": user, "items": items})
    assert r.status_code == 201, r.text
    ids = r.json()["ids"]
    assert len(ids) == 25 and len(set(ids)) == 25
    for i in (0, 12, 24):
        got = client.get(f"/v1/memories/{ids[i]}", params={"user_id": user}).json()
        assert got["content"] == f"fact number {i}"


def test_batch_of_1000_is_accepted_and_1001_refused(client: httpx.Client, user: str) -> None:
    items = [{"content": f"m{i}"} for i in range(1000)]
    assert client.post("/v1/memories/batch", json={"user_id": user, "items": items}).status_code == 201
    r = client.post("/v1/memories/batch", json={"user_id": user, "items": [*items, {"content": "one more"}]})
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "items"


def test_repeating_a_write_with_the_same_id_changes_nothing(client: httpx.Client, user: str) -> None:
    mid = str(uuid.uuid4())
    first = add(client, user, "my sister lives in Lyon", id=mid)
    again = add(client, user, "my sister lives in Lyon", id=mid)
    assert first == again
    batch = client.post(
        "/v1/memories/batch", json={"user_id": user, "items": [{"content": "my sister lives in Lyon", "id": mid}]}
    )
    assert batch.status_code == 201 and batch.json()["ids"] == [mid]
    page = client.get("/v1/memories", params={"user_id": user}).json()
    assert [m["id"] for m in page["items"]] == [mid]


def test_same_id_with_different_content_is_a_conflict(client: httpx.Client, user: str) -> None:
    mid = str(uuid.uuid4())
    add(client, user, "original", id=mid)
    r = client.post("/v1/memories", json={"user_id": user, "content": "changed", "id": mid})
    assert r.status_code == 409
    assert r.json()["errors"][0]["field"] == "id"
    assert client.get(f"/v1/memories/{mid}", params={"user_id": user}).json()["content"] == "original"


def test_retried_batch_never_duplicates(client: httpx.Client, user: str) -> None:
    items = [{"content": f"retry {i}", "id": str(uuid.uuid4())} for i in range(50)]
    for _ in range(3):
        r = client.post("/v1/memories/batch", json={"user_id": user, "items": items})
        assert r.status_code == 201
        assert r.json()["ids"] == [i["id"] for i in items]
    page = client.get("/v1/memories", params={"user_id": user, "limit": 1000}).json()
    assert len(page["items"]) == 50


def test_delete_then_get_is_404(client: httpx.Client, user: str) -> None:
    mid = add(client, user, "to be forgotten")["id"]
    assert client.delete(f"/v1/memories/{mid}", params={"user_id": user}).status_code == 204
    r = client.get(f"/v1/memories/{mid}", params={"user_id": user})
    assert r.status_code == 404 and r.json()["errors"][0]["field"] == "id"
    assert client.delete(f"/v1/memories/{mid}", params={"user_id": user}).status_code == 404
    search = client.post("/v1/search", json={"user_id": user, "query": "forgotten"}).json()
    assert mid not in [h["id"] for h in search["results"]]


def test_unknown_id_is_404(client: httpx.Client, user: str) -> None:
    r = client.get(f"/v1/memories/{uuid.uuid4()}", params={"user_id": user})
    assert r.status_code == 404
    assert "id" in r.json()["detail"]


def test_list_pages_newest_first_with_cursor(client: httpx.Client, user: str) -> None:
    ids = [add(client, user, f"entry {i}")["id"] for i in range(7)]
    seen: list[str] = []
    cursor = None
    while True:
        params = {"user_id": user, "limit": 3, **({"cursor": cursor} if cursor else {})}
        page = client.get("/v1/memories", params=params).json()
        seen += [m["id"] for m in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == list(reversed(ids))


def test_list_of_unknown_user_is_empty(client: httpx.Client, user: str) -> None:
    page = client.get("/v1/memories", params={"user_id": user}).json()
    assert page == {"items": [], "next_cursor": None}


def test_health_and_readiness(client: httpx.Client) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"tiers_loaded": True, "ltm_reachable": True}
