"""Scopes through the MCP tools (official MCP client, Streamable HTTP, a real service process): the tools
take `agent_id` / `run_id` as `/v1` does, restrict to them, return them, and forget one run alone."""

from __future__ import annotations

import uuid
from typing import Any

import anyio

from tests.conftest import StartService
from tests.mcp.test_mcp_http import call, connect, fields, refused


def test_the_tools_take_and_return_scopes(start_service: StartService) -> None:
    svc = start_service()
    user = f"user-{uuid.uuid4()}"

    async def main() -> None:
        async with connect(svc) as client:
            tools = {t.name: t.input_schema for t in (await client.list_tools()).tools}
            for name in ("add_memories", "search_memories", "list_memories", "forget_user"):
                assert {"agent_id", "run_id"} <= set(tools[name]["properties"]), name
            one = await call(client, "add_memories", {"user_id": user, "content": "the build is green",
                                                      "agent_id": "ci", "run_id": "r1"})  # fmt: skip
            (first,) = one["memories"]
            assert (first["agent_id"], first["run_id"]) == ("ci", "r1")
            many = await call(client, "add_memories", {"user_id": user, "items": [
                {"content": "the build is red", "agent_id": "ci", "run_id": "r2"},
                {"content": "the build is flaky"},
            ]})  # fmt: skip
            second, plain = (m["id"] for m in many["memories"])

            def ids(body: dict[str, Any], key: str) -> set[str]:
                return {r["id"] for r in body[key]}

            q = {"user_id": user, "query": "is the build green"}
            assert ids(await call(client, "search_memories", {**q, "run_id": "r1"}), "results") == {first["id"]}
            assert ids(await call(client, "search_memories", {**q, "agent_id": "ci"}), "results") == {
                first["id"],
                second,
            }
            assert ids(await call(client, "search_memories", q), "results") == {first["id"], second, plain}
            listed = await call(client, "list_memories", {"user_id": user, "run_id": "r2"})
            assert [(m["id"], m["run_id"]) for m in listed["items"]] == [(second, "r2")]
            got = await call(client, "get_memory", {"user_id": user, "id": first["id"]})
            assert (got["agent_id"], got["run_id"]) == ("ci", "r1")

            bad = await refused(client, "add_memories", {"user_id": user, "content": "x", "run_id": ""})
            assert bad["status"] == 422 and fields(bad) == ["run_id"]
            beside = await refused(client, "add_memories", {"user_id": user, "run_id": "r1",
                                                            "items": [{"content": "x"}]})  # fmt: skip
            assert fields(beside) == ["run_id"], "a scope goes inside each item, as the other fields"
            moved = await refused(client, "update_memory", {"user_id": user, "id": first["id"], "run_id": "r2"})
            assert fields(moved) == ["run_id"]

            gone = await call(client, "forget_user", {"user_id": user, "run_id": "r1"})
            assert gone == {"user_id": user, "forgotten": 1, "agent_id": None, "run_id": "r1"}
            left = await call(client, "list_memories", {"user_id": user})
            assert {m["id"] for m in left["items"]} == {second, plain}

    anyio.run(main)


def test_forget_user_takes_a_filter(start_service: StartService) -> None:
    """`forget_user` with `filters` deletes only the memories it selects (of the scope, when named), as
    `DELETE /v1/memories?filters=` does; a filter that selects everything, or a bad clause, is refused."""
    svc = start_service()
    user = f"user-{uuid.uuid4()}"

    async def main() -> None:
        async with connect(svc) as client:
            schema = {t.name: t.input_schema for t in (await client.list_tools()).tools}["forget_user"]
            assert "filters" in schema["properties"]
            added = await call(client, "add_memories", {"user_id": user, "items": [
                {"content": "draft one", "metadata": {"kind": "draft"}},
                {"content": "draft two", "metadata": {"kind": "draft"}, "run_id": "r1"},
                {"content": "a keeper", "metadata": {"kind": "note"}, "run_id": "r1"},
            ]})  # fmt: skip
            one, two, keeper = (m["id"] for m in added["memories"])
            drafts = {"user_id": user, "filters": {"kind": "draft"}}
            assert await call(client, "forget_user", {**drafts, "run_id": "r1"}) == {
                "user_id": user, "forgotten": 1, "agent_id": None, "run_id": "r1",
            }  # fmt: skip
            left = {m["id"] for m in (await call(client, "list_memories", {"user_id": user}))["items"]}
            assert left == {one, keeper}
            assert await call(client, "forget_user", drafts) == {"user_id": user, "forgotten": 1}
            everything = await refused(client, "forget_user", {"user_id": user, "filters": {}})
            assert everything["status"] == 422 and fields(everything) == ["filters"]
            bad = await refused(client, "forget_user", {"user_id": user, "filters": {"kind": {"$gt": []}}})
            assert bad["status"] == 422 and fields(bad) == ["filters.kind.$gt"]
            left = {m["id"] for m in (await call(client, "list_memories", {"user_id": user}))["items"]}
            assert left == {keeper}
            assert two not in left

    anyio.run(main)
