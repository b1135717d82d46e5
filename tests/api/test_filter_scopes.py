"""Filters on the scopes `agent_id` and `run_id`, and filters within a scope: the filter grammar reads a
memory's own `agent_id`/`run_id` (not a metadata key of that name), and a scope named by the route's
parameters (search's body fields) combines with `filters` as their conjunction, on search, list, export
and the bulk delete alike."""

from __future__ import annotations

import json
from typing import Any

import httpx

ITEMS: list[dict[str, Any]] = [
    {"content": "planner note", "agent_id": "planner", "run_id": "r1", "metadata": {"kind": "todo"}},
    {"content": "planner idea", "agent_id": "planner", "run_id": "r2", "metadata": {"kind": "idea"}},
    {"content": "critic note", "agent_id": "critic", "run_id": "r1", "metadata": {"kind": "todo"}},
    # A metadata key named like a field is not the field: this memory has no agent.
    {"content": "unscoped note", "metadata": {"kind": "todo", "agent_id": "planner"}},
]


def _add(client: httpx.Client, user: str) -> None:
    for item in ITEMS:
        r = client.post("/v1/memories", json={"user_id": user, **item})
        assert r.status_code == 201, r.text


def test_filters_select_by_agent_and_run(client: httpx.Client, user: str) -> None:
    _add(client, user)

    def contents(filters: dict[str, object]) -> set[str]:
        r = client.get("/v1/memories", params={"user_id": user, "filters": json.dumps(filters)})
        assert r.status_code == 200, r.text
        return {m["content"] for m in r.json()["items"]}

    assert contents({"agent_id": "planner"}) == {"planner note", "planner idea"}
    assert contents({"run_id": "r1", "agent_id": {"$ne": "planner"}}) == {"critic note"}
    assert contents({"agent_id": {"$exists": False}}) == {"unscoped note"}
    assert contents({"$or": [{"agent_id": {"$in": ["critic"]}}, {"run_id": None}]}) == {"critic note", "unscoped note"}
    assert contents({"run_id": {"$gte": "r2"}}) == {"planner idea"}


def test_a_scope_and_a_filter_combine_on_every_route(client: httpx.Client, user: str) -> None:
    _add(client, user)
    todo = json.dumps({"kind": "todo"})

    def listed(**params: str) -> set[str]:
        r = client.get("/v1/memories", params={"user_id": user, **params})
        assert r.status_code == 200, r.text
        return {m["content"] for m in r.json()["items"]}

    def exported(**params: str) -> set[str]:
        r = client.get("/v1/memories/export", params={"user_id": user, **params})
        assert r.status_code == 200, r.text
        return {json.loads(line)["content"] for line in r.text.splitlines()}

    def searched(**body: Any) -> set[str]:
        r = client.post("/v1/search", json={"user_id": user, "query": "note", "k": 10, **body})
        assert r.status_code == 200, r.text
        return {h["content"] for h in r.json()["results"]}

    for read in (listed, exported):
        assert read(agent_id="planner", filters=todo) == {"planner note"}
        assert read(run_id="r1", filters=todo) == {"planner note", "critic note"}
        # The same selection said in the filter alone, and a filter that contradicts the scope: nothing.
        assert read(filters=json.dumps({"agent_id": "planner", "kind": "todo"})) == {"planner note"}
        assert read(agent_id="planner", filters=json.dumps({"agent_id": "critic"})) == set()
    assert searched(agent_id="planner", filters={"kind": "todo"}) == {"planner note"}
    assert searched(run_id="r1", filters={"agent_id": {"$ne": "planner"}}) == {"critic note"}
    assert searched(filters={"agent_id": "planner", "kind": "todo"}) == {"planner note"}

    # A bulk delete within a scope: only the scope's memories the filter selects go, durably counted.
    r = client.delete("/v1/memories", params={"user_id": user, "run_id": "r1", "filters": todo})
    assert r.status_code == 200, r.text
    assert r.json() == {"user_id": user, "forgotten": 2, "agent_id": None, "run_id": "r1"}
    assert listed() == {"planner idea", "unscoped note"}
    # Then forgetting a scope without a filter, and a filter with no scope.
    r = client.delete("/v1/memories", params={"user_id": user, "agent_id": "planner"})
    assert r.status_code == 200 and r.json()["forgotten"] == 1, r.text
    r = client.delete("/v1/memories", params={"user_id": user, "filters": json.dumps({"agent_id": None})})
    assert r.status_code == 200 and r.json() == {"user_id": user, "forgotten": 1}, r.text
    assert listed() == set()


def test_a_scope_with_an_empty_or_misspelt_filter_is_refused(client: httpx.Client, user: str) -> None:
    _add(client, user)
    for params, name in (({"run_id": "r1", "filters": "{}"}, "filters"), ({"run_id": "r1", "filter": "{}"}, "filter")):
        r = client.delete("/v1/memories", params={"user_id": user, **params})
        assert r.status_code == 422, r.text
        assert [e["field"] for e in r.json()["errors"]] == [name], r.text
    r = client.get("/v1/memories", params={"user_id": user})
    assert len(r.json()["items"]) == len(ITEMS), "nothing was deleted"
