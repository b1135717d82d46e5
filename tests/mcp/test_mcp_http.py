"""The MCP endpoint at `/mcp`, driven by the official MCP Python client over Streamable HTTP against a
real service process: the tools listed with their schemas, each tool end to end, the bearer keys and
tenants of `/v1`, bad arguments answered as tool errors naming the field, and the calls counted."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import httpx
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.types import CallToolResult

from jean_memory_dev.processes import ServiceProcess
from tests.conftest import StartService

KEY_A = "mcp-key-a-0123456789abcdef0123456789"
KEY_B = "mcp-key-b-0123456789abcdef0123456789"
TOOLS = {
    "add_memories",
    "search_memories",
    "get_memory",
    "list_memories",
    "update_memory",
    "delete_memory",
    "forget_user",
}


@asynccontextmanager
async def connect(svc: ServiceProcess, key: str | None = None) -> AsyncIterator[Client]:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    async with (
        httpx2.AsyncClient(headers=headers, timeout=30) as http,
        Client(streamable_http_client(f"{svc.url}/mcp", http_client=http)) as client,
    ):
        yield client


async def call(client: Client, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
    """A call that must succeed: its structured result."""
    result = await client.call_tool(tool, arguments)
    assert isinstance(result, CallToolResult)
    assert not result.is_error, result.content
    assert isinstance(result.structured_content, dict)
    return result.structured_content


async def refused(client: Client, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
    """A call that must be a tool error: its error body (`detail`, `errors`, `status`)."""
    result = await client.call_tool(tool, arguments)
    assert isinstance(result, CallToolResult)
    assert result.is_error, result.structured_content
    body = result.structured_content
    assert isinstance(body, dict)
    assert result.content[0].text == body["detail"]  # type: ignore[union-attr]
    return body


def fields(body: dict[str, Any]) -> list[str | None]:
    return [e["field"] for e in body["errors"]]


@pytest.fixture(scope="module")
def keyed(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """One service with two tenants' keys (the tenant after the colon)."""
    svc = ServiceProcess(
        tmp_path_factory.mktemp("mcp") / "data", env={"JM_API_KEYS": f"{KEY_A}:alpha,{KEY_B}:beta"}
    ).start()
    yield svc
    svc.stop()


def test_tools_are_listed_with_schemas_and_descriptions(keyed: ServiceProcess) -> None:
    async def main() -> None:
        async with connect(keyed, KEY_A) as client:
            listed = await client.list_tools()
            tools = {t.name: t for t in listed.tools}
            assert set(tools) == TOOLS
            for tool in tools.values():
                assert tool.description and len(tool.description) > 40, tool.name
                assert tool.input_schema["type"] == "object"
                assert "user_id" in tool.input_schema["required"], tool.name
                assert tool.input_schema.get("additionalProperties") is False, tool.name
            assert tools["search_memories"].annotations.read_only_hint is True  # type: ignore[union-attr]
            assert tools["forget_user"].annotations.destructive_hint is True  # type: ignore[union-attr]
            assert set(tools["search_memories"].input_schema["required"]) == {"user_id", "query"}

    anyio.run(main)


def test_every_tool_end_to_end(keyed: ServiceProcess) -> None:
    user = f"user-{uuid.uuid4()}"

    async def main() -> None:
        async with connect(keyed, KEY_A) as client:
            one = await call(client, "add_memories", {"user_id": user, "content": "Alice likes window seats",
                                                      "metadata": {"topic": "travel"}})  # fmt: skip
            (first,) = one["memories"]
            chosen = str(uuid.uuid4())
            many = await call(client, "add_memories", {"user_id": user, "items": [
                {"content": "Alice is allergic to peanuts", "metadata": {"topic": "food"}},
                {"content": "Alice works in Lisbon", "id": chosen},
            ]})  # fmt: skip
            assert [m["id"] for m in many["memories"]][1] == chosen
            again = await call(client, "add_memories", {"user_id": user, "items": [
                {"content": "Alice works in Lisbon", "id": chosen}]})  # fmt: skip
            assert again["memories"][0]["id"] == chosen  # a retry with the same id stores nothing new

            found = await call(client, "search_memories", {"user_id": user, "query": "Alice likes window seats"})
            assert found["results"][0]["id"] == first["id"]
            filtered = await call(client, "search_memories", {"user_id": user, "query": "Alice",
                                                              "filters": {"topic": "food"}})  # fmt: skip
            assert [r["content"] for r in filtered["results"]] == ["Alice is allergic to peanuts"]
            lexical = await call(client, "search_memories", {"user_id": user, "query": "Lisbon", "mode": "lexical",
                                                             "explain": True})  # fmt: skip
            assert [r["id"] for r in lexical["results"]] == [chosen]  # the ranking options reach the search
            assert lexical["results"][0]["explain"]["lexical"] > 0
            assert "explain" not in found["results"][0]  # asked for only

            got = await call(client, "get_memory", {"user_id": user, "id": first["id"]})
            assert got["content"] == "Alice likes window seats" and got["version"] == 1

            updated = await call(client, "update_memory", {"user_id": user, "id": first["id"], "salience": 0.9})
            assert updated["version"] == 2 and updated["salience"] == 0.9

            page = await call(client, "list_memories", {"user_id": user, "limit": 2})
            assert len(page["items"]) == 2 and page["next_cursor"]
            rest = await call(client, "list_memories", {"user_id": user, "limit": 2, "cursor": page["next_cursor"]})
            assert len(rest["items"]) == 1
            listed = {m["id"] for m in page["items"] + rest["items"]}
            assert first["id"] in listed and chosen in listed
            travel_or_work = {"$or": [{"topic": {"$in": ["travel"]}}, {"topic": {"$exists": False}}]}
            only = await call(client, "list_memories", {"user_id": user, "filters": travel_or_work})
            assert {m["id"] for m in only["items"]} == {first["id"], chosen}  # the filter grammar of /v1
            hits = await call(client, "search_memories", {"user_id": user, "query": "Alice", "filters": travel_or_work})
            assert {r["id"] for r in hits["results"]} == {first["id"], chosen}
            bad = await refused(client, "list_memories", {"user_id": user, "filters": {"topic": {"$like": "t"}}})
            assert bad["status"] == 422 and fields(bad) == ["filters.topic.$like"]

            assert await call(client, "delete_memory", {"user_id": user, "id": chosen}) == {
                "id": chosen,
                "deleted": True,
            }
            gone = await refused(client, "get_memory", {"user_id": user, "id": chosen})
            assert gone["status"] == 404 and fields(gone) == ["id"]

            assert await call(client, "forget_user", {"user_id": user}) == {"user_id": user, "forgotten": 2}
            assert (await call(client, "list_memories", {"user_id": user}))["items"] == []

    anyio.run(main)


def test_the_same_memories_through_v1(keyed: ServiceProcess) -> None:
    """A memory added over MCP is the user's memory over /v1, and the other way round."""
    user = f"user-{uuid.uuid4()}"
    headers = {"Authorization": f"Bearer {KEY_A}"}

    async def main() -> None:
        async with connect(keyed, KEY_A) as client, httpx.AsyncClient(base_url=keyed.url, headers=headers) as v1:
            added = await call(client, "add_memories", {"user_id": user, "content": "Bob sails on Sundays"})
            memory_id = added["memories"][0]["id"]
            r = await v1.get(f"/v1/memories/{memory_id}", params={"user_id": user})
            assert r.status_code == 200 and r.json()["content"] == "Bob sails on Sundays"
            r = await v1.post("/v1/memories", json={"user_id": user, "content": "Bob has a cat"})
            assert r.status_code == 201
            got = await call(client, "get_memory", {"user_id": user, "id": r.json()["id"]})
            assert got["content"] == "Bob has a cat"

    anyio.run(main)


def test_tenants_are_isolated(keyed: ServiceProcess) -> None:
    """The same user id under two keys is two users: one tenant's memories never reach the other."""
    user = "shared-name"

    async def main() -> None:
        async with connect(keyed, KEY_A) as alpha, connect(keyed, KEY_B) as beta:
            added = await call(alpha, "add_memories", {"user_id": user, "content": "alpha's secret plan"})
            memory_id = added["memories"][0]["id"]
            assert (await call(beta, "search_memories", {"user_id": user, "query": "alpha's secret plan"}))[
                "results"
            ] == []
            assert (await call(beta, "list_memories", {"user_id": user}))["items"] == []
            assert (await refused(beta, "get_memory", {"user_id": user, "id": memory_id}))["status"] == 404
            assert (await refused(beta, "delete_memory", {"user_id": user, "id": memory_id}))["status"] == 404
            assert (await call(beta, "forget_user", {"user_id": user}))["forgotten"] == 0
            got = await call(alpha, "get_memory", {"user_id": user, "id": memory_id})
            assert got["content"] == "alpha's secret plan"

    anyio.run(main)


def test_refused_without_a_valid_key(keyed: ServiceProcess) -> None:
    """Before any MCP message is read: 401 naming `authorization`, as on /v1."""
    init = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
    accept = {"Accept": "application/json, text/event-stream"}
    for headers in ({}, {"Authorization": "Bearer wrong-key"}, {"Authorization": "Basic eA=="}):
        r = httpx.post(f"{keyed.url}/mcp", json=init, headers={**accept, **headers})
        assert r.status_code == 401, r.text
        assert r.headers["www-authenticate"] == "Bearer"
        assert [e["field"] for e in r.json()["errors"]] == ["authorization"]

    async def main() -> None:
        with pytest.raises(Exception):  # noqa: B017  the SDK's own error for a 401 differs across its versions
            async with connect(keyed, None) as client:
                await client.list_tools()

    anyio.run(main)


BAD: list[tuple[str, dict[str, Any], str]] = [
    ("add_memories", {"content": "no user"}, "user_id"),
    ("add_memories", {"user_id": "u"}, "content"),
    ("add_memories", {"user_id": "u", "content": "   "}, "content"),
    ("add_memories", {"user_id": "u", "content": "x", "salience": 2}, "salience"),
    ("add_memories", {"user_id": "u", "content": "x", "colour": "red"}, "colour"),
    ("add_memories", {"user_id": "u", "items": []}, "items"),
    ("add_memories", {"user_id": "u", "items": [{"content": "ok"}, {"content": ""}]}, "items[1].content"),
    ("add_memories", {"user_id": "u", "items": [{"content": "ok"}], "salience": 0.2}, "salience"),
    ("add_memories", {"user_id": "u", "content": "x", "id": "not-a-uuid"}, "id"),
    ("add_memories", {"user_id": "u", "content": "x" * 100_000}, "content"),
    ("search_memories", {"user_id": "u"}, "query"),
    ("search_memories", {"user_id": "u", "query": "x", "k": 0}, "k"),
    ("search_memories", {"user_id": "u", "query": "x", "k": True}, "k"),
    ("search_memories", {"user_id": "", "query": "x"}, "user_id"),
    ("get_memory", {"user_id": "u", "id": "12"}, "id"),
    ("get_memory", {"user_id": "u\x00", "id": str(uuid.uuid4())}, "user_id"),
    ("list_memories", {"user_id": "u", "limit": 5000}, "limit"),
    ("list_memories", {"user_id": "u", "cursor": "!!"}, "cursor"),
    ("update_memory", {"user_id": "u", "id": str(uuid.uuid4())}, "content"),
    ("update_memory", {"user_id": "u", "id": str(uuid.uuid4()), "expires_at": 1.0}, "expires_at"),
    ("update_memory", {"user_id": "u", "id": str(uuid.uuid4()), "content": "new"}, "id"),  # no such memory
    ("delete_memory", {"user_id": "u"}, "id"),
    ("forget_user", {}, "user_id"),
    ("no_such_tool", {"user_id": "u"}, "name"),
]


def test_bad_arguments_are_tool_errors_naming_the_field(keyed: ServiceProcess) -> None:
    async def main() -> None:
        async with connect(keyed, KEY_A) as client:
            for tool, arguments, field in BAD:
                body = await refused(client, tool, arguments)
                assert field in fields(body), (tool, arguments, body)
                assert body["detail"].startswith(f"{field}: ") or f"; {field}: " in body["detail"], body
                assert 400 <= body["status"] < 500, body

    anyio.run(main)


def test_tool_calls_are_counted(keyed: ServiceProcess) -> None:
    async def main() -> None:
        async with connect(keyed, KEY_A) as client:
            await call(client, "list_memories", {"user_id": "counted"})
            await refused(client, "get_memory", {"user_id": "counted", "id": "nope"})

    anyio.run(main)
    text = httpx.get(f"{keyed.url}/metrics").text
    assert 'jm_mcp_tool_calls_total{outcome="ok",tool="list_memories"}' in text
    assert 'jm_mcp_tool_calls_total{outcome="invalid",tool="get_memory"}' in text
    assert 'jm_mcp_tool_duration_seconds_count{tool="list_memories"}' in text
    assert (
        'http_server_request_duration_seconds_count{http_request_method="POST",http_response_status_class="2xx",http_route="/mcp"}'
        in text
    )


def test_without_keys_the_default_tenant_is_served(start_service: StartService) -> None:
    svc = start_service()

    async def main() -> None:
        async with connect(svc) as client:
            added = await call(client, "add_memories", {"user_id": "u", "content": "no keys configured"})
            got = await call(client, "get_memory", {"user_id": "u", "id": added["memories"][0]["id"]})
            assert got["content"] == "no keys configured"

    anyio.run(main)
