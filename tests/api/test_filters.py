"""Filters over HTTP: the operator grammar on search (body), list, export and bulk delete (the `filters`
query parameter, JSON), each bad clause a 422 naming its path, and a bulk delete durable across a crash."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx

from jean_memory.filters import COMPARISONS
from jean_memory_dev.processes import ServiceProcess
from tests.conftest import StartService

ITEMS = [
    {"content": "peanut allergy", "metadata": {"kind": "health", "level": 3}, "created_at": 1_700_000_000},
    {"content": "flight to Lisbon", "metadata": {"kind": "travel", "level": 1}, "created_at": 1_700_000_100},
    {"content": "quarterly review", "metadata": {"kind": "work", "level": "high"}, "created_at": 1_700_000_200},
    {"content": "dentist on Monday", "metadata": {"kind": "health"}, "created_at": 1_700_000_300},
    {"content": "hotel in Porto", "metadata": {"kind": "travel", "level": None}, "created_at": 1_700_000_400},
]


def add(client: httpx.Client, user: str) -> dict[str, str]:
    r = client.post("/v1/memories/batch", json={"user_id": user, "items": ITEMS})
    assert r.status_code == 201, r.text
    return {item["content"]: memory_id for item, memory_id in zip(ITEMS, r.json()["ids"], strict=True)}


def searched(client: httpx.Client, user: str, filters: Any) -> set[str]:
    r = client.post("/v1/search", json={"user_id": user, "query": "anything at all", "k": 100, "filters": filters})
    assert r.status_code == 200, r.text
    return {h["content"] for h in r.json()["results"]}


def listed(client: httpx.Client, user: str, filters: Any, limit: int = 100) -> list[str]:
    out: list[str] = []
    params: dict[str, str] = {"user_id": user, "limit": str(limit), "filters": json.dumps(filters)}
    while True:
        r = client.get("/v1/memories", params=params)
        assert r.status_code == 200, r.text
        out += [m["content"] for m in r.json()["items"]]
        if r.json()["next_cursor"] is None:
            return out
        params["cursor"] = r.json()["next_cursor"]


def refusal(r: httpx.Response) -> tuple[str, str]:
    assert r.status_code == 422, r.text
    (error,) = r.json()["errors"]
    return error["field"], error["message"]


def test_operators_on_search_list_and_export(client: httpx.Client, user: str) -> None:
    add(client, user)
    cases: list[tuple[dict[str, Any], set[str]]] = [
        ({"kind": "health"}, {"peanut allergy", "dentist on Monday"}),
        ({"kind": {"$in": ["work", "travel"]}, "level": {"$gte": 1}}, {"flight to Lisbon"}),
        ({"level": {"$gt": 0}}, {"peanut allergy", "flight to Lisbon"}),  # "high" is a string: not compared
        ({"level": {"$exists": False}}, {"dentist on Monday"}),
        ({"level": None}, {"dentist on Monday", "hotel in Porto"}),
        ({"$or": [{"kind": "work"}, {"created_at": {"$gte": "2023-11-14T22:20:00Z"}}]},
         {"quarterly review", "hotel in Porto"}),
        ({"$not": {"kind": {"$ne": "travel"}}}, {"flight to Lisbon", "hotel in Porto"}),
        ({"created_at": {"$gt": 1_700_000_000, "$lt": 1_700_000_300}}, {"flight to Lisbon", "quarterly review"}),
        ({"expires_at": {"$exists": True}}, set()),
    ]  # fmt: skip
    for filters, want in cases:
        assert searched(client, user, filters) == want, filters
        assert set(listed(client, user, filters)) == want, filters
        r = client.get("/v1/memories/export", params={"user_id": user, "filters": json.dumps(filters)})
        assert r.status_code == 200 and {json.loads(x)["content"] for x in r.text.splitlines()} == want, filters


def test_a_filtered_list_pages_newest_first(client: httpx.Client, user: str) -> None:
    add(client, user)
    assert listed(client, user, {"kind": {"$ne": "work"}}, limit=1) == [
        "hotel in Porto", "dentist on Monday", "flight to Lisbon", "peanut allergy"
    ]  # fmt: skip
    assert listed(client, user, {"kind": "nothing"}) == []


def test_the_plain_form_still_means_equality(client: httpx.Client, user: str) -> None:
    add(client, user)
    assert searched(client, user, {"kind": "travel", "level": 1}) == {"flight to Lisbon"}


def test_each_bad_clause_is_named(client: httpx.Client, user: str) -> None:
    body = {"user_id": user, "query": "q"}
    bad: list[tuple[Any, str, str]] = [
        ({"$or": [{"kind": "a"}, {"level": {"$gt": [1]}}]}, "filters.$or[1].level.$gt", "number or a string"),
        ({"kind": {"$regex": "^a"}}, "filters.kind.$regex", "unknown operator"),
        ({"$nor": [{"kind": "a"}]}, "filters.$nor", "unknown operator"),
        ({"kind": {"$in": "a"}}, "filters.kind.$in", "must be a list"),
        ({"created_at": {"$gte": "last week"}}, "filters.created_at.$gte", "ISO 8601"),
        ({"$and": []}, "filters.$and", "non-empty list"),
    ]
    for filters, path, words in bad:
        field, message = refusal(client.post("/v1/search", json={**body, "filters": filters}))
        assert field == path and words in message, (filters, field, message)
        field, message = refusal(client.get("/v1/memories", params={"user_id": user, "filters": json.dumps(filters)}))
        assert field == path and words in message, (filters, field, message)
    for text in ("{not json", "[]", '"kind"', '{"k": NaN}'):
        assert refusal(client.get("/v1/memories/export", params={"user_id": user, "filters": text}))[0] == "filters"
    twice = client.get("/v1/memories", params=[("user_id", user), ("filters", "{}"), ("filters", "{}")])
    assert refusal(twice) == ("filters", "given more than once")


def test_a_bulk_delete_cannot_forget_the_user_by_mistake(client: httpx.Client, user: str) -> None:
    ids = add(client, user)
    for params in ({"user_id": user, "filter": json.dumps({"kind": "work"})}, {"user_id": user, "filters": "{}"}):
        assert client.delete("/v1/memories", params=params).status_code == 422, params
    r = client.delete("/v1/memories", params={"user_id": user, "filters": json.dumps({"kind": "nothing"})})
    assert r.status_code == 200 and r.json() == {"user_id": user, "forgotten": 0}
    assert len(listed(client, user, {"kind": {"$exists": True}})) == len(ids)


def test_a_bulk_delete_by_filter_survives_a_crash(start_service: StartService, tmp_path: Path) -> None:
    """Deletes are journaled before the answer: killed at once (no drain), the service still has them."""
    data = tmp_path / "data"
    svc = start_service(data_dir=data)
    with httpx.Client(base_url=svc.url, timeout=30) as c:
        ids = add(c, "alice")
        add(c, "bob")
        r = c.delete("/v1/memories", params={"user_id": "alice", "filters": json.dumps({"kind": {"$ne": "travel"}})})
        assert r.status_code == 200 and r.json()["forgotten"] == 3, r.text
        assert c.get(f"/v1/memories/{ids['peanut allergy']}", params={"user_id": "alice"}).status_code == 404
    svc.kill()
    again = ServiceProcess(data).start()
    try:
        with httpx.Client(base_url=again.url, timeout=30) as c:
            assert set(listed(c, "alice", {"$not": {"kind": "x"}})) == {"flight to Lisbon", "hotel in Porto"}
            assert c.get(f"/v1/memories/{ids['peanut allergy']}", params={"user_id": "alice"}).status_code == 404
            assert len(listed(c, "bob", {"$not": {"kind": "x"}})) == len(ITEMS), "another user keeps everything"
            r = c.get("/v1/memories/export", params={"user_id": "alice", "filters": json.dumps({"kind": "health"})})
            assert r.status_code == 200 and r.text == ""
    finally:
        again.stop()


def test_the_schema_describes_the_grammar(client: httpx.Client) -> None:
    schema = client.get("/openapi.json").json()
    models = schema["components"]["schemas"]
    condition = next(o for o in models["FilterCondition"]["anyOf"] if o.get("type") == "object")
    assert set(condition["properties"]) == set(COMPARISONS)
    assert set(models["Filter"]["properties"]) >= {"$and", "$or", "$not", "created_at", "updated_at", "expires_at"}
    for route, method in (("/v1/memories", "get"), ("/v1/memories", "delete"), ("/v1/memories/export", "get")):
        (param,) = [p for p in schema["paths"][route][method]["parameters"] if p["name"] == "filters"]
        declared = param["content"]["application/json"]["schema"]
        assert {"$ref": "#/components/schemas/Filter"} in (declared, *declared.get("allOf", []))
    (delete,) = [p for p in schema["paths"]["/v1/memories"]["delete"]["parameters"] if p["name"] == "filters"]
    assert delete["content"]["application/json"]["schema"]["minProperties"] == 1, "{} would forget the user"
