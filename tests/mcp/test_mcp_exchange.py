"""The single-exchange entry (`jean_memory/mcp/exchange.py`) answers exactly as the SDK's session manager.

Two real services with the same keys and the same memories, one with the entry (the default) and one with
`JM_MCP_SINGLE_EXCHANGE=false`, get the same raw requests of both protocol eras in the same order: plain tool
calls that succeed and that are refused, protocol errors the runner raises, and every kind of request the
entry must hand to the SDK (initialize, notifications, batches, bad JSON, bad headers, a foreign Origin, other
methods, what the 2026 validation ladder refuses, unknown versions). Status, content type and body must match,
timestamps aside; the entry's counter shows which requests it served, so the comparison cannot pass by never
taking the new path.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from jean_memory_dev.processes import ServiceProcess

KEY = "exchange-key-0123456789abcdef0123456789"
ACCEPT = "application/json, text/event-stream"
MID = "0f8fe7ae-3c1b-4f54-9a32-6d1f1b0b7c11"
EID = "5a0d8a57-0d55-4c1e-b7a4-0f3f2a9de2c4"  # chosen by the client, so both services store the same id
MEMORY = {"id": MID, "content": "Dana keeps her climbing shoes in the blue locker", "metadata": {"kind": "fact"}}


def rpc(method: str, params: Any = None, id_: Any = 1) -> bytes:
    message: dict[str, Any] = {"jsonrpc": "2.0", "id": id_, "method": method}
    if params is not None:
        message["params"] = params
    return json.dumps(message).encode()


def tool(name: str, arguments: Any, **extra: Any) -> bytes:
    return rpc("tools/call", {"name": name, "arguments": arguments, **extra})


ERA_2025 = {"Accept": ACCEPT, "Content-Type": "application/json", "MCP-Protocol-Version": "2025-06-18"}
ENVELOPE = {
    "io.modelcontextprotocol/protocolVersion": "2026-07-28",
    "io.modelcontextprotocol/clientCapabilities": {},
    "io.modelcontextprotocol/clientInfo": {"name": "exchange-test", "version": "1"},
}


def modern(method: str, params: dict[str, Any] | None = None, name: str | None = None) -> Any:
    """A 2026-era request's headers and body: the envelope in `_meta`, the routing headers beside it."""
    sent = {"MCP-Protocol-Version": "2026-07-28", "Mcp-Method": method, **({"Mcp-Name": name} if name else {})}
    return sent, rpc(method, {**(params or {}), "_meta": ENVELOPE})


def modern_tool(name: str, arguments: Any) -> Any:
    return modern("tools/call", {"name": name, "arguments": arguments}, name)


INITIALIZE = {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}
#: Each case: what it is, the headers (over ERA_2025), the body, and whether the entry serves it.
CASES: list[tuple[str, dict[str, str], bytes, bool]] = [
    ("tools/list", {}, rpc("tools/list"), True),
    ("tools/list, string id", {}, rpc("tools/list", id_="a-string-id"), True),
    ("tools/list with a cursor", {}, rpc("tools/list", {"cursor": "x"}), True),
    ("ping", {}, rpc("ping", id_=7), True),
    ("get", {}, tool("get_memory", {"user_id": "dana", "id": MID}), True),
    ("search", {}, tool("search_memories", {"user_id": "dana", "query": "where are the climbing shoes"}), True),
    ("list", {}, tool("list_memories", {"user_id": "dana"}), True),
    ("add", {}, tool("add_memories", {"user_id": "eli", "content": "Eli prefers tea", "id": EID}), True),
    ("get, missing", {}, tool("get_memory", {"user_id": "dana", "id": "no-such-id"}), True),
    ("get, no user", {}, tool("get_memory", {"id": MID}), True),
    ("get, arguments a list", {}, tool("get_memory", [1, 2]), True),
    ("an unknown tool", {}, tool("no_such_tool", {"user_id": "dana"}), True),
    ("tools/call without a name", {}, rpc("tools/call", {"arguments": {}}), True),
    ("tools/call without params", {}, rpc("tools/call"), True),
    ("a progress token", {}, tool("list_memories", {"user_id": "dana"}, _meta={"progressToken": "p1"}), True),
    ("no protocol header", {"MCP-Protocol-Version": ""}, rpc("tools/list"), True),
    ("2025-03-26", {"MCP-Protocol-Version": "2025-03-26"}, rpc("ping"), True),
    ("2024-11-05", {"MCP-Protocol-Version": "2024-11-05"}, rpc("ping"), True),
    ("Accept */*", {"Accept": "*/*"}, rpc("ping"), True),
    ("Accept JSON only", {"Accept": "application/json"}, rpc("ping"), True),
    ("JSON with a charset", {"Content-Type": "application/json; charset=utf-8"}, rpc("ping"), True),
    ("2026: tools/list", *modern("tools/list"), True),
    ("2026: ping", *modern("ping"), True),
    ("2026: get", *modern_tool("get_memory", {"user_id": "dana", "id": MID}), True),
    ("2026: search", *modern_tool("search_memories", {"user_id": "dana", "query": "climbing shoes"}), True),
    ("2026: update, stale version", *modern_tool("update_memory",
                                                 {"user_id": "dana", "id": MID, "salience": 0.9, "version": 99}), True),
    ("2026: get, missing", *modern_tool("get_memory", {"user_id": "dana", "id": "no-such-id"}), True),
    ("2026: an unknown tool", *modern_tool("no_such_tool", {}), True),
    ("2026: an undeclared Mcp-Param header", {**modern_tool("list_memories", {"user_id": "dana"})[0],
                                              "Mcp-Param-User": "dana"},
     modern_tool("list_memories", {"user_id": "dana"})[1], True),
    ("2026: Mcp-Name not the tool", {**modern_tool("get_memory", {})[0], "Mcp-Name": "list_memories"},
     modern_tool("get_memory", {})[1], False),
    ("2026: Mcp-Method not the method", {**modern("ping")[0], "Mcp-Method": "tools/list"}, modern("ping")[1], False),
    ("2026: no envelope", {"MCP-Protocol-Version": "2026-07-28", "Mcp-Method": "ping"}, rpc("ping"), False),
    ("2026: a notification", {"MCP-Protocol-Version": "2026-07-28", "Mcp-Method": "notifications/cancelled"},
     b'{"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 1}}', False),
    ("2026: initialize", *modern("initialize", INITIALIZE), False),
    ("2026: bad JSON", {"MCP-Protocol-Version": "2026-07-28"}, b"{", False),
    ("initialize", {}, rpc("initialize", INITIALIZE), False),
    ("a notification", {}, b'{"jsonrpc": "2.0", "method": "notifications/initialized"}', False),
    ("a batch", {}, b"[" + rpc("ping") + b"," + rpc("tools/list", id_=2) + b"]", False),
    ("a response", {}, b'{"jsonrpc": "2.0", "id": 1, "result": {}}', False),
    ("bad JSON", {}, b'{"jsonrpc": "2.0", "id": 1, "method": ', False),
    ("not JSON-RPC", {}, b'{"hello": "world"}', False),
    ("params a list", {}, b'{"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": [1]}', False),
    ("a method not served", {}, rpc("resources/list"), False),
    ("a text body", {"Content-Type": "text/plain"}, rpc("ping"), False),
    ("no JSON accepted", {"Accept": "text/event-stream"}, rpc("ping"), False),
    ("a foreign Origin", {"Origin": "http://evil.example"}, rpc("ping"), False),
    ("an unknown era", {"MCP-Protocol-Version": "1999-01-01"}, rpc("ping"), False),
]  # fmt: skip


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServiceProcess, ServiceProcess]]:
    """The same service twice: with the single-exchange entry and without it, the same memory in each."""
    started = []
    for name, single in (("single", "true"), ("sdk", "false")):
        env = {"JM_API_KEYS": f"{KEY}:alpha", "JM_MCP_SINGLE_EXCHANGE": single}
        svc = ServiceProcess(tmp_path_factory.mktemp(name) / "data", env=env).start()
        started.append(svc)
        answer = httpx.post(f"{svc.url}/v1/memories", json={"user_id": "dana", **MEMORY},
                            headers={"Authorization": f"Bearer {KEY}"}, timeout=30)  # fmt: skip
        assert answer.status_code in (200, 201), answer.text
    yield started[0], started[1]
    for svc in started:
        svc.stop()


_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)?")


def normal(value: Any, key: str = "") -> Any:
    """The body without what differs between two services by construction: times and durations."""
    if isinstance(value, dict):
        return {k: normal(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [normal(v, key) for v in value]
    if (key.endswith("_at") or key.endswith("_ms")) and value is not None:
        return "<time>"
    if isinstance(value, str):
        if key == "text" and value[:1] in "{[":
            try:
                return normal(json.loads(value))
            except ValueError:
                return value
        if _TIME.fullmatch(value):
            return "<time>"
    return value


def answer(svc: ServiceProcess, headers: dict[str, str], body: bytes) -> tuple[int, str, Any]:
    sent = {**ERA_2025, "Authorization": f"Bearer {KEY}", **headers}
    sent = {k: v for k, v in sent.items() if v}
    response = httpx.post(f"{svc.url}/mcp", content=body, headers=sent, timeout=30)
    kind = response.headers.get("content-type", "")
    try:
        content: Any = normal(response.json())
    except ValueError:
        content = response.text
    return response.status_code, kind.split(";")[0], content


def served_here(svc: ServiceProcess) -> float:
    text = httpx.get(f"{svc.url}/metrics", timeout=30).text
    found = re.search(r'^jm_mcp_requests_total\{entry="single_exchange"\} (\S+)$', text, re.M)
    assert found, "jm_mcp_requests_total{entry=single_exchange} is not exported"
    return float(found.group(1))


@pytest.mark.parametrize(("name", "headers", "body", "served"), CASES, ids=[c[0] for c in CASES])
def test_the_same_answer_as_the_sdk(
    pair: tuple[ServiceProcess, ServiceProcess], name: str, headers: dict[str, str], body: bytes, served: bool
) -> None:
    single, sdk = pair
    before = served_here(single)
    ours, theirs = answer(single, headers, body), answer(sdk, headers, body)
    assert served_here(single) - before == (1 if served else 0), f"{name}: taken by the wrong entry"
    assert served_here(sdk) == 0
    assert ours == theirs, f"{name}:\n single exchange {ours}\n session manager {theirs}"


def test_added_through_the_entry_is_stored(pair: tuple[ServiceProcess, ServiceProcess]) -> None:
    single, _ = pair
    body = tool("add_memories", {"user_id": "fay", "content": "Fay's locker code is 4471"})
    status, _, reply = answer(single, {}, body)
    assert status == 200 and not reply["result"]["isError"], reply
    listed = httpx.get(f"{single.url}/v1/memories", params={"user_id": "fay"},
                       headers={"Authorization": f"Bearer {KEY}"}, timeout=30).json()  # fmt: skip
    assert [m["content"] for m in listed["items"]] == ["Fay's locker code is 4471"]


def test_a_body_in_chunks_is_served_whole(pair: tuple[ServiceProcess, ServiceProcess]) -> None:
    """A body sent in chunks (no Content-Length) is read to its end before the entry decides."""
    single, sdk = pair
    body = tool("get_memory", {"user_id": "dana", "id": MID})
    headers = {**ERA_2025, "Authorization": f"Bearer {KEY}"}
    answers = []
    for svc in (single, sdk):
        before = served_here(single)
        chunks = iter([body[:10], body[10:50], body[50:]])
        response = httpx.post(f"{svc.url}/mcp", content=chunks, headers=headers, timeout=30)
        answers.append((response.status_code, normal(response.json())))
        assert served_here(single) - before == (1 if svc is single else 0)
    assert answers[0] == answers[1]
    assert answers[0][1]["result"]["structuredContent"]["id"] == MID
