"""`jean-memory mcp`: the same tools over stdio, for desktop clients that launch their MCP servers as
commands, forwarding each call to a running service's `/mcp` endpoint.

It holds no memories and opens no data folder: the service it forwards to is the one source of truth,
so a desktop client and an agent on the network see the same memories. Each call opens a fresh MCP
client over one pooled HTTP connection (the endpoint keeps no session, so a service restart between two
calls goes unnoticed); a service that cannot be reached is a tool error naming the `service`, never a
crash of the stdio server. The key travels only in the `Authorization` header: it is never printed or
logged, and errors name the URL alone.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.server.lowlevel import Server
from mcp.server.stdio import stdio_server
from mcp.types import CallToolRequestParams, CallToolResult, ListToolsResult

from jean_memory import __version__
from jean_memory.mcp.server import INSTRUCTIONS, NAME, tool_error, tool_list

log = logging.getLogger(__name__)

#: A tool call's budget: a batch add waits for its durable commit, a search may wait for admission.
TIMEOUT_S = 60.0
#: Where the key is read from (by `cli.py`), for the words of a 401.
KEY_ENV = "JEAN_MEMORY_API_KEY"


class Forwarder:
    """Lists the tools locally and forwards every call to the service's `/mcp`."""

    def __init__(self, url: str, key: str | None) -> None:
        base = url.rstrip("/")
        self.url = base if base.endswith("/mcp") else base + "/mcp"
        self.refused: int | None = None  # the status of the last HTTP refusal, for the tool error's words
        self.http = httpx2.AsyncClient(
            headers={"Authorization": f"Bearer {key}"} if key else {},
            timeout=httpx2.Timeout(TIMEOUT_S, connect=5.0),
            event_hooks={"response": [self._seen]},
        )
        self.server: Server[Any] = Server(
            NAME, version=__version__, instructions=INSTRUCTIONS, on_list_tools=self._list, on_call_tool=self._call
        )
        self.server.middleware.clear()  # no tracer provider here: the service traces the calls it serves

    async def _seen(self, response: httpx2.Response) -> None:
        if response.status_code >= 400:
            self.refused = response.status_code

    async def _list(self, ctx: Any, params: Any) -> ListToolsResult:
        return ListToolsResult(tools=tool_list())

    async def _call(self, ctx: Any, params: CallToolRequestParams) -> CallToolResult:
        self.refused = None
        try:
            async with Client(streamable_http_client(self.url, http_client=self.http)) as remote:
                result = await remote.call_tool(params.name, params.arguments or {})
        except Exception as exc:  # the service is down, refused the key, or answered something else
            reason = self._reason(exc)
            log.warning("calling %s failed: %s", self.url, reason)
            return tool_error([("service", f"could not call {self.url}: {reason}")], 503, 5)
        if not isinstance(result, CallToolResult):  # the SDK's input-required rounds: the tools never ask
            return tool_error([("service", f"unexpected answer from {self.url}")], 502)
        return result

    def _reason(self, exc: BaseException) -> str:
        """A short reason: the HTTP refusal's status, or the innermost exception's type (anyio wraps
        transport errors in groups). Never the request's headers: the key is one of them."""
        if self.refused == 401:
            return f"HTTP 401 (set {KEY_ENV} to a key of the service)"
        if self.refused is not None:
            return f"HTTP {self.refused}"
        while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
            exc = exc.exceptions[0]
        return type(exc).__name__


async def serve(url: str, key: str | None) -> None:
    """Serve the tools on stdin/stdout until the client closes them."""
    forwarder = Forwarder(url, key)
    async with forwarder.http, stdio_server() as (read, write):
        await forwarder.server.run(read, write, forwarder.server.create_initialization_options())


def main(url: str, key: str | None) -> int:
    import anyio

    logging.basicConfig(level="WARNING", stream=sys.stderr, format="jean-memory mcp: %(levelname)s %(message)s")
    anyio.run(serve, url, key)
    return 0
