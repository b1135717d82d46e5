"""Bad input gets a clear 4xx naming the field; never a 500, a hang or a corrupted store."""

from __future__ import annotations

import httpx
import pytest

from jean_memory.config import Settings

LIMIT = Settings().max_content_bytes


def fields(r: httpx.Response) -> list[str]:
    return [e["field"] for e in r.json()["errors"]]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"user_id": "u", "content": ""}, "content"),
        ({"user_id": "u", "content": "   \n\t"}, "content"),
        ({"user_id": "u", "content": "x" * (LIMIT + 1)}, "content"),
        ({"user_id": "u", "content": "é" * (LIMIT // 2 + 1)}, "content"),
        ({"user_id": "u", "content": "ok", "metadata": [1, 2]}, "metadata"),
        ({"user_id": "u", "content": "ok", "metadata": "text"}, "metadata"),
        ({"user_id": "u", "content": "ok", "salience": 2}, "salience"),
        ({"user_id": "u", "content": "ok", "id": "not-a-uuid"}, "id"),
        ({"content": "ok"}, "user_id"),
        ({"user_id": "", "content": "ok"}, "user_id"),
        ({"user_id": "   ", "content": "ok"}, "user_id"),
        ({"user_id": "u"}, "content"),
        ({"user_id": "u", "content": "ok", "colour": "red"}, "colour"),
        ({"user_id": 5, "content": "ok"}, "user_id"),
    ],
)
def test_add_rejects_with_field(client: httpx.Client, body: dict, field: str) -> None:
    r = client.post("/v1/memories", json=body)
    assert r.status_code == 422, r.text
    assert field in fields(r)
    assert field in r.json()["detail"]


def test_content_at_the_limit_is_accepted(client: httpx.Client, user: str) -> None:
    assert client.post("/v1/memories", json={"user_id": user, "content": "x" * LIMIT}).status_code == 201


def test_malformed_json_is_400(client: httpx.Client) -> None:
    r = client.post(
        "/v1/memories", content=b'{"user_id": "u", "content": ', headers={"content-type": "application/json"}
    )
    assert r.status_code == 400
    assert fields(r) == ["body"]


def test_non_object_body_is_422(client: httpx.Client) -> None:
    r = client.post("/v1/memories", json=[1, 2, 3])
    assert r.status_code == 422 and fields(r) == ["body"]


@pytest.mark.parametrize("k", [0, 101, -1, "ten"])
def test_k_out_of_range(client: httpx.Client, k: object) -> None:
    r = client.post("/v1/search", json={"user_id": "u", "query": "q", "k": k})
    assert r.status_code == 422 and fields(r) == ["k"]


def test_search_rejects_empty_query_and_bad_filters(client: httpx.Client) -> None:
    assert fields(client.post("/v1/search", json={"user_id": "u", "query": " "})) == ["query"]
    r = client.post("/v1/search", json={"user_id": "u", "query": "q", "filters": ["a"]})
    assert r.status_code == 422 and fields(r) == ["filters"]
    r = client.post("/v1/search", json={"user_id": "u", "query": "q", "filters": {"a": {"nested": 1}}})
    assert r.status_code == 422 and fields(r)[0].startswith("filters")


def test_batch_item_errors_name_the_item(client: httpx.Client) -> None:
    r = client.post("/v1/memories/batch", json={"user_id": "u", "items": [{"content": "fine"}, {"content": ""}]})
    assert r.status_code == 422 and fields(r) == ["items[1].content"]
    r = client.post("/v1/memories/batch", json={"user_id": "u", "items": []})
    assert r.status_code == 422 and fields(r) == ["items"]
    r = client.post("/v1/memories/batch", json={"user_id": "u", "items": [{"content": "y" * (LIMIT + 1)}]})
    assert r.status_code == 422 and fields(r) == ["items[0].content"]


def test_batch_with_one_id_twice_and_different_content_is_409(client: httpx.Client, user: str) -> None:
    import uuid

    mid = str(uuid.uuid4())
    r = client.post(
        "/v1/memories/batch",
        json={"user_id": user, "items": [{"content": "one", "id": mid}, {"content": "two", "id": mid}]},
    )
    assert r.status_code == 409 and fields(r) == ["items[1].id"]
    assert client.get(f"/v1/memories/{mid}", params={"user_id": user}).status_code == 404


def test_bad_ids_and_queries(client: httpx.Client) -> None:
    r = client.get("/v1/memories/not-a-uuid", params={"user_id": "u"})
    assert r.status_code == 422 and fields(r) == ["id"]
    r = client.get("/v1/memories/3f0e5a52-6f0b-4a53-9d55-0c5c1b0f0a11")
    assert r.status_code == 422 and fields(r) == ["user_id"]
    r = client.get("/v1/memories", params={"user_id": "u", "limit": 0})
    assert r.status_code == 422 and fields(r) == ["limit"]
    r = client.get("/v1/memories", params={"user_id": "u", "cursor": "garbage!"})
    assert r.status_code == 422 and fields(r) == ["cursor"]


def test_store_is_intact_after_bad_input(client: httpx.Client, user: str) -> None:
    good = client.post("/v1/memories", json={"user_id": user, "content": "still here"}).json()["id"]
    for body in ({"user_id": user, "content": ""}, {"user_id": user, "content": "x", "metadata": 1}):
        client.post("/v1/memories", json=body)
    page = client.get("/v1/memories", params={"user_id": user}).json()
    assert [m["id"] for m in page["items"]] == [good]
