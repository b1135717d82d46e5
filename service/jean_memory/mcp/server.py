"""The MCP endpoint at `/mcp` (Streamable HTTP), on the official SDK's low-level server.

- **Same door as `/v1`.** The request guard (`api/guard.py`) checks the bearer key, the tenant's
  limits and the body's size before any of it reaches the SDK; the key's tenant reaches the tools
  through a context variable set here, so every tool scopes its user ids by it as the routes do.
- **Counted and traced like the rest.** The HTTP metrics and span see `POST /mcp`; each tool call adds
  `jm_mcp_tool_calls_total{tool,outcome}`, `jm_mcp_tool_duration_seconds{tool}` and a child span
  named after the tool. The tools call the same use cases as the routes, so admission control and
  the write and search metrics count them too. (The SDK's own OpenTelemetry middleware is left out:
  it writes to the global tracer provider, which the service does not use.)
- **Errors are tool errors.** Bad arguments, a missing memory, an overloaded service: the result has
  `isError: true`, a text naming the field (`user_id: is required`) and the `/v1` error shape as
  structured content; nothing a caller sends becomes a JSON-RPC internal error or an HTTP 500.
- **Stateless, JSON responses.** No session is kept between requests (any replica behind the load
  balancer can answer any call) and a result is one JSON body, not an event stream.
- **One exchange per plain call.** A plain stateless request of either protocol era (`tools/call`,
  `tools/list`, `ping`) is served by `exchange.SingleExchange` through the SDK's runner without its
  per-request transport; the rest goes to the SDK's session manager (`JM_MCP_SINGLE_EXCHANGE=false`: all
  of it).
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from contextvars import ContextVar
from typing import Any

from mcp.server.lowlevel import Server
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecuritySettings
from mcp.shared.inbound import x_mcp_header_map
from mcp.types import CallToolRequestParams, CallToolResult, ListToolsResult, TextContent, Tool, ToolAnnotations
from opentelemetry.trace import Status, StatusCode
from pydantic import ValidationError
from starlette.types import Receive, Scope, Send

from jean_memory import __version__, jsonutil
from jean_memory.api.errors import describe_validation
from jean_memory.api.guard import MCP_PATH as PATH
from jean_memory.config import Settings
from jean_memory.container import Container
from jean_memory.errors import Invalid, ServiceError
from jean_memory.mcp.exchange import SingleExchange
from jean_memory.mcp.tools import BY_NAME, TOOLS, ToolSpec
from jean_memory.telemetry.core import Telemetry
from jean_memory.telemetry.metrics import MCP_OUTCOMES

log = logging.getLogger(__name__)

NAME = "jean-memory"
INSTRUCTIONS = (
    "Long-term memory for the people you work with. Search a user's memories before answering about them; "
    "add a memory when you learn a durable fact or preference. Every tool takes the user's user_id."
)
#: The tenant of the request's API key, as the guard set it ("" for the default tenant).
TENANT: ContextVar[str] = ContextVar("jean_memory_mcp_tenant", default="")
_LOOPBACK = ("127.0.0.1", "localhost", "::1")


def tool_list() -> list[Tool]:
    """The tools as MCP describes them: the HTTP endpoint and the stdio bridge list the same ones."""
    return [
        Tool(
            name=spec.name,
            description=spec.description,
            input_schema=spec.input_schema(),
            annotations=ToolAnnotations(
                read_only_hint=spec.read_only,
                destructive_hint=spec.destructive,
                idempotent_hint=spec.idempotent,
                open_world_hint=False,
            ),
        )
        for spec in TOOLS
    ]


def tool_error(errors: list[tuple[str | None, str]], status: int, retry_after_s: int | None = None) -> CallToolResult:
    """A refused call, in words naming the field and in the `/v1` error shape."""
    detail = "; ".join(f"{f}: {m}" if f else m for f, m in errors)
    body: dict[str, Any] = {
        "detail": detail,
        "errors": [{"field": f, "message": m} for f, m in errors],
        "status": status,
    }
    if retry_after_s is not None:
        body["retry_after_s"] = retry_after_s
    return CallToolResult(content=[TextContent(type="text", text=detail)], structured_content=body, is_error=True)


def tool_result(result: dict[str, Any]) -> CallToolResult:
    """The `/v1` JSON twice: as structured content, and as text for clients that read only text."""
    return CallToolResult(content=[TextContent(type="text", text=jsonutil.dumps(result).decode())],
                          structured_content=result)  # fmt: skip


class McpEndpoint:
    """The ASGI application mounted at `/mcp`; `run()` is entered in the application's lifespan."""

    def __init__(self, state: Any, settings: Settings, telemetry: Telemetry) -> None:
        self._state = state  # the application's state: its container exists once the lifespan has started
        self._settings = settings
        self._tracer = telemetry.tracer
        self._metrics = telemetry.metrics.mcp
        self._tools = tool_list()
        # Asked for on every modern-era `tools/call`, only to check its `Mcp-Param-*` headers against the
        # schema's `x-mcp-header` annotations. A schema without one has nothing to check, and walking it
        # for none (the search tool's filter grammar) cost more than the search: those tools answer None.
        self._schemas = {tool.name: tool.input_schema for tool in self._tools if x_mcp_header_map(tool.input_schema)}
        # what the server's lifespan yields: one object, so both entries hand the runner the same state
        self._lifespan_state: dict[str, Any] = {}
        self.server: Server[Any] = Server(
            NAME,
            version=__version__,
            instructions=INSTRUCTIONS,
            lifespan=self._lifespan,
            get_tool_input_schema=lambda name: self._schemas.get(name),
            on_list_tools=self._list_tools,
            on_call_tool=self._call_tool,
        )
        self.server.middleware.clear()  # the SDK's OpenTelemetry middleware: see the module's docstring
        host = settings.host
        security = TransportSecuritySettings(enable_dns_rebinding_protection=False)
        if host in _LOOPBACK:  # a browser page must not reach a local service through a rebound name
            security = TransportSecuritySettings(
                enable_dns_rebinding_protection=True,
                allowed_hosts=["127.0.0.1:*", "localhost:*", "[::1]:*"],
                allowed_origins=["http://127.0.0.1:*", "http://localhost:*", "http://[::1]:*"],
            )
        self.sessions = StreamableHTTPSessionManager(
            app=self.server,
            json_response=True,
            stateless=True,
            security_settings=security,
            max_request_body_size=settings.body_limit,
        )
        self._entry: Any = self._session_manager
        if settings.mcp_single_exchange:
            self._entry = SingleExchange(
                self.server, security, settings.body_limit, self._session_manager, self._lifespan_state,
                served=self._metrics.requests.labels("single_exchange").inc,
            )  # fmt: skip
        self._by_session_manager = self._metrics.requests.labels("session_manager")

    @asynccontextmanager
    async def run(self) -> AsyncIterator[None]:
        async with self.sessions.run():
            yield

    @asynccontextmanager
    async def _lifespan(self, server: Server[Any]) -> AsyncIterator[dict[str, Any]]:
        yield self._lifespan_state

    #: What the telemetry middleware labels its requests with (`telemetry/asgi.route_template` reads the
    #: route's `path`; FastAPI's router records only its own routes in the scope, not a plain ASGI one).
    path = PATH

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope["route"] = self
        TENANT.set(scope.get("state", {}).get("tenant", ""))
        await self._entry(scope, receive, send)

    async def _session_manager(self, scope: Scope, receive: Receive, send: Send) -> None:
        self._by_session_manager.inc()
        await self.sessions.handle_request(scope, receive, send)

    async def _list_tools(self, ctx: Any, params: Any) -> ListToolsResult:
        return ListToolsResult(tools=self._tools)

    async def _call_tool(self, ctx: Any, params: CallToolRequestParams) -> CallToolResult:
        spec = BY_NAME.get(params.name)
        label = spec.name if spec is not None else "unknown"
        start = time.perf_counter()
        outcome = "error"
        with self._tracer.start_as_current_span(f"mcp tool {label}") as span:
            try:
                if spec is None:
                    raise Invalid(f"name: no tool named so (tools: {', '.join(BY_NAME)})", field="name")
                result = await self._run(spec, params.arguments or {})
                outcome = "ok"
                return tool_result(result)
            except ValidationError as exc:
                outcome = "invalid"
                errors = exc.errors(include_url=False, include_input=False)
                # located as a body's fields are, so an argument named `query` or `path` keeps its name
                located = [{**e, "loc": ("body", *e["loc"])} for e in errors]
                return tool_error(describe_validation(located), 422)
            except ServiceError as exc:
                outcome = exc.code if exc.code in MCP_OUTCOMES else "error"
                message = exc.message.removeprefix(f"{exc.field}: ") if exc.field else exc.message
                return tool_error([(exc.field, message)], exc.status, getattr(exc, "retry_after_s", None))
            except Exception:
                log.exception("MCP tool %s failed", label)
                return tool_error([(None, "internal error; it has been logged")], 500)
            finally:
                if span.is_recording():
                    span.set_attribute("mcp.tool.name", label)
                    span.set_attribute("mcp.tool.outcome", outcome)
                    if outcome == "error":  # the service's fault, as a 5xx is; a refused argument is not
                        span.set_status(Status(StatusCode.ERROR))
                self._metrics.calls.labels(label, outcome).inc()
                self._metrics.duration.labels(label).observe(time.perf_counter() - start)

    async def _run(self, spec: ToolSpec, arguments: dict[str, Any]) -> dict[str, Any]:
        container: Container = self._state.container
        args = spec.args.model_validate(arguments)
        return await spec.run(args, TENANT.get(), container, self._settings)
