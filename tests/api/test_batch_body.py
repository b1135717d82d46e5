"""The batch add's body is decoded and parsed a slice at a time (`api/batchbody.py`): what it stores and
what it refuses is exactly what parsing the whole body at once would give."""

from __future__ import annotations

import json
import random

import httpx

from jean_memory.api.batchbody import DECODE_SLICE


def test_a_body_of_many_slices_stores_every_item_exactly(client: httpx.Client, user: str) -> None:
    """Multi-byte characters, escapes and numbers fall across slice boundaries; every item comes back as sent."""
    rng = random.Random(7)
    alphabet = 'abcé€😀"\\\n\t '
    items = [
        {
            "content": "x" + "".join(rng.choice(alphabet) for _ in range(rng.randrange(200, 1200))),
            "metadata": {"n": rng.randrange(10**12), "f": rng.random(), "s": "€" * rng.randrange(5)},
            "salience": round(rng.random(), 6),
        }
        for _ in range(1000)
    ]
    body = json.dumps({"items": items, "user_id": user}, ensure_ascii=rng.random() < 0.5).encode()
    assert len(body) > 4 * DECODE_SLICE
    r = client.post("/v1/memories/batch", content=body, headers={"content-type": "application/json"})
    assert r.status_code == 201, r.text
    ids = r.json()["ids"]
    stored = {
        m["id"]: m for m in map(json.loads, client.get("/v1/memories/export", params={"user_id": user}).iter_lines())
    }
    for memory_id, item in zip(ids, items, strict=True):
        got = stored[memory_id]
        assert (got["content"], got["metadata"], got["salience"]) == (
            item["content"],
            item["metadata"],
            item["salience"],
        )


def test_a_malformed_body_is_refused_where_it_breaks(client: httpx.Client, user: str) -> None:
    items = json.dumps([{"content": f"item {i} " + "y" * 500} for i in range(900)])
    for body in (
        f'{{"user_id": "{user}", "items": {items[:-1]}',  # cut short after many slices
        f'{{"user_id": "{user}", "items": {items} x',  # extra data after the document
        f'{{"user_id": "{user}", "items": {items[: len(items) // 2]} oops',  # broken in the middle
        b"\xff\xfe\xfa".decode("latin-1"),
    ):
        r = client.post("/v1/memories/batch", content=body.encode("latin-1" if body[0] != "{" else "utf-8"),
                        headers={"content-type": "application/json"})  # fmt: skip
        assert r.status_code == 400 and r.json()["errors"][0]["field"] == "body", r.text


def test_items_are_validated_as_they_are_reached_and_all_errors_named(client: httpx.Client, user: str) -> None:
    items = [{"content": "fine"}] * 600 + [{"content": ""}, {"content": 5}] + [{"content": "fine"}] * 300
    r = client.post("/v1/memories/batch", json={"items": items, "user_id": user, "zzz": 1})
    assert r.status_code == 422
    assert [e["field"] for e in r.json()["errors"]] == ["zzz", "items[600].content", "items[601].content"]
    r = client.post("/v1/memories/batch", json={"user_id": user, "items": [{"content": "a"}] * 1001})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "items"
