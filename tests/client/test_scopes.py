"""Scopes through the client, against a running service, for the blocking and the asyncio client: every
call that takes `agent_id` / `run_id` restricts to that scope, every answer carries it, and an export
added back elsewhere keeps it."""

from __future__ import annotations

import pytest

from jean_memory_client import Conflict, NewMemory, ValidationError
from jean_memory_dev.processes import ServiceProcess
from tests.client.conftest import MakeClient


def test_every_call_takes_and_returns_the_scope(
    shared_service: ServiceProcess, make_client: MakeClient, user: str
) -> None:
    m = make_client(shared_service.url)
    a = m.add(user, "the meeting moved to Tuesday", agent_id="planner", run_id="s1")
    b = m.add_batch(user, [NewMemory("the meeting moved to Thursday", agent_id="planner", run_id="s2")]).ids[0]
    plain = m.add(user, "the meeting moved to Friday").id
    got = m.get(user, a.id)
    assert (got.agent_id, got.run_id) == ("planner", "s1")
    assert [(v.event, v.run_id) for v in m.history(user, a.id).versions] == [("add", "s1")]
    assert {h.id for h in m.search(user, "when is the meeting", run_id="s1")} == {a.id}
    assert {h.id for h in m.search(user, "when is the meeting", agent_id="planner")} == {a.id, b}
    assert {h.run_id for h in m.search(user, "when is the meeting")} == {"s1", "s2", None}
    assert {x.id for x in m.list(user, run_id="s2")} == {b}
    assert {x.id for x in m.iter_memories(user, agent_id="planner", page_size=1)} == {a.id, b}
    exported = list(m.export(user, run_id="s1"))
    assert [(e.id, e.agent_id, e.run_id) for e in exported] == [(a.id, "planner", "s1")]
    with pytest.raises(Conflict) as moved:
        m.add(user, "the meeting moved to Tuesday", id=a.id, agent_id="planner", run_id="s9")
    assert moved.value.field == "id"
    with pytest.raises(ValidationError) as bad:
        m.search(user, "x", run_id="")
    assert bad.value.field == "run_id"
    assert m.forget(user, run_id="s1") == 1
    assert {x.id for x in m.iter_memories(user)} == {b, plain}
    assert m.forget(user, agent_id="planner") == 1
    assert {x.id for x in m.iter_memories(user)} == {plain}


def test_an_export_added_back_keeps_its_scope(
    shared_service: ServiceProcess, make_client: MakeClient, user: str
) -> None:
    m = make_client(shared_service.url)
    m.add(user, "scratch note of session one", run_id="one")
    lines = list(m.export(user))
    m.forget(user)
    m.add_many(user, lines)
    assert [(x.content, x.run_id) for x in m.iter_memories(user)] == [("scratch note of session one", "one")]
