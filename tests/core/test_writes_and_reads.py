"""The core use cases in-process: add, batch, get, list, delete, idempotency, isolation, restart."""

from __future__ import annotations

import uuid
from pathlib import Path

from starlette.testclient import TestClient

from tests.core.conftest import MakeClient


def add(c: TestClient, user: str, content: str, **extra: object) -> dict[str, object]:
    r = c.post("/v1/memories", json={"user_id": user, "content": content, **extra})
    assert r.status_code == 201, r.text
    return dict(r.json())


def test_add_get_list_delete(client: TestClient) -> None:
    created = add(client, "u", "I like green tea", metadata={"topic": "drink"}, salience=0.9)
    got = client.get(f"/v1/memories/{created['id']}", params={"user_id": "u"}).json()
    assert (got["content"], got["metadata"], got["salience"]) == ("I like green tea", {"topic": "drink"}, 0.9)
    assert [m["id"] for m in client.get("/v1/memories", params={"user_id": "u"}).json()["items"]] == [created["id"]]
    assert client.delete(f"/v1/memories/{created['id']}", params={"user_id": "u"}).status_code == 204
    assert client.get(f"/v1/memories/{created['id']}", params={"user_id": "u"}).status_code == 404
    assert client.delete(f"/v1/memories/{created['id']}", params={"user_id": "u"}).status_code == 404


def test_batch_keeps_order_and_repeats_are_idempotent(client: TestClient) -> None:
    mid = str(uuid.uuid4())
    items = [{"content": f"fact {i}"} for i in range(5)] + [{"content": "pinned", "id": mid}]
    ids = client.post("/v1/memories/batch", json={"user_id": "u", "items": items}).json()["ids"]
    assert len(ids) == 6 and ids[-1] == mid
    assert add(client, "u", "pinned", id=mid)["id"] == mid
    r = client.post("/v1/memories", json={"user_id": "u", "content": "other", "id": mid})
    assert r.status_code == 409 and r.json()["errors"][0]["field"] == "id"
    r = client.post("/v1/memories/batch", json={"user_id": "u", "items": [{"content": "a", "id": mid}] * 1 + [
        {"content": "b", "id": mid}]})  # fmt: skip
    assert r.status_code == 409 and r.json()["errors"][0]["field"] == "items[1].id"


def test_list_pages_newest_first_with_a_cursor(client: TestClient) -> None:
    for i in range(7):
        add(client, "pager", f"note {i}", created_at=1000.0 + i)
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, object] = {"user_id": "pager", "limit": 3, **({"cursor": cursor} if cursor else {})}
        page = client.get("/v1/memories", params=params).json()
        seen += [m["content"] for m in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == [f"note {i}" for i in range(6, -1, -1)]


def test_users_are_isolated_and_ids_are_scoped_by_user(client: TestClient) -> None:
    mid = str(uuid.uuid4())
    add(client, "alice", "alice's secret", id=mid)
    assert client.get(f"/v1/memories/{mid}", params={"user_id": "bob"}).status_code == 404
    add(client, "bob", "bob's own", id=mid)
    assert client.get(f"/v1/memories/{mid}", params={"user_id": "alice"}).json()["content"] == "alice's secret"
    hits = client.post("/v1/search", json={"user_id": "bob", "query": "secret"}).json()["results"]
    assert [h["content"] for h in hits] == ["bob's own"]


def test_search_finds_a_fresh_write_and_filters_before_ranking(client: TestClient) -> None:
    add(client, "s", "the red bicycle is in the garage", metadata={"kind": "place"})
    add(client, "s", "the bicycle needs new tyres", metadata={"kind": "todo"})
    hits = client.post("/v1/search", json={"user_id": "s", "query": "red bicycle garage", "k": 1}).json()["results"]
    assert hits[0]["content"] == "the red bicycle is in the garage"
    hits = client.post(
        "/v1/search", json={"user_id": "s", "query": "red bicycle garage", "filters": {"kind": "todo"}}
    ).json()["results"]
    assert [h["content"] for h in hits] == ["the bicycle needs new tyres"]


def test_everything_survives_a_restart(make_client: MakeClient, tmp_path: Path) -> None:
    data = tmp_path / "restart"
    first = make_client(data, stm_warm_users=0)
    ids = first.post(
        "/v1/memories/batch", json={"user_id": "r", "items": [{"content": f"kept {i}"} for i in range(20)]}
    ).json()["ids"]
    first.__exit__(None, None, None)
    second = make_client(data, stm_warm_users=0)
    assert second.get(f"/v1/memories/{ids[3]}", params={"user_id": "r"}).json()["content"] == "kept 3"
    listed = second.get("/v1/memories", params={"user_id": "r", "limit": 100}).json()["items"]
    assert sorted(m["id"] for m in listed) == sorted(ids)


def test_bad_input_names_the_field(client: TestClient) -> None:
    r = client.post("/v1/memories", json={"user_id": "u", "content": "   "})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "content"
    r = client.post("/v1/search", json={"user_id": "u", "query": "q", "k": 0})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "k"
    r = client.post("/v1/memories", content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 400 and r.json()["errors"][0]["field"] == "body"


def test_ready_and_metrics(client: TestClient) -> None:
    assert client.get("/readyz").json()["checks"] == {"tiers_loaded": True, "ltm_reachable": True}
    add(client, "m", "counted")
    text = client.get("/metrics").text
    assert 'jm_memory_creation_duration_seconds_count{mode="single"} 1.0' in text
