"""The memory lifecycle in-process (embedded mode): update with history, forget a user, expiry,
deduplication, export and import, tenant-scoped keys, retrieval-quality metrics."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

from starlette.testclient import TestClient

from tests.core.conftest import MakeClient


def add(c: TestClient, user: str, content: str, **extra: object) -> dict[str, object]:
    r = c.post("/v1/memories", json={"user_id": user, "content": content, **extra})
    assert r.status_code == 201, r.text
    return dict(r.json())


def search(c: TestClient, user: str, query: str, k: int = 5) -> list[dict[str, object]]:
    r = c.post("/v1/search", json={"user_id": user, "query": query, "k": k})
    assert r.status_code == 200, r.text
    return list(r.json()["results"])


def test_update_makes_a_new_version_and_search_follows_the_new_text(client: TestClient) -> None:
    mid = add(client, "u", "my favourite colour is green", metadata={"kind": "taste"})["id"]
    r = client.patch(f"/v1/memories/{mid}", params={"user_id": "u"}, json={"content": "my favourite colour is red"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["version"] == 2 and body["content"] == "my favourite colour is red"
    assert body["metadata"] == {"kind": "taste"} and body["updated_at"] >= body["created_at"]
    hits = search(client, "u", "colour green")
    assert all("green" not in h["content"] for h in hits)
    assert search(client, "u", "favourite colour red")[0]["id"] == mid
    again = client.patch(f"/v1/memories/{mid}", params={"user_id": "u"}, json={"content": "my favourite colour is red"})
    assert again.json()["version"] == 2, "a retried update changes nothing"
    meta = client.patch(f"/v1/memories/{mid}", params={"user_id": "u"}, json={"metadata": {"k": 1}, "salience": 0.9})
    assert meta.json()["version"] == 3 and meta.json()["salience"] == 0.9
    assert search(client, "u", "favourite colour red")[0]["id"] == mid, "a metadata update keeps the vector"
    history = client.get(f"/v1/memories/{mid}/history", params={"user_id": "u"}).json()["versions"]
    assert [(v["version"], v["event"]) for v in history] == [(1, "add"), (2, "update"), (3, "update")]
    assert history[0]["content"] == "my favourite colour is green"
    assert client.delete(f"/v1/memories/{mid}", params={"user_id": "u"}).status_code == 204
    history = client.get(f"/v1/memories/{mid}/history", params={"user_id": "u"}).json()["versions"]
    assert [v["event"] for v in history] == ["add", "update", "update", "delete"]


def test_update_names_what_is_wrong(client: TestClient) -> None:
    mid = add(client, "u", "a fact")["id"]
    assert client.patch(f"/v1/memories/{mid}", params={"user_id": "u"}, json={}).json()["errors"][0]["field"] == "body"
    r = client.patch(f"/v1/memories/{mid}", params={"user_id": "u"}, json={"content": None})
    assert r.status_code == 200 and r.json()["version"] == 1, "null leaves a field as it is"
    r = client.post("/v1/memories", json={"user_id": "u", "content": "x", "dedupe": 1})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "dedupe"
    r = client.patch(f"/v1/memories/{mid}", params={"user_id": "u"}, json={"salience": 3})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "salience"
    r = client.patch(f"/v1/memories/{uuid.uuid4()}", params={"user_id": "u"}, json={"salience": 0.1})
    assert r.status_code == 404
    assert client.get(f"/v1/memories/{uuid.uuid4()}/history", params={"user_id": "u"}).status_code == 404


def test_forget_a_user_removes_everything_and_survives_a_restart(make_client: MakeClient, tmp_path: Path) -> None:
    data = tmp_path / "forget"
    c = make_client(data, stm_warm_users=0)
    ids = c.post("/v1/memories/batch", json={"user_id": "gone", "items": [{"content": f"f{i}"} for i in range(30)]})
    kept = add(c, "stays", "another user's memory")["id"]
    r = c.delete("/v1/memories", params={"user_id": "gone"})
    assert r.status_code == 200 and r.json() == {"user_id": "gone", "forgotten": 30}
    first = ids.json()["ids"][0]
    _nothing_left(c, first, kept)
    c.__exit__(None, None, None)
    c = make_client(data, stm_warm_users=0)
    _nothing_left(c, first, kept)
    assert add(c, "gone", "a new beginning")["id"]
    assert c.delete("/v1/memories", params={"user_id": "gone"}).json()["forgotten"] == 1


def _nothing_left(client: TestClient, first: str, kept: str) -> None:
    assert client.get(f"/v1/memories/{first}", params={"user_id": "gone"}).status_code == 404
    assert client.get("/v1/memories", params={"user_id": "gone"}).json()["items"] == []
    assert search(client, "gone", "f1") == []
    assert client.get(f"/v1/memories/{first}/history", params={"user_id": "gone"}).status_code == 404
    assert client.get(f"/v1/memories/{kept}", params={"user_id": "stays"}).status_code == 200


def test_expired_memories_are_never_returned_and_are_swept(make_client: MakeClient, tmp_path: Path) -> None:
    c = make_client(tmp_path / "expiry", expiry_sweep_s=0.2)
    soon = add(c, "e", "the parking ticket expires soon", expires_at=time.time() + 0.5)["id"]
    never = add(c, "e", "the parking ticket is in the glovebox")["id"]
    assert c.get(f"/v1/memories/{soon}", params={"user_id": "e"}).json()["expires_at"] is not None
    assert soon in [h["id"] for h in search(c, "e", "parking ticket")]
    time.sleep(0.7)
    assert c.get(f"/v1/memories/{soon}", params={"user_id": "e"}).status_code == 404
    assert [m["id"] for m in c.get("/v1/memories", params={"user_id": "e"}).json()["items"]] == [never]
    assert [h["id"] for h in search(c, "e", "parking ticket")] == [never]
    deadline = time.monotonic() + 5
    while "jm_memory_expired_total 1.0" not in c.get("/metrics").text:
        assert time.monotonic() < deadline, "the sweep did not run"
        time.sleep(0.1)
    events = [v["event"] for v in c.get(f"/v1/memories/{soon}/history", params={"user_id": "e"}).json()["versions"]]
    assert events == ["add", "expire"]
    r = c.patch(f"/v1/memories/{never}", params={"user_id": "e"}, json={"expires_at": time.time() + 3600})
    assert r.status_code == 200 and r.json()["expires_at"] is not None
    r = c.patch(f"/v1/memories/{never}", params={"user_id": "e"}, json={"expires_at": None})
    assert r.json()["expires_at"] is None


def test_deduplicated_adds_create_nothing_and_name_the_original(make_client: MakeClient, tmp_path: Path) -> None:
    c = make_client(tmp_path / "dedupe", dedup_threshold=0.9)
    original = add(c, "d", "I am allergic to peanuts and shellfish")["id"]
    same = {"user_id": "d", "content": "I am allergic to peanuts and shellfish", "dedupe": True}
    r = c.post("/v1/memories", json=same)
    assert r.status_code == 200 and r.json()["deduplicated"] is True and r.json()["id"] == original
    r = c.post("/v1/memories", json={**same, "content": "I am allergic to peanuts, and shellfish!"})
    assert r.json()["deduplicated"] is True and r.json()["id"] == original
    r = c.post("/v1/memories", json={"user_id": "d", "content": "my car is a red Toyota", "dedupe": True})
    assert r.status_code == 201 and r.json()["deduplicated"] is False
    assert search(c, "d", "red toyota car", 1)[0]["id"] == r.json()["id"], "the vector made for the check is kept"
    items = [{"content": "the dentist is on monday"}, {"content": "the dentist is on monday"}, {"content": "new"}]
    batch = c.post("/v1/memories/batch", json={"user_id": "d", "items": items, "dedupe": True}).json()
    assert batch["deduplicated"] == [False, True, False] and batch["ids"][0] == batch["ids"][1]
    plain = c.post("/v1/memories", json={"user_id": "d", "content": "I am allergic to peanuts and shellfish"})
    assert plain.status_code == 201 and plain.json()["deduplicated"] is False, "without the flag nothing is checked"
    assert "jm_memory_deduplicated_total 3.0" in c.get("/metrics").text


def test_export_streams_ndjson_that_batch_add_imports_with_the_same_ids(client: TestClient) -> None:
    items = [{"content": f"fact {i}", "metadata": {"n": i}, "created_at": 1000.0 + i} for i in range(25)]
    ids = client.post("/v1/memories/batch", json={"user_id": "x", "items": items}).json()["ids"]
    mid = ids[3]
    client.patch(f"/v1/memories/{mid}", params={"user_id": "x"}, json={"content": "fact three, corrected"})
    add(client, "x", "expired already", expires_at=time.time() + 0.2)
    time.sleep(0.3)
    r = client.get("/v1/memories/export", params={"user_id": "x"})
    assert r.status_code == 200 and r.headers["content-type"] == "application/x-ndjson"
    lines = [json.loads(line) for line in r.text.splitlines()]
    assert [line["id"] for line in lines] == ids, "oldest first, the expired one left out"
    assert set(lines[0]) == {"id", "content", "metadata", "salience", "created_at", "expires_at", "version"}
    assert lines[3]["version"] == 2 and lines[3]["content"] == "fact three, corrected"
    imported = client.post("/v1/memories/batch", json={"user_id": "copy", "items": lines})
    assert imported.status_code == 201 and imported.json()["ids"] == ids
    assert client.get(f"/v1/memories/{mid}", params={"user_id": "copy"}).json()["content"] == "fact three, corrected"
    assert client.get("/v1/memories/export", params={"user_id": "nobody"}).text == ""


def test_tenant_scoped_keys_make_two_users_of_one_user_id(make_client: MakeClient, tmp_path: Path) -> None:
    keys_file = tmp_path / "keys"
    key_acme, key_globex, key_default = (f"key-{name}".ljust(32, "0") for name in ("acme", "globex", "default"))
    keys_file.write_text(f"# tenants\n{key_globex}:globex\n")
    c = make_client(tmp_path / "tenants", api_keys=f"{key_acme}:acme,{key_default}", api_keys_file=keys_file)
    acme, globex, default = ({"Authorization": f"Bearer {k}"} for k in (key_acme, key_globex, key_default))
    mid = str(uuid.uuid4())
    for headers, text in ((acme, "acme's secret plan"), (globex, "globex's secret plan")):
        r = c.post("/v1/memories", json={"user_id": "bob", "id": mid, "content": text}, headers=headers)
        assert r.status_code == 201 and r.json()["user_id"] == "bob"
    wrong = {"Authorization": "Bearer no"}
    assert c.post("/v1/memories", json={"user_id": "bob", "content": "x"}, headers=wrong).status_code == 401
    get = c.get(f"/v1/memories/{mid}", params={"user_id": "bob"}, headers=acme).json()
    assert get["content"] == "acme's secret plan" and get["user_id"] == "bob"
    assert c.get(f"/v1/memories/{mid}", params={"user_id": "bob"}, headers=default).status_code == 404
    hits = c.post("/v1/search", json={"user_id": "bob", "query": "secret plan"}, headers=globex).json()["results"]
    assert [h["content"] for h in hits] == ["globex's secret plan"]
    listed = c.get("/v1/memories", params={"user_id": "bob"}, headers=globex).json()["items"]
    assert [m["content"] for m in listed] == ["globex's secret plan"]
    c.patch(f"/v1/memories/{mid}", params={"user_id": "bob"}, json={"salience": 1.0}, headers=acme)
    assert c.get(f"/v1/memories/{mid}", params={"user_id": "bob"}, headers=globex).json()["version"] == 1
    history = c.get(f"/v1/memories/{mid}/history", params={"user_id": "bob"}, headers=globex).json()["versions"]
    assert [v["content"] for v in history] == ["globex's secret plan"]
    export = c.get("/v1/memories/export", params={"user_id": "bob"}, headers=acme).text
    assert "acme's secret plan" in export and "globex" not in export
    assert c.delete("/v1/memories", params={"user_id": "bob"}, headers=globex).json()["forgotten"] == 1
    assert c.get(f"/v1/memories/{mid}", params={"user_id": "bob"}, headers=acme).status_code == 200
    assert c.delete(f"/v1/memories/{mid}", params={"user_id": "bob"}, headers=globex).status_code == 404
    assert c.delete(f"/v1/memories/{mid}", params={"user_id": "bob"}, headers=acme).status_code == 204


def test_retrieval_quality_is_measured(client: TestClient) -> None:
    add(client, "q", "the piano lesson is on friday")
    search(client, "q", "piano lesson friday")
    search(client, "nobody-home", "anything at all")
    text = client.get("/metrics").text
    assert "jm_search_top_score_count 1.0" in text
    assert "jm_search_empty_total 1.0" in text
