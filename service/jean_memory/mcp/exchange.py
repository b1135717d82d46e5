"""A plain stateless MCP request served as one exchange, in either protocol era, at a fraction of the cost.

Why: in stateless mode the SDK (`StreamableHTTPSessionManager`) serves every 2025-era POST by building a
transport, its memory streams, a JSON-RPC dispatcher and a server task, then tearing them down; for a tool
call as cheap as `get_memory` that machinery costs several times the tool. Yet such a POST is one
JSON-RPC request answered by one JSON body: the shape the SDK serves the 2026 era with, through its
single-exchange driver `serve_one`. Both eras are served here through that driver, on the connection each
of the SDK's entries builds, and answered as that entry answers (the 2026 entry's own cost was mostly
Starlette's request and response objects around the same driver).

What it takes and what it leaves:
- **Only the plain case.** A POST that passes the SDK's Host/Origin and Content-Type checks and accepts
  JSON, whose body is one JSON-RPC request for a method in `METHODS`; in the 2026 era, one that also
  passes the SDK's validation ladder (`classify_inbound_request`, no duplicated routing header) and calls
  no tool whose schema declares `Mcp-Param-*` headers. Everything else (initialize, notifications,
  responses, batches, malformed or oversized bodies, other methods, unknown versions, GET and DELETE)
  goes to the SDK untouched, its body replayed, so every refusal keeps the SDK's status and words.
- **The same answer.** The runner's result or error, mapped to the wire as the SDK maps it in that era
  (`handler_exception_to_error_data` with the dispatcher's catch-all, or `modern_error_data` and the
  status table) and serialised as that entry serialises it. `tests/mcp/test_mcp_exchange.py` sends the
  same requests to a service with this entry and to one without (`JM_MCP_SINGLE_EXCHANGE=false`) and
  compares the answers.
- **No back channel.** A JSON response has no room for a server-initiated request or notification (the
  SDK drops them in this mode too), so the context refuses requests and drops notifications.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import anyio
import pydantic_core
from mcp.server.connection import Connection
from mcp.server.lowlevel import Server
from mcp.server.runner import modern_error_data, serve_one
from mcp.server.streamable_http import check_accept_headers
from mcp.server.transport_security import TransportSecurityMiddleware, TransportSecuritySettings
from mcp.shared.dispatcher import CallOptions
from mcp.shared.exceptions import NoBackChannelError
from mcp.shared.inbound import (
    ERROR_CODE_HTTP_STATUS,
    InboundLadderRejection,
    classify_inbound_request,
    find_duplicated_routing_header,
)
from mcp.shared.jsonrpc_dispatcher import handler_exception_to_error_data
from mcp.shared.message import ServerMessageMetadata
from mcp.shared.transport_context import TransportContext
from mcp_types import (
    DEFAULT_NEGOTIATED_VERSION,
    ErrorData,
    JSONRPCError,
    JSONRPCRequest,
    JSONRPCResponse,
    RequestId,
)
from mcp_types.jsonrpc import jsonrpc_message_adapter
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS
from pydantic import ValidationError
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger(__name__)

#: The methods served here: what an agent sends once attached. `initialize` stays with the SDK, which
#: negotiates the version and states the capabilities; so does any method the server does not serve.
METHODS = frozenset({"tools/call", "tools/list", "ping"})
_PROTOCOL_HEADER = b"mcp-protocol-version"
_JSON_HEADERS = [(b"content-type", b"application/json")]


@dataclass
class _Exchange:
    """The dispatch context of one exchange (`mcp.shared.dispatcher.DispatchContext`): no back channel."""

    transport: TransportContext
    request_id: RequestId
    message_metadata: ServerMessageMetadata
    cancel_requested: anyio.Event = field(default_factory=anyio.Event)
    can_send_request: bool = False

    async def send_raw_request(
        self, method: str, params: Mapping[str, Any] | None, opts: CallOptions | None = None
    ) -> dict[str, Any]:
        raise NoBackChannelError(method)

    async def notify(self, method: str, params: Mapping[str, Any] | None, opts: CallOptions | None = None) -> None:
        return None  # a JSON response carries only the reply

    async def progress(self, progress: float, total: float | None = None, message: str | None = None) -> None:
        return None


class SingleExchange:
    """Serves the plain stateless request of either era (see the module's docstring), else hands it to
    `fallback`."""

    def __init__(
        self,
        server: Server[Any],
        security: TransportSecuritySettings,
        body_limit: int,
        fallback: ASGIApp,
        lifespan_state: Any = None,
        served: Callable[[], None] = lambda: None,
    ) -> None:
        self._server = server
        self._served = served  # counts each request answered here
        self._security = TransportSecurityMiddleware(security)
        self._body_limit = body_limit
        self._fallback = fallback  # the SDK's ASGI entry
        self._lifespan_state = lifespan_state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        if (
            scope["method"] != "POST"
            or await self._security.validate_request(request, is_post=True) is not None
            or not check_accept_headers(request)[0]
            or not _json_content(request)
        ):
            await self._fallback(scope, receive, send)
            return
        messages, body = await _read(receive, self._body_limit)
        version = _protocol_version(scope)
        if version is None or version in HANDSHAKE_PROTOCOL_VERSIONS:
            reply = await self._handshake_era(body, request, version or DEFAULT_NEGOTIATED_VERSION)
        else:
            reply = await self._modern_era(body, request)
        if reply is None:
            await self._fallback(scope, _replay(messages, receive), send)
            return
        status, payload = reply
        length = (b"content-length", str(len(payload)).encode())
        await send({"type": "http.response.start", "status": status, "headers": [*_JSON_HEADERS, length]})
        await send({"type": "http.response.body", "body": payload})

    async def _handshake_era(self, body: bytes | None, request: Request, version: str) -> tuple[int, bytes] | None:
        """The reply the SDK's stateless transport writes (status 200, unset fields left out), or None."""
        message = _handshake_request(body)
        if message is None:
            return None
        self._served()
        try:
            result = await self._serve(message, request, Connection.from_envelope(version, None, None), modern=False)
        except Exception as exc:
            error = handler_exception_to_error_data(exc)
            if error is None:
                log.exception("MCP handler for %r raised", message.method)
                error = ErrorData(code=0, message=str(exc))  # the SDK's JSON-RPC dispatcher's catch-all
            reply: JSONRPCResponse | JSONRPCError = JSONRPCError(jsonrpc="2.0", id=message.id, error=error)
        else:
            reply = JSONRPCResponse(jsonrpc="2.0", id=message.id, result=result)
        return 200, reply.model_dump_json(by_alias=True, exclude_unset=True).encode()

    async def _modern_era(self, body: bytes | None, request: Request) -> tuple[int, bytes] | None:
        """The reply the SDK's 2026 entry writes (`handle_modern_request`, JSON mode), or None when its
        validation ladder refuses the request or a tool's `Mcp-Param-*` headers are to be checked."""
        decoded = _decoded(body)
        if not isinstance(decoded, dict) or "id" not in decoded:  # a notification is the SDK's to acknowledge
            return None
        try:
            message = JSONRPCRequest.model_validate(decoded)
        except ValidationError:
            return None
        if message.method not in METHODS or find_duplicated_routing_header(request.headers.items()) is not None:
            return None
        verdict = classify_inbound_request(decoded, headers=dict(request.headers))
        if isinstance(verdict, InboundLadderRejection) or self._declares_headers(message):
            return None
        self._served()
        connection = Connection.from_envelope(
            verdict.protocol_version, verdict.client_info, verdict.client_capabilities
        )
        try:
            result = await self._serve(message, request, connection, modern=True)
        except Exception as exc:
            error = modern_error_data(exc)
            reply: JSONRPCResponse | JSONRPCError = JSONRPCError(jsonrpc="2.0", id=message.id, error=error)
            status = ERROR_CODE_HTTP_STATUS.get(error.code, 200)
        else:
            reply, status = JSONRPCResponse(jsonrpc="2.0", id=message.id, result=result), 200
        # the entry's `model_dump(mode="json", exclude_none=True)` then `json.dumps`, in one step: the same JSON
        return status, reply.model_dump_json(by_alias=True, exclude_none=True).encode()

    def _declares_headers(self, message: JSONRPCRequest) -> bool:
        """Whether the called tool's schema names `Mcp-Param-*` headers (the SDK then checks them)."""
        if message.method != "tools/call":
            return False
        lookup = self._server.get_tool_input_schema
        name = (message.params or {}).get("name")
        return lookup is None or (isinstance(name, str) and lookup(name) is not None)

    async def _serve(
        self, message: JSONRPCRequest, request: Request, connection: Connection, *, modern: bool
    ) -> dict[str, Any]:
        """The runner's result for `message` (the SDK's single-exchange driver), or what it raised; the
        context is the one each of the SDK's entries builds (the 2026 one passes the headers on)."""
        context = _Exchange(
            transport=TransportContext(
                kind="streamable-http", can_send_request=False, headers=request.headers if modern else None
            ),
            request_id=message.id,
            # the handshake-era transport stamps "no back channel" on JSON responses; the 2026 entry's
            # context refuses server requests itself and leaves the metadata's default
            message_metadata=ServerMessageMetadata(request_context=request, can_send_request=modern),
        )
        return await serve_one(
            self._server, context, message.method, message.params,
            connection=connection, lifespan_state=self._lifespan_state,
        )  # fmt: skip


def _protocol_version(scope: Scope) -> str | None:
    """The first protocol header, as the SDK's session manager reads it to route by era."""
    return next((v.decode("latin-1") for k, v in scope["headers"] if k == _PROTOCOL_HEADER), None)


def _json_content(request: Request) -> bool:
    """The SDK's transport's own Content-Type test (the security check's looser one has passed already)."""
    parts = request.headers.get("content-type", "").split(";")[0].split(",")
    return any(part.strip() == "application/json" for part in parts)


async def _read(receive: Receive, limit: int) -> tuple[list[Message], bytes | None]:
    """The messages received, to replay, and the body; None when it is incomplete or over `limit`."""
    messages: list[Message] = []
    size = 0
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            return messages, None
        size += len(message.get("body", b""))
        if size > limit:
            return messages, None
        if not message.get("more_body", False):
            return messages, b"".join(m.get("body", b"") for m in messages)


def _handshake_request(body: bytes | None) -> JSONRPCRequest | None:
    """The body as one JSON-RPC request for a method served here, as the SDK's stateless transport parses it."""
    if body is None:
        return None
    try:
        message = jsonrpc_message_adapter.validate_python(pydantic_core.from_json(body), by_name=False)
    except (ValueError, ValidationError):
        return None
    if not isinstance(message, JSONRPCRequest) or message.method not in METHODS:
        return None
    return message


def _decoded(body: bytes | None) -> Any:
    """The body as the SDK's 2026 entry decodes it (the standard library's parser); None when it cannot."""
    if body is None:
        return None
    try:
        return json.loads(body)
    except (ValueError, RecursionError):
        return None


def _replay(messages: list[Message], receive: Receive) -> Receive:
    """A `receive` that gives back what was read, then reads on."""
    pending = list(messages)

    async def replay() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return replay
