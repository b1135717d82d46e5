"""`jean-memory mcp`: the official MCP client launches it over stdio, as a desktop client does, and its
calls reach a real service process with the key from the environment (never printed)."""

from __future__ import annotations

import os
import sys
import uuid
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.types import CallToolResult

from jean_memory_dev.processes import ServiceProcess, free_port
from tests.mcp.test_mcp_http import TOOLS

KEY = "mcp-stdio-key-0123456789abcdef012345"


def params(url: str, key: str | None) -> StdioServerParameters:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JM_", "JEAN_MEMORY_"))}
    env["JEAN_MEMORY_URL"] = url
    if key:
        env["JEAN_MEMORY_API_KEY"] = key
    return StdioServerParameters(command=sys.executable, args=["-m", "jean_memory", "mcp"], env=env)


async def call(client: Client, tool: str, arguments: dict[str, Any]) -> CallToolResult:
    result = await client.call_tool(tool, arguments)
    assert isinstance(result, CallToolResult)
    return result


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Any:
    svc = ServiceProcess(tmp_path_factory.mktemp("stdio") / "data", env={"JM_API_KEYS": KEY}).start()
    yield svc
    svc.stop()


def test_stdio_forwards_to_the_service(service: ServiceProcess, tmp_path: Path) -> None:
    user = f"user-{uuid.uuid4()}"
    errlog = tmp_path / "stderr.txt"

    async def main() -> None:
        with errlog.open("w") as err:
            async with _client(service.url, KEY, err) as c:
                assert {t.name for t in (await c.list_tools()).tools} == TOOLS
                added = await call(c, "add_memories", {"user_id": user, "content": "Carol plays the cello"})
                assert not added.is_error, added.content
                found = await call(c, "search_memories", {"user_id": user, "query": "Carol plays the cello"})
                assert found.structured_content["results"][0]["content"] == "Carol plays the cello"  # type: ignore[index]
                bad = await call(c, "search_memories", {"user_id": user})
                assert bad.is_error and bad.structured_content["errors"][0]["field"] == "query"  # type: ignore[index]

    anyio.run(main)
    assert KEY not in errlog.read_text()


def test_a_wrong_key_or_no_service_is_a_tool_error(service: ServiceProcess, tmp_path: Path) -> None:
    errlog = tmp_path / "stderr.txt"
    nowhere = f"http://127.0.0.1:{free_port()}"

    async def main() -> None:
        with errlog.open("w") as err:
            for url, key, reason in ((service.url, "wrong-key", "401"), (nowhere, KEY, "could not call")):
                async with _client(url, key, err) as c:
                    result = await call(c, "list_memories", {"user_id": "u"})
                    assert result.is_error, result.content
                    body = result.structured_content
                    assert body["errors"][0]["field"] == "service", body  # type: ignore[index]
                    assert reason in body["detail"], body  # type: ignore[index]
                    assert key not in body["detail"]  # type: ignore[index]

    anyio.run(main)
    assert KEY not in errlog.read_text() and "wrong-key" not in errlog.read_text()


def _client(url: str, key: str | None, err: Any) -> Client:
    """The official client, launching `jean-memory mcp` as a desktop client would (stderr kept to check)."""
    return Client(stdio_client(params(url, key), errlog=err))
