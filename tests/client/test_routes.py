"""Every route through the client, against a running service, for the blocking and the asyncio client."""

from __future__ import annotations

import time
import uuid

import pytest

from jean_memory_client import (
    Conflict,
    ExportedMemory,
    NewMemory,
    NotFound,
    RetryPolicy,
    TransportError,
    ValidationError,
)
from jean_memory_dev.processes import ServiceProcess, free_port
from tests.client.conftest import MakeClient


def test_add_get_update_history_delete(shared_service: ServiceProcess, make_client: MakeClient, user: str) -> None:
    m = make_client(shared_service.url)
    created = m.add(user, "Alice is vegetarian", metadata={"topic": "food"}, salience=0.8)
    assert created.user_id == user and not created.deduplicated
    uuid.UUID(created.id)  # chosen by the client
    got = m.get(user, created.id)
    assert (got.content, got.metadata, got.salience, got.version) == ("Alice is vegetarian", {"topic": "food"}, 0.8, 1)

    expiry = time.time() + 3600
    updated = m.update(user, created.id, content="Alice is vegan", expires_at=expiry)
    assert (updated.content, updated.metadata, updated.version, updated.expires_at) == (
        "Alice is vegan",
        {"topic": "food"},  # left out: unchanged
        2,
        pytest.approx(expiry),
    )
    assert m.update(user, created.id, expires_at=None).expires_at is None  # None removes the expiry
    history = m.history(user, created.id)
    assert [v.event for v in history.versions] == ["add", "update", "update"]
    assert [v.content for v in history.versions] == ["Alice is vegetarian", "Alice is vegan", "Alice is vegan"]

    m.delete(user, created.id)
    with pytest.raises(NotFound) as missing:
        m.get(user, created.id)
    assert missing.value.status_code == 404 and missing.value.field == "id"
    with pytest.raises(NotFound):
        m.delete(user, created.id)  # a delete with no lost answer before it: a real 404


def test_a_chosen_id_is_idempotent_and_other_content_conflicts(
    shared_service: ServiceProcess, make_client: MakeClient, user: str
) -> None:
    m = make_client(shared_service.url)
    chosen = str(uuid.uuid4())
    first = m.add(user, "the same write", id=chosen)
    again = m.add(user, "the same write", id=chosen)
    assert first.id == again.id == chosen
    assert [x.id for x in m.iter_memories(user)] == [chosen]
    with pytest.raises(Conflict) as conflict:
        m.add(user, "other content", id=chosen)
    assert conflict.value.field == "id"


def test_batch_search_and_forget(shared_service: ServiceProcess, make_client: MakeClient, user: str) -> None:
    m = make_client(shared_service.url)
    items = [NewMemory("Bob plays the cello", {"kind": "hobby"}), "Bob lives in Lyon", {"content": "Bob likes tea"}]
    batch = m.add_batch(user, items)
    assert len(batch.ids) == 3 and batch.deduplicated == [False] * 3
    assert items[0].id == batch.ids[0]  # the NewMemory keeps the id chosen for it: re-sending it repeats it
    assert m.add_batch(user, items[:1]).ids == batch.ids[:1]

    hits = m.search(user, "cello", k=2)
    assert hits.results[0].id == batch.ids[0] and hits.results[0].tier in ("stm", "pending")
    filtered = m.search(user, "Bob", k=3, filters={"kind": "hobby"})
    assert [h.id for h in filtered] == [batch.ids[0]]
    lexical = m.search(user, "Lyon", k=3, mode="lexical", explain=True)  # the ranking options reach the service
    assert [h.id for h in lexical] == [batch.ids[1]]
    assert lexical.results[0].explain is not None and lexical.results[0].explain["lexical"] > 0
    assert all(h.explain is None for h in m.search(user, "Bob", k=3))  # asked for only
    assert not m.search(user, "Bob", k=3, min_score=2.5).results  # nothing scores that high

    assert m.forget(user) == 3
    assert list(m.iter_memories(user)) == []


def test_pagination_and_export_iterate_everything(
    shared_service: ServiceProcess, make_client: MakeClient, user: str
) -> None:
    m = make_client(shared_service.url)
    added = m.add_many(user, [f"memory number {i}" for i in range(23)], batch_size=5)
    assert len(added.ids) == len(set(added.ids)) == 23

    first = m.list(user, limit=10)
    assert len(first) == 10 and first.next_cursor is not None
    listed = list(m.iter_memories(user, page_size=4))
    assert sorted(x.id for x in listed) == sorted(added.ids)
    assert len(listed) == 23  # no page repeated or skipped

    exported = list(m.export(user))
    assert all(isinstance(x, ExportedMemory) for x in exported)
    assert sorted(x.id for x in exported) == sorted(added.ids)

    # An export is a valid batch: it adds back (to another user) as it was, ids and times included.
    copy = f"{user}-copy"
    assert m.add_many(copy, exported, batch_size=7).ids == [x.id for x in exported]
    again = {x.id: (x.content, x.created_at) for x in m.export(copy)}
    assert again == {x.id: (x.content, x.created_at) for x in exported}


def test_filters_on_search_list_export_and_bulk_delete(
    shared_service: ServiceProcess, make_client: MakeClient, user: str
) -> None:
    m = make_client(shared_service.url)
    items = [NewMemory(f"note {i}", {"kind": "a" if i % 3 else "b", "n": i}, created_at=1_700_000_000 + i)
             for i in range(12)]  # fmt: skip
    ids = m.add_batch(user, items).ids
    chosen = {"kind": "a", "n": {"$gte": 4}}
    want = {ids[i] for i in range(12) if i % 3 and i >= 4}
    assert {h.id for h in m.search(user, "note", k=20, filters=chosen)} == want
    assert {x.id for x in m.list(user, limit=100, filters=chosen).items} == want
    assert {x.id for x in m.iter_memories(user, page_size=2, filters=chosen)} == want
    assert {x.id for x in m.export(user, filters={"$or": [chosen, {"created_at": {"$lt": 1_700_000_001}}]})} == {
        *want,
        ids[0],
    }
    with pytest.raises(ValidationError) as refused:
        m.list(user, filters={"n": {"$gt": None}})
    assert refused.value.field == "filters.n.$gt"
    with pytest.raises(ValueError):
        m.delete_matching(user, {})
    assert m.delete_matching(user, chosen) == len(want)
    assert len(list(m.iter_memories(user))) == 12 - len(want)


def test_errors_name_the_field(shared_service: ServiceProcess, make_client: MakeClient, user: str) -> None:
    m = make_client(shared_service.url)
    with pytest.raises(ValidationError) as blank:
        m.add(user, "   ")
    assert blank.value.status_code == 422 and blank.value.field == "content"
    with pytest.raises(ValidationError) as item:
        m.add_batch(user, ["fine", {"content": "x", "salience": 7}])
    assert item.value.field == "items[1].salience"
    with pytest.raises(ValidationError) as unknown:
        m.add(user, "x", extra={"agent": "a1"})  # a field the service does not know (yet) is named, never dropped
    assert unknown.value.field == "agent" and "not a known field" in str(unknown.value)
    with pytest.raises(ValidationError) as page:
        m.list(user, limit=5000)
    assert page.value.field == "limit"


def test_probes_and_an_unreachable_service(shared_service: ServiceProcess, make_client: MakeClient) -> None:
    m = make_client(shared_service.url)
    assert m.health() is True
    ready = m.ready()
    assert ready.ready and all(ready.checks.values())
    down = make_client(f"http://127.0.0.1:{free_port()}", retry=RetryPolicy(max_attempts=2, backoff_initial_s=0.01))
    with pytest.raises(TransportError) as refused:
        down.add("u", "x")
    assert refused.value.maybe_applied is False
