"""Scopes (`agent_id`, `run_id`) over real HTTP on the embedded default store: every route takes and returns
them, a restricted search, list or export never crosses into another scope, forgetting a scope leaves the
rest, and the scope survives a restart, a partially resident user and an export re-imported elsewhere."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest

from tests.conftest import StartService


def add(client: httpx.Client, user: str, content: str, **extra: object) -> dict:
    r = client.post("/v1/memories", json={"user_id": user, "content": content, **extra})
    assert r.status_code == 201, r.text
    return r.json()


def seed(client: httpx.Client, user: str) -> dict[str, str]:
    """One memory per scope: run A, run B (both of agent X), agent Y alone, and unscoped. Ids by name."""
    return {
        "a": add(client, user, "the flight leaves at nine", run_id="run-a", agent_id="x")["id"],
        "b": add(client, user, "the flight leaves at ten", run_id="run-b", agent_id="x")["id"],
        "y": add(client, user, "the flight leaves at noon", agent_id="y")["id"],
        "none": add(client, user, "the flight leaves at dawn")["id"],
    }


def search(client: httpx.Client, user: str, **scope: str) -> list[dict]:
    r = client.post("/v1/search", json={"user_id": user, "query": "when does the flight leave", "k": 10, **scope})
    assert r.status_code == 200, r.text
    return list(r.json()["results"])


def listed(client: httpx.Client, user: str, **scope: str) -> set[str]:
    r = client.get("/v1/memories", params={"user_id": user, **scope})
    assert r.status_code == 200, r.text
    return {m["id"] for m in r.json()["items"]}


def test_every_answer_carries_the_scope(client: httpx.Client, user: str) -> None:
    ids = seed(client, user)
    got = client.get(f"/v1/memories/{ids['a']}", params={"user_id": user}).json()
    assert (got["agent_id"], got["run_id"]) == ("x", "run-a")
    plain = client.get(f"/v1/memories/{ids['none']}", params={"user_id": user}).json()
    assert (plain["agent_id"], plain["run_id"]) == (None, None)
    hits = {h["id"]: h for h in search(client, user)}
    assert (hits[ids["y"]]["agent_id"], hits[ids["y"]]["run_id"]) == ("y", None)
    versions = client.get(f"/v1/memories/{ids['b']}/history", params={"user_id": user}).json()["versions"]
    assert [(v["agent_id"], v["run_id"]) for v in versions] == [("x", "run-b")]


def test_search_list_and_export_restricted_to_a_scope_never_cross_it(client: httpx.Client, user: str) -> None:
    ids = seed(client, user)
    assert {h["id"] for h in search(client, user)} == set(ids.values()), "by default: every scope of the user"
    assert {h["id"] for h in search(client, user, run_id="run-a")} == {ids["a"]}
    assert {h["id"] for h in search(client, user, run_id="run-b")} == {ids["b"]}
    assert {h["id"] for h in search(client, user, agent_id="x")} == {ids["a"], ids["b"]}
    assert {h["id"] for h in search(client, user, agent_id="x", run_id="run-b")} == {ids["b"]}
    assert search(client, user, agent_id="y", run_id="run-a") == []
    assert search(client, user, run_id="no-such-run") == []
    assert listed(client, user, run_id="run-a") == {ids["a"]}
    assert listed(client, user, agent_id="x") == {ids["a"], ids["b"]}
    assert listed(client, user) == set(ids.values())
    r = client.get("/v1/memories/export", params={"user_id": user, "agent_id": "x"})
    lines = [json.loads(line) for line in r.text.splitlines()]
    assert {(line["id"], line["agent_id"], line["run_id"]) for line in lines} == {
        (ids["a"], "x", "run-a"),
        (ids["b"], "x", "run-b"),
    }


def test_a_scopes_page_by_page_list_is_complete(client: httpx.Client, user: str) -> None:
    """A scope's memories interleaved with many others: every page of the scope is full and nothing is lost."""
    items = [{"content": f"note {i}", "run_id": "sparse" if i % 50 == 0 else "dense"} for i in range(1000)]
    assert client.post("/v1/memories/batch", json={"user_id": user, "items": items}).status_code == 201
    seen: list[str] = []
    cursor = None
    while True:
        params = {"user_id": user, "run_id": "sparse", "limit": 7, **({"cursor": cursor} if cursor else {})}
        page = client.get("/v1/memories", params=params).json()
        seen += [m["content"] for m in page["items"]]
        assert all(m["run_id"] == "sparse" for m in page["items"])
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert sorted(seen) == sorted(f"note {i}" for i in range(0, 1000, 50))


def test_forgetting_a_run_leaves_other_runs_and_unscoped_memories(client: httpx.Client, user: str) -> None:
    ids = seed(client, user)
    r = client.delete("/v1/memories", params={"user_id": user, "run_id": "run-a"})
    assert r.status_code == 200, r.text
    assert r.json() == {"user_id": user, "forgotten": 1, "agent_id": None, "run_id": "run-a"}
    assert client.get(f"/v1/memories/{ids['a']}", params={"user_id": user}).status_code == 404
    assert listed(client, user) == {ids["b"], ids["y"], ids["none"]}
    assert {h["id"] for h in search(client, user)} == {ids["b"], ids["y"], ids["none"]}
    events = client.get(f"/v1/memories/{ids['a']}/history", params={"user_id": user}).json()["versions"]
    assert [e["event"] for e in events] == ["add", "delete"], "a scope's memories go as deletes"
    r = client.delete("/v1/memories", params={"user_id": user, "agent_id": "x"})
    assert r.json()["forgotten"] == 1
    assert listed(client, user) == {ids["y"], ids["none"]}
    assert client.delete("/v1/memories", params={"user_id": user, "run_id": "run-a"}).json()["forgotten"] == 0
    assert client.delete("/v1/memories", params={"user_id": user}).json() == {"user_id": user, "forgotten": 2}


def test_a_retry_in_another_scope_is_a_conflict(client: httpx.Client, user: str) -> None:
    mid = str(uuid.uuid4())
    first = add(client, user, "remember the milk", id=mid, run_id="r1")
    assert add(client, user, "remember the milk", id=mid, run_id="r1") == first
    for other in ({"run_id": "r2"}, {}, {"run_id": "r1", "agent_id": "a"}):
        r = client.post("/v1/memories", json={"user_id": user, "content": "remember the milk", "id": mid, **other})
        assert r.status_code == 409, (other, r.text)
        assert r.json()["errors"][0]["field"] == "id"
    r = client.post(
        "/v1/memories/batch",
        json={"user_id": user, "items": [{"content": "x", "id": mid, "run_id": "r1"}, {"content": "x", "id": mid}]},
    )
    assert r.status_code == 409 and r.json()["errors"][0]["field"] == "items[1].id"


def test_an_update_cannot_move_a_memory_between_scopes(client: httpx.Client, user: str) -> None:
    mid = add(client, user, "draft plan", run_id="r1")["id"]
    for field in ("run_id", "agent_id"):
        r = client.patch(f"/v1/memories/{mid}", params={"user_id": user}, json={field: "elsewhere"})
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == field, r.text
    r = client.patch(f"/v1/memories/{mid}", params={"user_id": user}, json={"content": "final plan"})
    assert r.status_code == 200 and r.json()["run_id"] == "r1" and r.json()["version"] == 2


def test_deduplication_stays_within_a_scope(client: httpx.Client, user: str) -> None:
    first = add(client, user, "my cat is called Miso", run_id="r1")
    again = client.post("/v1/memories", json={"user_id": user, "content": "my cat is called Miso", "run_id": "r1",
                                              "dedupe": True})  # fmt: skip
    assert again.status_code == 200 and again.json()["id"] == first["id"]
    for other in ({"run_id": "r2"}, {}):
        r = client.post("/v1/memories", json={"user_id": user, "content": "my cat is called Miso", "dedupe": True,
                                              **other})  # fmt: skip
        assert r.status_code == 201, (other, r.text)
    batch = client.post(
        "/v1/memories/batch",
        json={"user_id": user, "dedupe": True, "items": [{"content": "a new fact", "run_id": "r3"},
                                                         {"content": "a new fact", "run_id": "r4"}]},
    )  # fmt: skip
    assert batch.json()["deduplicated"] == [False, False]


@pytest.mark.parametrize(
    ("where", "body", "field"),
    [
        ("add", {"content": "x", "run_id": ""}, "run_id"),
        ("add", {"content": "x", "agent_id": "a" * 257}, "agent_id"),
        ("add", {"content": "x", "run_id": "bad\x01id"}, "run_id"),
        ("add", {"content": "x", "run_id": 7}, "run_id"),
        ("batch", {"items": [{"content": "x"}, {"content": "y", "agent_id": "   "}]}, "items[1].agent_id"),
        ("search", {"query": "x", "run_id": "\n"}, "run_id"),
        ("search", {"query": "x", "agent_id": ""}, "agent_id"),
    ],
)
def test_a_bad_scope_is_a_422_naming_the_field(
    client: httpx.Client, user: str, where: str, body: dict, field: str
) -> None:
    path = {"add": "/v1/memories", "batch": "/v1/memories/batch", "search": "/v1/search"}[where]
    r = client.post(path, json={"user_id": user, **body})
    assert r.status_code == 422, r.text
    assert r.json()["errors"][0]["field"] == field


@pytest.mark.parametrize("method", ["GET", "DELETE"])
@pytest.mark.parametrize("field", ["agent_id", "run_id"])
def test_a_bad_scope_in_the_query_is_a_422_naming_it(client: httpx.Client, user: str, method: str, field: str) -> None:
    for path in ("/v1/memories", "/v1/memories/export") if method == "GET" else ("/v1/memories",):
        r = client.request(method, path, params={"user_id": user, field: "x" * 257})
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == field, r.text


def test_the_scope_is_in_the_openapi_schema(client: httpx.Client) -> None:
    schema = client.get("/openapi.json").json()
    parts = schema["components"]["schemas"]
    for model in ("AddMemory", "BatchItem", "SearchRequest", "MemoryOut", "SearchHitOut", "Version"):
        assert {"agent_id", "run_id"} <= set(parts[model]["properties"]), model
    line = schema["paths"]["/v1/memories/export"]["get"]["responses"]["200"]["content"]["application/x-ndjson"]
    assert {"agent_id", "run_id"} <= set(line["schema"]["properties"])
    assert "agent_id" not in parts["UpdateMemory"]["properties"]
    for path, method in (("/v1/memories", "get"), ("/v1/memories", "delete"), ("/v1/memories/export", "get")):
        names = {p["name"] for p in schema["paths"][path][method]["parameters"]}
        assert {"agent_id", "run_id"} <= names, (path, method)


def test_an_export_reimported_keeps_its_scopes(start_service: StartService, client: httpx.Client, user: str) -> None:
    ids = seed(client, user)
    lines = [json.loads(line) for line in client.get("/v1/memories/export", params={"user_id": user}).text.splitlines()]
    assert "agent_id" not in next(line for line in lines if line["id"] == ids["none"]), "absent when unset"
    other = start_service()
    with httpx.Client(base_url=other.url, timeout=30) as c:
        assert c.post("/v1/memories/batch", json={"user_id": user, "items": lines}).status_code == 201
        assert {h["id"] for h in search(c, user, run_id="run-b")} == {ids["b"]}
        assert listed(c, user, agent_id="x") == {ids["a"], ids["b"]}


def _wait_shipped(c: httpx.Client) -> None:
    deadline = time.monotonic() + 60
    while "jm_shuttle_pending 0.0" not in c.get("/metrics").text:
        assert time.monotonic() < deadline, "the journal never drained to the store"
        time.sleep(0.05)


@pytest.mark.parametrize("partial", [False, True], ids=["resident", "partially-resident"])
def test_scopes_survive_a_restart_whole_or_partially_resident(start_service: StartService, partial: bool) -> None:
    """300 memories over three runs, shipped to the store; after a restart (the user then partially resident
    past 100 vectors) a restricted search, list and forget answer as before, and an unshipped write too."""
    env = {"JM_STM_PARTIAL_USER_VECTORS": "100", "JM_STM_WARM_USERS": "0"} if partial else {}
    service = start_service(env)
    items = [{"content": f"fact {i} about topic{i % 7}", "run_id": f"run{i % 3}", "created_at": 1000.0 + i}
             for i in range(300)]  # fmt: skip
    with httpx.Client(base_url=service.url, timeout=30) as c:
        ids = c.post("/v1/memories/batch", json={"user_id": "big", "items": items}).json()["ids"]
        _wait_shipped(c)
    service.stop()
    service.start()
    with httpx.Client(base_url=service.url, timeout=30) as c:
        late = add(c, "big", "fact late about topic1", run_id="run1")["id"]  # in the journal or the overlay
        hits = c.post("/v1/search", json={"user_id": "big", "query": "fact 4 about topic4", "k": 20, "run_id": "run1"})
        found = hits.json()["results"]
        assert found and all(h["run_id"] == "run1" for h in found), found
        assert ids[4] in {h["id"] for h in found}
        lexical = c.post("/v1/search", json={"user_id": "big", "query": "topic1", "k": 100, "run_id": "run2",
                                             "mode": "lexical"}).json()["results"]  # fmt: skip
        assert lexical and all(h["run_id"] == "run2" for h in lexical)
        page = c.get("/v1/memories", params={"user_id": "big", "run_id": "run0", "limit": 1000}).json()["items"]
        assert {m["id"] for m in page} == {ids[i] for i in range(0, 300, 3)}
        if partial:
            assert float(next(ln for ln in c.get("/metrics").text.splitlines()
                              if ln.startswith("jm_stm_mapped_bytes")).rsplit(" ", 1)[1]) > 0  # fmt: skip
        r = c.delete("/v1/memories", params={"user_id": "big", "run_id": "run1"})
        assert r.json()["forgotten"] == 101
        assert c.get(f"/v1/memories/{late}", params={"user_id": "big"}).status_code == 404
        rest = c.get("/v1/memories", params={"user_id": "big", "limit": 1000}).json()["items"]
        assert len(rest) == 200 and {m["run_id"] for m in rest} == {"run0", "run2"}
        again = c.post("/v1/search", json={"user_id": "big", "query": "fact 4 about topic4", "k": 20,
                                           "run_id": "run1"}).json()["results"]  # fmt: skip
        assert again == []
        dup = {"user_id": "big", "content": "fact 5 about topic5", "dedupe": True}
        same = c.post("/v1/memories", json={**dup, "run_id": "run2"})
        assert same.status_code == 200 and same.json()["id"] == ids[5], "a duplicate within its run"
        assert c.post("/v1/memories", json={**dup, "run_id": "run0"}).status_code == 201, "not across runs"


def test_a_backup_restored_keeps_the_scopes(start_service: StartService, tmp_path: Path) -> None:
    """`jean-memory backup` beside a running service, `restore` into a new folder: the scopes come back,
    shipped and journaled memories alike."""
    source = tmp_path / "source"
    service = start_service(data_dir=source)
    with httpx.Client(base_url=service.url, timeout=30) as c:
        ids = seed(c, "u")
        _wait_shipped(c)
        late = add(c, "u", "the flight leaves at midnight", run_id="run-a")["id"]
        made = subprocess.run(
            [sys.executable, "-m", "jean_memory", "backup", str(tmp_path / "backup")],
            env={**os.environ, "JM_DATA_DIR": str(source)}, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert made.returncode == 0, made.stderr
    restored = tmp_path / "restored"
    done = subprocess.run(
        [sys.executable, "-m", "jean_memory", "restore", str(tmp_path / "backup")],
        env={**os.environ, "JM_DATA_DIR": str(restored)}, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    with httpx.Client(base_url=start_service(data_dir=restored).url, timeout=30) as c:
        assert listed(c, "u", run_id="run-a") == {ids["a"], late}
        assert {h["id"] for h in search(c, "u", agent_id="x")} == {ids["a"], ids["b"]}


def test_no_scope_is_ever_a_metric_label(client: httpx.Client, user: str) -> None:
    add(client, user, "a memory of a scope with a telltale name", agent_id="agent-telltale", run_id="run-telltale")
    search(client, user, run_id="run-telltale")
    client.get("/v1/memories", params={"user_id": user, "agent_id": "agent-telltale"})
    client.delete("/v1/memories", params={"user_id": user, "run_id": "run-telltale"})
    assert "telltale" not in client.get("/metrics").text
